// The start-up self-check against real servers in each state: a healthy Redis finds nothing; an
// evicting one, an ACL user missing a command, and a Cluster without replicas each give a warning
// with the fix, or, with selfCheck: 'fail', an app.ready() that rejects.
import t from 'tap'
import type { Test } from 'tap'
import { Cluster, Redis } from 'ioredis'
import { RedisStore } from '../lib/index.js'
import type { SelfCheckFinding } from '../lib/index.js'
import { infoFindings } from '../lib/store/redis-self-check.js'
import { buildApp, logged } from './helpers.js'
import { freePort, startCluster, startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

type Line = Record<string, unknown>

async function selfCheckWarnings (lines: Line[], count: number): Promise<Line[]> {
  for (let i = 0; i < 200; i++) {
    const found = lines.filter(line => String(line.msg).startsWith('fastify-jwt-auth store self-check: '))
    if (found.length >= count) return found
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`fewer than ${count} self-check warnings were logged`)
}

async function admin (t: Test, server: RedisServer): Promise<Redis> {
  const client = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { client.disconnect() })
  return client
}

t.test('a healthy Redis: no finding, no warning', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const log = logged()
  const store = new RedisStore({ url: server.url })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  t.same(await store.runSelfCheck(), [])
  await new Promise(resolve => setTimeout(resolve, 200))
  t.notOk(log.lines.some(line => line.level === 40), 'no warning at all')
  t.same(await (await admin(t, server)).keys('*'), [], 'the check left no key behind')
})

t.test('maxmemory-policy allkeys-lru: a warning with the fix; selfCheck fail rejects ready()', async t => {
  const server = await startRedis(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'])
  t.teardown(() => server.stop())
  const log = logged()
  const app = await buildApp({ store: new RedisStore({ url: server.url }) }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  const [warning] = await selfCheckWarnings(log.lines, 1)
  t.match(warning, { level: 40, check: 'eviction', msg: /maxmemory-policy allkeys-lru .*revoked token back/, fix: /maxmemory-policy noeviction/ })
  const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(login.statusCode, 200, "'warn' never blocks: the app serves")

  const failing = await buildApp({ store: new RedisStore({ url: server.url, selfCheck: 'fail' }) })
  t.teardown(() => failing.close())
  await t.rejects(async () => { await failing.ready() }, { code: 'FST_JWT_AUTH_STORE_SELF_CHECK', message: /allkeys-lru.*Fix: set maxmemory-policy noeviction/ })

  const quiet = logged()
  const unchecked = new RedisStore({ url: server.url, selfCheck: false })
  const off = await buildApp({ store: unchecked }, { logger: { stream: quiet.stream } })
  t.teardown(() => off.close())
  await off.ready()
  await unchecked.probe()
  t.notOk(quiet.lines.some(line => line.level === 40), 'selfCheck: false only PINGs')
})

t.test("selfCheck 'fail' with a Redis that does not answer: ready() rejects and names the cause", async t => {
  const port = await freePort()
  const app = await buildApp({ store: new RedisStore({ url: `redis://:hunter2@127.0.0.1:${port}`, commandTimeout: 300, selfCheck: 'fail' }) })
  t.teardown(() => app.close())
  const error = await app.ready().then(() => null, (error: Error) => error)
  t.match(error, { code: 'FST_JWT_AUTH_STORE_SELF_CHECK', message: new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} does not answer \\(.*ECONNREFUSED`) })
  t.notMatch(error?.message, 'hunter2')
})

t.test('an ACL user missing a command the store needs: the warning names it and the fix', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  await (await admin(t, server)).call('ACL', 'SETUSER', 'app', 'on', '>app-password-4', '~fja:*', '+@all', '-hset', '-wait')
  const log = logged()
  const store = new RedisStore({ url: `redis://app:app-password-4@127.0.0.1:${server.port}`, waitForReplicas: { replicas: 1, timeout: 100 } })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  const [warning] = await selfCheckWarnings(log.lines, 1)
  t.match(warning, { check: 'permissions', msg: /may not run hset, wait,? which the store needs/, fix: /add \+hset \+wait to its ACL rule/ })
  t.notMatch(JSON.stringify(log.lines), 'app-password-4', 'never the password')
  const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(login.statusCode, 503, 'and, indeed, a login fails')
})

t.test('an ACL user whose key pattern misses the prefix: the warning names the pattern', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  await (await admin(t, server)).call('ACL', 'SETUSER', 'app', 'on', '>app-password-4', '~other:*', '+@all')
  const store = new RedisStore({ url: `redis://app:app-password-4@127.0.0.1:${server.port}` })
  t.teardown(() => store.close())
  const findings = await store.runSelfCheck()
  t.match(findings, [{ check: 'permissions', message: /~<prefix>\* \(keys under the store's prefix\)/ }])
})

t.test('a 3-master Cluster without replicas is named; with a replica per master it is not', async t => {
  const bare = await startCluster()
  t.teardown(() => bare.stop())
  const client = new Cluster(bare.nodes)
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client })
  await new Promise(resolve => client.once('ready', resolve))
  const findings: SelfCheckFinding[] = await store.runSelfCheck()
  t.equal(findings.length, 1)
  t.match(findings[0], { check: 'replicas', message: /master\(s\) .*have no replica/, fix: /--cluster-slave/ })
  for (const { port } of bare.nodes) t.match(findings[0]?.message, `127.0.0.1:${port}`, `names ${port}`)
  await bare.stop()

  const replicated = await startCluster({ replicas: 1 })
  t.teardown(() => replicated.stop())
  const second = new Cluster(replicated.nodes)
  t.teardown(() => { second.disconnect() })
  await new Promise(resolve => second.once('ready', resolve))
  t.same(await new RedisStore({ client: second }).runSelfCheck(), [], 'one replica per master: nothing to report')
})

t.test('the version and eviction checks read what INFO answers, on each node', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const client = await admin(t, server)
  // A real INFO server, then the same text as an older Redis would answer it.
  const real = await client.info('server')
  const memory = await client.info('memory')
  t.same(infoFindings([{ node: 'a', text: real }], [{ node: 'a', text: memory }]), [], `Redis ${/redis_version:(\S+)/.exec(real)?.[1]} passes`)
  const older = real.replace(/^redis_version:.*$/m, 'redis_version:6.0.9')
  t.match(infoFindings([{ node: 'a', text: real }, { node: 'b', text: older }], []), [{ check: 'version', message: /^Redis 6\.0\.9 \(b\) is older than 6\.2\.0/, fix: /upgrade to Redis 6\.2\.0/ }])
  t.same(infoFindings([{ node: 'a', text: real.replace(/^redis_version:.*$/m, 'redis_version:6.2') }, { node: 'p', text: '# Server\r\nproxy:1\r\n' }], []), [], '6.2 is new enough; a node naming no version is not taken for an old one')
  t.match(infoFindings([], [{ node: 'a', text: memory.replace(/^maxmemory_policy:.*$/m, 'maxmemory_policy:volatile-lru') }, { node: 'b', text: '' }]), [{ check: 'eviction', message: /maxmemory-policy volatile-lru on a\)/ }], 'volatile policies evict our keys too (they all have a TTL)')
})

t.test('a Redis that does not answer: runSelfCheck() says so as a finding', async t => {
  const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeout: 300 })
  t.teardown(() => store.close())
  t.match(await store.runSelfCheck(), [{ check: 'connection', message: /does not answer/, fix: /address/ }])
})

t.test('a user that may not PING: the probe reports the permission, not an outage', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  await (await admin(t, server)).call('ACL', 'SETUSER', 'app', 'on', '>app-password-4', '~fja:*', '+@all', '-ping')
  const log = logged()
  const app = await buildApp({ store: new RedisStore({ url: `redis://app:app-password-4@127.0.0.1:${server.port}` }) }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  const [warning] = await selfCheckWarnings(log.lines, 1)
  t.match(warning, { check: 'permissions', msg: /may not run ping,/ })
  t.notOk(log.lines.some(line => line.msg === 'fastify-jwt-auth: the store does not answer'))
})

t.test('selfCheck takes only its three values', async t => {
  t.throws(() => new RedisStore({ url: 'redis://127.0.0.1:1', selfCheck: 'strict' as 'warn', redisOptions: { lazyConnect: true } }), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /selfCheck must be 'warn', 'fail' or false/ })
})
