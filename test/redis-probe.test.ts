// The start-up probe: an app whose Redis does not answer starts anyway and logs one warning that
// names the address (never the password) and the cause; a store's findings are warnings, or, with
// probeFailsStart, a start that fails.
import t from 'tap'
import { Redis } from 'ioredis'
import { MemoryStore, RedisStore } from '../lib/index.js'
import type { Store, StoreFinding } from '../lib/index.js'
import { buildApp, logged } from './helpers.js'
import { freePort } from './redis-harness.js'

async function warningIn (lines: string[], text = 'the store does not answer'): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const line = lines.find(logged => logged.includes(text))
    if (line !== undefined) return line
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error('no warning was logged')
}

t.test('RedisStore({ url }) with nothing listening: the app starts and warns without the password', async t => {
  const port = await freePort()
  const log = logged()
  const store = new RedisStore({ url: `redis://app:hunter2@127.0.0.1:${port}/0`, commandTimeout: 500 })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  const line = await warningIn(log.raw)
  t.match(JSON.parse(line), { level: 40, error: new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}/0 does not answer \\(.*ECONNREFUSED.*\\)`) })
  t.notMatch(line, 'hunter2', 'no password in the log')
  t.notMatch(line, 'app:', 'no user name either')
  const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(login.statusCode, 503, 'requests that need the store answer 503')
})

t.test('a client passed in that cannot connect is named as such', async t => {
  const port = await freePort()
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const log = logged()
  const app = await buildApp({ store: new RedisStore({ client, commandTimeout: 500 }) }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  t.match(JSON.parse(await warningIn(log.raw)).error, /^Redis at the Redis client passed in does not answer/)
})

// A Redis that answers gives no warning: test/redis-self-check.test.ts, 'a healthy Redis'.

t.test("a store of one's own: its probe's findings are warnings, or with probeFailsStart the start's failure", async t => {
  const finding = { check: 'disk', message: 'the disk is nearly full', fix: 'add a disk' }
  const store = (probe: () => Promise<void | StoreFinding[]>, probeFailsStart = false): Store => Object.assign(new MemoryStore(), { probe, probeFailsStart })

  const log = logged()
  const warned = await buildApp({ store: store(async () => [finding]) }, { logger: { stream: log.stream } })
  t.teardown(() => warned.close())
  await warned.ready()
  t.match(JSON.parse(await warningIn(log.raw, 'store self-check')), { level: 40, check: 'disk', fix: 'add a disk', msg: 'fastify-jwt-auth store self-check: the disk is nearly full' })

  const quiet = logged()
  const silent = await buildApp({ store: store(async () => {}) }, { logger: { stream: quiet.stream } })
  t.teardown(() => silent.close())
  await silent.ready()
  await new Promise(resolve => setTimeout(resolve, 50))
  t.notOk(quiet.raw.some(line => line.includes('"level":40')), 'a probe that resolves nothing warns of nothing')

  const passing = await buildApp({ store: store(async () => {}, true) })
  t.teardown(() => passing.close())
  await passing.ready()
  t.pass('probeFailsStart with nothing found: the app starts')

  const failing = await buildApp({ store: store(async () => [finding], true) })
  t.teardown(() => failing.close())
  await t.rejects(async () => { await failing.ready() }, { code: 'FST_JWT_AUTH_STORE_SELF_CHECK', message: 'The store failed its start-up self-check: the disk is nearly full. Fix: add a disk' })

  const down = await buildApp({ store: store(async () => { throw new Error('the database does not answer') }, true) })
  t.teardown(() => down.close())
  await t.rejects(async () => { await down.ready() }, { code: 'FST_JWT_AUTH_STORE_SELF_CHECK', message: /the database does not answer/ })
})
