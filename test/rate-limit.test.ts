// Rate limits of the token endpoints with the real @fastify/rate-limit: keyed by session (so a
// NAT or a backend-for-frontend does not lock its users out together), a per-address ceiling
// for made-up sessions, buckets of their own; and the body limits of every built-in route.
import t from 'tap'
import type { Test } from 'tap'
import diagnosticsChannel from 'node:diagnostics_channel'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest, LightMyRequestResponse } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRateLimitOptions } from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import jwtAuth, { diagnosticsChannels } from '../lib/index.js'
import type { JwtAuthOptions, TokenResponse } from '../lib/index.js'
import { normaliseOptions } from '../lib/options.js'
import { addressKey } from '../lib/http/rate-limit.js'
import { mintRefreshToken, mintSessionId } from '../lib/tokens/refresh.js'
import { bearer, cookieValues, forge, registrationError, secret } from './helpers.js'
import { startRedis } from './redis-harness.js'
import { call, root, spawnScript, stop, untilAnswering } from './example-process.js'
import { freePort } from './redis-harness.js'

const nat = '203.0.113.7'

async function limitedApp (t: Test, options: Partial<JwtAuthOptions> = {}, limiter: FastifyRateLimitOptions = {}, fastifyOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions)
  await app.register(rateLimit, { global: false, ...limiter })
  await app.register(jwtAuth, { secret, cookies: { secure: false }, ...options } as JwtAuthOptions)
  app.post<{ Body: { sub: string } }>('/login', async (request, reply) => await reply.issueTokens({ sub: request.body.sub }))
  t.teardown(() => app.close())
  return app
}

async function loginAs (app: FastifyInstance, sub: string, remoteAddress = nat): Promise<TokenResponse & { cookies: Record<string, string> }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { sub }, remoteAddress })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode}`)
  return { ...response.json<TokenResponse>(), cookies: cookieValues(response) }
}

async function post (app: FastifyInstance, url: string, payload: unknown, remoteAddress = nat, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, remoteAddress, headers })
}

/** A refresh token shaped like the plugin's, for a session that never existed. */
function madeUpRefreshToken (sub: string): string {
  return mintRefreshToken(mintSessionId(sub))
}

/** Follows one session's chain `times` times; returns the statuses. */
async function hammer (app: FastifyInstance, refreshToken: string, times: number): Promise<number[]> {
  const statuses: number[] = []
  let token = refreshToken
  for (let i = 0; i < times; i++) {
    const response = await post(app, '/auth/refresh', { refresh_token: token })
    statuses.push(response.statusCode)
    if (response.statusCode === 200) token = response.json<TokenResponse>().refresh_token
  }
  return statuses
}

t.test('200 users behind one address each refresh normally', async t => {
  const app = await limitedApp(t)
  const users = []
  for (let i = 0; i < 200; i++) users.push(await loginAs(app, `user-${i}`))
  const statuses = new Map<number, number>()
  for (const user of users) {
    const refreshed = await post(app, '/auth/refresh', { refresh_token: user.refresh_token })
    statuses.set(refreshed.statusCode, (statuses.get(refreshed.statusCode) ?? 0) + 1)
    const again = await post(app, '/auth/refresh', { refresh_token: refreshed.json<TokenResponse>().refresh_token })
    statuses.set(again.statusCode, (statuses.get(again.statusCode) ?? 0) + 1)
  }
  t.same([...statuses], [[200, 400]], '400 refreshes from one address within the minute, every one 200')
})

t.test('one session hammering /refresh gets 429, the others behind the same address do not', async t => {
  const app = await limitedApp(t)
  const hammering = await loginAs(app, 'hammer')
  const others = await Promise.all(['ann', 'ben', 'cy'].map(async sub => await loginAs(app, sub)))
  const statuses = await hammer(app, hammering.refresh_token, 25)
  t.same(statuses.slice(0, 20), Array(20).fill(200), 'the first 20 of the minute pass')
  t.same(statuses.slice(20), Array(5).fill(429), 'then 429')
  for (const other of others) {
    const response = await post(app, '/auth/refresh', { refresh_token: other.refresh_token })
    t.equal(response.statusCode, 200, 'another session from the same address refreshes')
    t.equal(response.headers['x-ratelimit-remaining'], '19', 'from a budget of its own')
  }

  // A cookie client is keyed by its refresh cookie's session the same way.
  const browser = await loginAs(app, 'browser')
  let cookie = browser.cookies.refresh_token as string
  const cookieStatuses: number[] = []
  for (let i = 0; i < 21; i++) {
    const response = await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { refresh_token: cookie }, remoteAddress: nat })
    cookieStatuses.push(response.statusCode)
    cookie = cookieValues(response).refresh_token ?? cookie
  }
  t.same(cookieStatuses, [...Array(20).fill(200), 429], 'the refresh cookie names the session')
  t.equal((await post(app, '/auth/refresh', { refresh_token: others[0]?.refresh_token })).statusCode, 200, 'still not the others')
})

t.test('requests without a readable token are limited per address, at the per-session rate', async t => {
  const app = await limitedApp(t)
  const user = await loginAs(app, 'alice')
  const unreadable = [
    { refresh_token: 'not-a-token' },
    { refresh_token: 12345 },
    { refresh_token: 'a.b.c' },
    { refresh_token: forge({ sid: 'not-a-session-id' }) },
    {}
  ]
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push((await post(app, '/auth/refresh', unreadable[i % unreadable.length])).statusCode)
  t.same(statuses, Array(20).fill(400), 'refused as bad requests while under the limit')
  t.equal((await post(app, '/auth/refresh', { refresh_token: 'x' })).statusCode, 429, 'the 21st from that address: 429')
  t.equal((await post(app, '/auth/refresh', { refresh_token: 'x' }, '198.51.100.1')).statusCode, 400, 'another address has its own budget')
  t.equal((await post(app, '/auth/refresh', { refresh_token: user.refresh_token })).statusCode, 200, 'a real session from the same address is not held back')

  for (let i = 0; i < 20; i++) await post(app, '/auth/logout', {}, nat, { authorization: 'Basic YWxpY2U6cGFzcw==' })
  t.equal((await post(app, '/auth/logout', {}, nat, { authorization: 'Basic YWxpY2U6cGFzcw==' })).statusCode, 429, '/logout without a token of ours: per address')
  for (let i = 0; i < 20; i++) await post(app, '/auth/revoke', { token: i })
  t.equal((await post(app, '/auth/revoke', { token: 'x' })).statusCode, 429, '/revoke with no readable token: per address')
})

t.test('the per-address ceiling catches a flood of made-up session ids', async t => {
  const app = await limitedApp(t, { routes: { rateLimit: { max: 5, ipMax: 30 } } })
  const user = await loginAs(app, 'alice')
  const routes: Array<[string, (token: string) => Record<string, string>]> = [
    ['/auth/refresh', token => ({ refresh_token: token })],
    ['/auth/revoke', token => ({ token })],
    ['/auth/logout', token => ({ refresh_token: token })]
  ]
  const statuses: number[] = []
  for (let i = 0; i < 30; i++) {
    const [url, body] = routes[i % routes.length] as [string, (token: string) => Record<string, string>]
    statuses.push((await post(app, url, body(madeUpRefreshToken(`mallory-${i}`)))).statusCode)
  }
  t.notOk(statuses.includes(429), 'each made-up session is under its own limit')
  const refused = await post(app, '/auth/refresh', { refresh_token: madeUpRefreshToken('mallory-31') })
  t.equal(refused.statusCode, 429, 'the 31st request from the address, over the three routes: 429')
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')
  t.match(refused.json(), { statusCode: 429, error: 'Too Many Requests', message: /Rate limit exceeded/ })
  t.equal((await post(app, '/auth/refresh', { refresh_token: user.refresh_token })).statusCode, 429, 'the ceiling holds for every session at that address')
  t.equal((await post(app, '/auth/refresh', { refresh_token: user.refresh_token }, '198.51.100.1')).statusCode, 200, 'another address is not affected')

  // IPv6: one subscriber's /64 is one address; rotating within it does not escape the ceiling.
  for (let i = 0; i < 30; i++) await post(app, '/auth/refresh', { refresh_token: madeUpRefreshToken(`v6-${i}`) }, `2001:db8:1:2::${(i + 1).toString(16)}`)
  t.equal((await post(app, '/auth/refresh', { refresh_token: madeUpRefreshToken('v6-31') }, '2001:db8:1:2:ffff::1')).statusCode, 429, 'same /64: 429')
  t.equal((await post(app, '/auth/refresh', { refresh_token: madeUpRefreshToken('v6-32') }, '2001:db8:1:3::1')).statusCode, 400, 'the next /64 is another client')

  // A BFF's own address, allowed by a function (the keys are not bare IPs): past the ceiling.
  const bff = '192.0.2.10'
  const allowing = await limitedApp(t, { routes: { rateLimit: { max: 5, ipMax: 10 } } }, { allowList: (request: FastifyRequest) => request.ip === bff })
  const fromBff = []
  for (let i = 0; i < 12; i++) fromBff.push((await post(allowing, '/auth/refresh', { refresh_token: madeUpRefreshToken(`bff-${i}`) }, bff)).statusCode)
  t.same(fromBff, Array(12).fill(400), "the app's allowList function lets its BFF past the ceiling")
  for (let i = 0; i < 10; i++) await post(allowing, '/auth/refresh', { refresh_token: madeUpRefreshToken(`other-${i}`) })
  t.equal((await post(allowing, '/auth/refresh', { refresh_token: madeUpRefreshToken('other-11') })).statusCode, 429, 'not any other address')

  const defaults = normaliseOptions({ secret }).routes?.rateLimit
  t.same(defaults, { max: 20, ipMax: 1000, timeWindow: 60_000 }, 'defaults: 20 per session, 1000 per address, a minute')
})

t.test('client addresses as bucket names', async t => {
  t.equal(addressKey('192.0.2.1'), '192.0.2.1')
  t.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1', 'IPv4-mapped IPv6 is the IPv4 address')
  t.equal(addressKey('2001:DB8:0:1:2:3:4:5'), '2001:db8:0:1::/64')
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(addressKey('2001:db8:0:1::'), '2001:db8:0:1::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64', 'an embedded IPv4 tail')
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'without its zone')
  t.equal(addressKey('2001:db8:a:b:c::1'), '2001:db8:a:b::/64')
})

t.test("the app's own rate-limited /login does not share a bucket with /auth/refresh (Redis store)", async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const redis = new Redis(server.port, '127.0.0.1')
  t.teardown(() => redis.quit())
  const app = Fastify()
  await app.register(rateLimit, { global: false, redis, nameSpace: 'rl-test:' })
  await app.register(jwtAuth, { secret, cookies: false })
  // The app's login keyed by address alone, as the default keyGenerator does.
  app.post<{ Body: { sub: string } }>('/login', { config: { rateLimit: { max: 25, timeWindow: '1 minute' } } }, async (request, reply) => await reply.issueTokens({ sub: request.body.sub }))
  const alsoLimited = app.rateLimit({ max: 25, timeWindow: '1 minute' })
  app.post('/signup', { onRequest: alsoLimited }, async () => ({ ok: true }))
  t.teardown(() => app.close())

  const users = []
  for (let i = 0; i < 25; i++) users.push(await loginAs(app, `user-${i}`))
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { sub: 'late' }, remoteAddress: nat })).statusCode, 429, "the app's login bucket is full")
  for (let i = 0; i < 25; i++) await app.inject({ method: 'POST', url: '/signup', remoteAddress: nat })
  t.equal((await app.inject({ method: 'POST', url: '/signup', remoteAddress: nat })).statusCode, 429, 'so is the bucket of an app.rateLimit() hook')
  const statuses = []
  for (const user of users) statuses.push((await post(app, '/auth/refresh', { refresh_token: user.refresh_token })).statusCode)
  t.same(statuses, Array(25).fill(200), 'every user still refreshes from that address')

  const keys = await redis.keys('rl-test:*')
  const ours = keys.filter(key => key.includes('fastify-jwt-auth:'))
  t.equal(ours.length, 26, 'one key per session, and the ceiling')
  t.ok(ours.includes(`rl-test:undefinedundefined-fastify-jwt-auth:ceiling:${nat}`), 'the ceiling, apart from the app.rateLimit() bucket of the address')
  t.ok(keys.includes(`rl-test:undefinedundefined-${nat}`), 'which exists beside it')
  for (const key of keys) t.ok(await redis.pttl(key) > 0, `${key} has a TTL`)
})

t.test("/logout is keyed by the access token's sid, /revoke by the token's session", async t => {
  const app = await limitedApp(t, { cookies: false, routes: { rateLimit: { max: 3 } } })
  const [ann, ben, cy, dee] = await Promise.all(['ann', 'ben', 'cy', 'dee'].map(async sub => await loginAs(app, sub)))
  const annLogouts = []
  for (let i = 0; i < 4; i++) annLogouts.push((await post(app, '/auth/logout', {}, nat, bearer(ann?.access_token as string))).statusCode)
  t.same(annLogouts, [204, 401, 401, 429], 'the same access token: its session is over the limit')
  t.equal((await post(app, '/auth/logout', {}, nat, bearer(ben?.access_token as string))).statusCode, 204, 'another session logs out from the same address')

  const revokes = []
  for (let i = 0; i < 4; i++) revokes.push((await post(app, '/auth/revoke', { token: cy?.access_token })).statusCode)
  t.same(revokes, [200, 200, 200, 429], "an access token's session")
  t.equal((await post(app, '/auth/revoke', { token: cy?.refresh_token })).statusCode, 429, 'its refresh token names the same session')
  t.equal((await post(app, '/auth/revoke', { token: dee?.refresh_token })).statusCode, 200, 'another session revokes')
})

t.test('every built-in route with a body has a body limit that fits its schema: 413', async t => {
  const app = await limitedApp(t)
  const user = await loginAs(app, 'alice')
  const refusals: Array<{ code: string, statusCode: number, route: string }> = []
  const onRefusal = (message: unknown): void => { refusals.push(message as { code: string, statusCode: number, route: string }) }
  diagnosticsChannel.subscribe(diagnosticsChannels.refusal, onRefusal)
  t.teardown(() => diagnosticsChannel.unsubscribe(diagnosticsChannels.refusal, onRefusal))
  const oversized = { refresh_token: 'a'.repeat(9000) }
  for (const url of ['/auth/refresh', '/auth/revoke']) {
    const response = await post(app, url, url === '/auth/revoke' ? { token: oversized.refresh_token } : oversized)
    t.equal(response.statusCode, 413, `${url}: 413`)
    t.same(response.json(), {
      statusCode: 413,
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      error: 'invalid_request',
      error_description: 'Request body is too large',
      message: 'Request body is too large'
    }, `${url}: in the RFC 6749 shape of the other errors there`)
    t.equal(response.headers['cache-control'], 'no-store')
  }
  const form = await app.inject({
    method: 'POST',
    url: '/auth/refresh',
    payload: `refresh_token=${'a'.repeat(9000)}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  t.equal(form.statusCode, 413, 'a form body too')
  const longest = await post(app, '/auth/refresh', { refresh_token: 'a'.repeat(4096), grant_type: 'refresh_token' })
  t.equal(longest.json().error, 'invalid_grant', 'the longest token the schema takes still fits')

  const sessionRoutes: Array<[string, 'POST' | 'DELETE', unknown]> = [
    ['/auth/logout', 'POST', oversized],
    ['/auth/logout-all', 'POST', { padding: 'a'.repeat(2000) }],
    [`/auth/sessions/${mintSessionId('alice')}`, 'DELETE', { padding: 'a'.repeat(2000) }]
  ]
  for (const [url, method, payload] of sessionRoutes) {
    const response = await app.inject({ method, url, payload: payload as Record<string, unknown>, headers: bearer(user.access_token) })
    t.equal(response.statusCode, 413, `${method} ${url.slice(0, 20)}: 413`)
    t.same(response.json(), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', error: 'Payload Too Large', message: 'Request body is too large' }, "Fastify's error body")
  }
  const tooLarge = 'FST_ERR_CTP_BODY_TOO_LARGE'
  t.same(refusals.map(({ code, statusCode, route }) => [code, statusCode, route]), [
    [tooLarge, 413, '/auth/refresh'],
    [tooLarge, 413, '/auth/revoke'],
    [tooLarge, 413, '/auth/refresh'],
    ['FST_JWT_AUTH_INVALID_GRANT', 400, '/auth/refresh'],
    [tooLarge, 413, '/auth/logout'],
    [tooLarge, 413, '/auth/logout-all'],
    [tooLarge, 413, '/auth/sessions/*']
  ], 'each 413 is published as a refusal')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout-all', payload: {}, headers: bearer(user.access_token) })).statusCode, 204, 'an empty body passes')

  const strict = await limitedApp(t, {}, {}, { bodyLimit: 1000 })
  t.equal((await post(strict, '/auth/refresh', { refresh_token: 'a'.repeat(2000) })).statusCode, 413, "an app's own lower limit still holds")
})

t.test('routes.rateLimit is validated at registration', async t => {
  const cases: Array<[string, unknown]> = [
    ['zero max', { max: 0 }],
    ['fractional max', { max: 1.5 }],
    ['ipMax below max', { max: 50, ipMax: 10 }],
    ['string ipMax', { ipMax: '1000' }],
    ['zero timeWindow', { timeWindow: 0 }],
    ['fractional timeWindow', { timeWindow: 0.5 }],
    ['unknown unit', { timeWindow: '1 fortnight' }],
    ['boolean timeWindow', { timeWindow: true }],
    ['not an object', 'fast']
  ]
  for (const [name, rateLimit] of cases) {
    const error = await registrationError({ secret, routes: { rateLimit } })
    t.equal(error.code, 'FST_JWT_AUTH_INVALID_OPTION', name)
    t.match(error.message, /routes\.rateLimit/, `${name}: the message names the option`)
  }
  const windows: Array<[unknown, number]> = [
    [60_000, 60_000], ['1 minute', 60_000], ['2 mins', 120_000], ['30s', 30_000], ['30 seconds', 30_000],
    ['500ms', 500], ['500 milliseconds', 500], ['1500', 1500], ['1h', 3_600_000], ['1 day', 86_400_000], ['1 week', 604_800_000]
  ]
  for (const [timeWindow, ms] of windows) {
    t.equal(normaliseOptions({ secret, routes: { rateLimit: { timeWindow } } } as JwtAuthOptions).routes?.rateLimit?.timeWindow, ms, `${String(timeWindow)} is ${ms} ms`)
  }
  t.equal(normaliseOptions({ secret, routes: { rateLimit: { max: 5000 } } }).routes?.rateLimit?.ipMax, 5000, 'the default ceiling is never below max')
})

t.test("the example's /login is limited per address and username", async t => {
  const port = await freePort()
  const example = spawnScript(join(root, 'example', 'server.mjs'), { PORT: String(port), JWT_SECRET: 'example-test-secret-0123456789-abcdefghijklmnop' })
  t.teardown(() => stop(example.child))
  const baseUrl = `http://127.0.0.1:${port}`
  await untilAnswering(example, baseUrl, '/profiles')
  const statuses = []
  for (let i = 0; i < 21; i++) statuses.push((await call(baseUrl, '/login', { method: 'POST', json: { username: 'alice' } })).status)
  t.same(statuses, [...Array(20).fill(200), 429], 'guessing at one username: 20 a minute')
  t.equal((await call(baseUrl, '/login', { method: 'POST', json: { username: 'bob' } })).status, 200, 'another username from the same address logs in')
})
