// Errors that name the cause: when the Redis client cannot connect (a bad password, nothing
// listening), the 503 log line carries the client's own error as `cause`, and each distinct cause
// is logged once per window, for the store's own { url } client and for a client passed in. Never
// the password.
import t from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import { RedisStore } from '../lib/index.js'
import type { RedisStoreClient } from '../lib/index.js'
import { buildApp, logged } from './helpers.js'
import { freePort, startCluster, startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

type Line = Record<string, unknown>

const failed = (lines: Line[]): Line[] => lines.filter(line => line.msg === 'fastify-jwt-auth store call failed')
const reported = (lines: Line[]): Line[] => lines.filter(line => line.msg === 'fastify-jwt-auth: the Redis client reports an error')
/** A server whose default user needs a password (set once it runs: the harness pings without one). */
async function passwordRedis (t: Test): Promise<RedisServer> {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const admin = new Redis(server.port, '127.0.0.1')
  await admin.config('SET', 'requirepass', 'right-password-1')
  admin.disconnect()
  return server
}

/** An app on a client passed in that cannot get in: ready, a few retries, then a login that answers 503. */
async function failingLogin (t: Test, client: RedisStoreClient): Promise<{ log: ReturnType<typeof logged>, app: FastifyInstance }> {
  const log = logged()
  const app = await buildApp({ store: new RedisStore({ client, commandTimeout: 500 }) }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  await sleep(400)
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: {} })).statusCode, 503, 'the login answers 503')
  return { log, app }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('RedisStore({ url }) with a wrong password: the 503 line names WRONGPASS, logged once, never the password', async t => {
  const server = await passwordRedis(t)
  const log = logged()
  const store = new RedisStore({ url: `redis://:wrong-password-2@127.0.0.1:${server.port}`, commandTimeout: 500 })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  await sleep(300) // a few connection attempts, each refused
  for (let i = 0; i < 3; i++) {
    const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
    t.equal(login.statusCode, 503)
  }
  const lines = failed(log.lines)
  t.equal(lines.length, 3, 'one line per failed call')
  // A call queued when the handshake fails gets the handshake's error itself; one that waited
  // through reconnections gets "max retries", with the handshake's error as its cause.
  for (const line of lines) t.match(`${String(line.error)} ${String(line.cause)}`, /WRONGPASS/, 'each names the cause')
  t.equal(reported(log.lines).filter(line => /WRONGPASS/.test(String(line.cause))).length, 1, 'the cause is reported once, however often the client retries')
  t.match(reported(log.lines)[0], { level: 40, redis: `redis://127.0.0.1:${server.port}` })
  t.notOk(log.raw.some(line => line.includes('wrong-password-2') || line.includes('right-password-1')), 'no password in any line')
})

t.test('a client passed in: its own error listener still hears every error, and the log names the cause', async t => {
  const server = await passwordRedis(t)
  const client = new Redis({ port: server.port, host: '127.0.0.1', password: 'wrong-password-2', maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  let heard = 0
  client.on('error', () => { heard++ })
  t.teardown(() => { client.disconnect() })
  const { log, app } = await failingLogin(t, client)
  t.ok(heard > 1, `the app's listener heard each error (${heard})`)
  t.equal(reported(log.lines).length, 1, 'logged once')
  t.match(reported(log.lines)[0], { cause: /WRONGPASS/, redis: 'the Redis client passed in' })
  const line = failed(log.lines)[0]
  t.match(`${String(line?.error)} ${String(line?.cause)}`, /WRONGPASS/)
  t.notOk(log.raw.some(line => line.includes('password-')), 'no password in any line')
  await app.close()
  t.equal(client.listenerCount('error'), 1, "closed, the store leaves only the app's listener")
})

t.test('nothing listening: the 503 line names ECONNREFUSED', async t => {
  const port = await freePort()
  const log = logged()
  const store = new RedisStore({ url: `redis://user:hunter2@127.0.0.1:${port}`, commandTimeout: 500 })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  await sleep(200)
  const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(login.statusCode, 503)
  t.match(failed(log.lines)[0], { error: /max retries/, cause: /ECONNREFUSED/ }, 'the cause of a call that ran out of retries')
  t.notOk(log.raw.some(line => line.includes('hunter2')), 'no password in any line')
})

t.test('a Redis reply error (here NOPERM) is logged as it is, with no stale connection cause', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-password-3', '~*', '+@all', '-exists')
  const log = logged()
  const store = new RedisStore({ url: `redis://app:app-password-3@127.0.0.1:${server.port}`, commandTimeout: 500 })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  const { access_token: token } = (await app.inject({ method: 'POST', url: '/login', payload: {} })).json()
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 503)
  const line = failed(log.lines)[0]
  // A lone check on this auto-pipelining client goes as the batch script (check-batch.ts), whose
  // refusal Redis words as a script's; a plain EXISTS would be NOPERM ... exists. The self-check
  // names the missing permission at start-up either way.
  t.match(line, { storeOperation: 'isRevoked', error: /NOPERM.*exists|user executing the script can't run this command/ })
  t.equal(line?.cause, undefined)
})

t.test("a Cluster client passed in: a node's error names the cause", async t => {
  const cluster = await startCluster()
  t.teardown(() => cluster.stop())
  const client = new Cluster(cluster.nodes, { redisOptions: { username: 'nobody', password: 'cluster-password-6', maxRetriesPerRequest: 1 }, clusterRetryStrategy: () => 100 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const { log } = await failingLogin(t, client)
  t.ok(reported(log.lines).some(line => /WRONGPASS/.test(String(line.cause))), 'the WRONGPASS of a node is reported')
  t.match(reported(log.lines)[0], { redis: 'the Redis Cluster client passed in' })
  t.notOk(log.raw.some(line => line.includes('cluster-password-6')), 'no password in any line')
})
