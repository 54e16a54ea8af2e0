// A store outage on a real redis-server that the test stops, pauses and restarts: requests
// that need the store fail closed with 503 and Retry-After, never 200 and never 401, within
// the store's command timeout; when Redis is back they succeed with no restart of the app.
import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisStore } from '../lib/index.js'
import { bearer, buildApp, login, refresh } from './helpers.js'
import { startRedis } from './redis-harness.js'

const commandTimeout = 500

async function expectOutage (t: Test, name: string, request: () => Promise<LightMyRequestResponse>): Promise<void> {
  const started = Date.now()
  const response = await request()
  const elapsed = Date.now() - started
  t.equal(response.statusCode, 503, `${name}: 503`)
  t.equal(response.headers['retry-after'], '5', `${name}: Retry-After`)
  t.equal(response.json().code, 'FST_JWT_AUTH_STORE_UNAVAILABLE', name)
  // Not a speed test: a bound far above the timeout, to show the request does not hang.
  t.ok(elapsed < commandTimeout + 4000, `${name}: answered, not hung (${elapsed} ms)`)
}

async function untilUp (app: FastifyInstance): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const response = await app.inject({ method: 'POST', url: '/login' })
    if (response.statusCode === 200) return
    await sleep(100)
  }
  throw new Error('the store did not come back')
}

t.test('a paused Redis: 503 with Retry-After, then the same tokens work again', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  client.on('error', () => {}) // failures surface as failed commands; the app logs those
  t.teardown(() => client.disconnect())
  const app = await buildApp({ store: new RedisStore({ client, commandTimeout }) })
  t.teardown(() => app.close())
  const tokens = await login(app)

  server.pause()
  await expectOutage(t, 'protected route', async () => await app.inject({ url: '/me', headers: bearer(tokens.access_token) }))
  await expectOutage(t, 'refresh', async () => await refresh(app, tokens.refresh_token))
  await expectOutage(t, 'login', async () => await app.inject({ method: 'POST', url: '/login' }))
  server.resume()

  await untilUp(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'the access token works again')
  const rotated = await refresh(app, tokens.refresh_token)
  t.equal(rotated.statusCode, 200, 'the refresh token was not spent by the failed attempt')
})

t.test('a stopped then restarted Redis: 503 while down, logins and requests work after, no app restart', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const app = await buildApp({ store: new RedisStore({ client, commandTimeout }) })
  t.teardown(() => app.close())
  const tokens = await login(app)

  await server.stop()
  await expectOutage(t, 'protected route', async () => await app.inject({ url: '/me', headers: bearer(tokens.access_token) }))
  await expectOutage(t, 'refresh', async () => await refresh(app, tokens.refresh_token))
  await expectOutage(t, 'logout', async () => await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) }))

  await server.restart()
  await untilUp(app)
  const fresh = await login(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(fresh.access_token) })).statusCode, 200, 'a new session works')
  // This server keeps nothing on disk: the old session is gone, and its token fails closed.
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 401)
})

t.test('a client made from { url } fails fast and reconnects by itself', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const app = await buildApp({ store: new RedisStore({ url: server.url, commandTimeout }) })
  t.teardown(() => app.close())
  await login(app)
  await server.stop()
  await expectOutage(t, 'login', async () => await app.inject({ method: 'POST', url: '/login' }))
  await server.restart()
  await untilUp(app)
  const tokens = await login(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
})

t.test("a client's own commandTimeout, shorter than the store's, bounds a store call: 503 within it", async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  // The store's commandTimeout of 10 s would be far too late: ioredis's 300 ms ends the wait.
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, commandTimeout: 300 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const app = await buildApp({ store: new RedisStore({ client, commandTimeout: 10_000 }) })
  t.teardown(() => app.close())
  const tokens = await login(app)
  server.pause()
  const started = Date.now()
  const response = await app.inject({ url: '/me', headers: bearer(tokens.access_token) })
  t.equal(response.statusCode, 503)
  t.ok(Date.now() - started < 3000, `answered by the client's own timeout (${Date.now() - started} ms)`)
  server.resume()
})

t.test('a SIGSTOPped Redis under load over HTTP: every request answers 503 within the bound from when it asked, auto-pipelining included', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const timeout = 1000
  // The client from { url } auto-pipelines: without the store's own bound from the moment of
  // asking, a check queued behind a hung batch waited for that batch's timeout, then its own.
  const store = new RedisStore({ url: server.url, commandTimeout: timeout })
  const app = await buildApp({ store, cookies: false })
  t.teardown(() => app.close())
  const users = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await login(app, { sub: `load-${i}` })).access_token))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/me`
  t.equal((await fetch(url, { headers: bearer(users[0] as string) })).status, 200, 'up before the pause')

  server.pause()
  const answers: Array<{ status: number, ms: number }> = []
  const loadUntil = Date.now() + 2.5 * timeout
  // 20 clients, each asking again as soon as it has an answer, for longer than two timeouts.
  await Promise.all(users.map(async token => {
    while (Date.now() < loadUntil) {
      const started = performance.now()
      const response = await fetch(url, { headers: bearer(token) })
      await response.arrayBuffer()
      answers.push({ status: response.status, ms: performance.now() - started })
    }
  }))
  server.resume()

  t.ok(answers.length >= 40, `many requests while Redis was paused (${answers.length})`)
  t.same([...new Set(answers.map(answer => answer.status))], [503], 'every one a 503')
  const slowest = Math.max(...answers.map(answer => answer.ms))
  // Not a speed test: the bound is loose (slack for a loaded machine), but below the two
  // timeouts a request waited before.
  t.ok(slowest < 1.5 * timeout + 300, `no request waited past the bound (slowest ${Math.round(slowest)} ms, timeout ${timeout} ms)`)
})
