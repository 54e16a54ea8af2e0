// RedisStore on real Redis servers that the test starts on free ports (never the machine's
// own Redis): the store contract on a standalone server and on a 3-master Cluster, then what
// only a shared store can show.
import t from 'tap'
import { Cluster, Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { noticeCoverage, RedisStore } from '../lib/index.js'
import { bearer, buildApp, login, refresh } from './helpers.js'
import { startCluster, startRedis, startSentinel, watchSentCommands } from './redis-harness.js'
import type { RedisCluster, RedisServer } from './redis-harness.js'
import { storeContract } from './store-contract.js'

let server: RedisServer
let cluster: RedisCluster
const clients: Array<Redis | Cluster> = []
let prefixes = 0

t.before(async () => {
  server = await startRedis()
  cluster = await startCluster()
})
t.teardown(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
  await cluster?.stop()
})

function standaloneClient (): Redis {
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  clients.push(client)
  return client
}

function clusterClient (): Cluster {
  const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  clients.push(client)
  return client
}

/** A store on its own prefix, so tests never see each other's keys. */
function newStore (client: Redis | Cluster, sessionLayout?: 'compatible' | 'compact'): RedisStore {
  return new RedisStore({ client, prefix: `test${++prefixes}:`, sessionLayout })
}

storeContract(t, { name: 'RedisStore (standalone)', unit: 250, create: async () => newStore(standaloneClient()), advance: async ms => { await sleep(ms) } })
storeContract(t, { name: 'RedisStore (standalone, compact layout)', unit: 250, create: async () => newStore(standaloneClient(), 'compact'), advance: async ms => { await sleep(ms) } })
storeContract(t, { name: 'RedisStore (Cluster)', unit: 250, create: async () => newStore(clusterClient()), advance: async ms => { await sleep(ms) } })

t.test('RedisStore options are checked', async t => {
  const client = standaloneClient()
  t.throws(() => new RedisStore({} as never), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  t.throws(() => new RedisStore({ client, url: server.url }), { code: 'FST_JWT_AUTH_INVALID_OPTION' }, 'not both')
  t.throws(() => new RedisStore({ client, prefix: 'a{b}:' }), { code: 'FST_JWT_AUTH_INVALID_OPTION' }, 'no braces: they would move the hash tag')
  t.throws(() => new RedisStore({ client, commandTimeout: 0 }), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  t.throws(() => new RedisStore({ client, sessionLayout: 'small' as never }), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /sessionLayout/ })
})

t.test('a client passed in is never closed; a client made from { url } is closed with the app', async t => {
  const client = standaloneClient()
  const app = await buildApp({ store: new RedisStore({ client, prefix: 'own:' }) })
  await login(app)
  await app.close()
  t.equal(await client.ping(), 'PONG', 'the passed-in client still works')

  const fromUrl = new RedisStore({ url: server.url, prefix: 'url:' })
  const owning = await buildApp({ store: fromUrl })
  const tokens = await login(owning)
  t.equal((await owning.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  const owned = fromUrl.client as Redis
  // The client says 'end' once its socket has closed: soon, but later than 20 ms on a busy machine.
  const ended = new Promise(resolve => { owned.once('end', resolve) })
  await owning.close()
  await Promise.race([ended, sleep(5000)])
  t.equal(owned.status, 'end', 'the store closed its own client')
})

t.test('every key has a TTL no longer than what it guards, and no raw token is stored', async t => {
  const client = standaloneClient()
  const prefix = `workload${++prefixes}:`
  const app = await buildApp({ store: new RedisStore({ client, prefix }), refreshToken: { reuseGrace: '1s' }, maxSessionsPerUser: 3 })
  t.teardown(() => app.close())
  const secrets: string[] = []
  const remember = (tokens: { access_token: string, refresh_token: string }): void => {
    secrets.push(tokens.access_token, tokens.refresh_token.split('.')[1] as string)
  }
  const users = ['alice', 'bob', 'carol']
  for (const sub of users) {
    for (let i = 0; i < 4; i++) {
      const tokens = await login(app, { sub })
      remember(tokens)
      const next = (await refresh(app, tokens.refresh_token)).json()
      remember(next)
      await refresh(app, tokens.refresh_token) // grace
      if (i === 1) await refresh(app, `${tokens.refresh_token.split('.')[0] as string}.${'A'.repeat(43)}`) // a made-up secret: refused
      if (i === 1) {
        remember((await refresh(app, next.refresh_token)).json())
        await refresh(app, tokens.refresh_token) // two generations old: reuse, the session dies
      }
      if (i === 2) await app.jwtAuth.revokeToken(next.access_token)
      if (i === 3) await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(next.access_token) })
    }
  }
  await app.jwtAuth.revokeUser('carol')
  const keys = await client.keys(`${prefix}*`)
  t.ok(keys.length >= 5, `the workload wrote keys (${keys.length})`)
  const month = 30 * 86_400_000
  for (const key of keys) {
    const ttl = await client.pttl(key)
    t.ok(ttl > 0 && ttl <= month, `${key} expires (${ttl} ms)`)
    if (key.includes(':j:')) t.ok(ttl <= 15 * 60_000 + 5000, 'a denylist entry lives no longer than its access token')
    const type = await client.type(key)
    const values = type === 'hash'
      ? Object.values(await client.hgetall(key))
      : type === 'zset'
        ? await client.zrange(key, '0', '-1')
        : type === 'stream'
          ? (await client.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields])
          : [await client.get(key) ?? '']
    if (key.includes('{revocations}')) t.ok(ttl <= noticeCoverage(15 * 60_000 + 5000), 'revocation notices live no longer than an access token and the repeat window')
    const text = key + values.join(' ')
    t.notOk(secrets.some(secret => text.includes(secret)), `${key} holds no token`)
  }
  t.match(keys.join(' '), /\{u:[A-Za-z0-9_-]+\}:(s|ss|j):?/, 'keys carry the user hash tag')
})

t.test('one Redis command per authenticated request, and one per refresh', async t => {
  const client = standaloneClient()
  // No start-up self-check: its commands would be counted.
  const app = await buildApp({ store: new RedisStore({ client, prefix: `calls${++prefixes}:`, selfCheck: false }) })
  t.teardown(() => app.close())
  const tokens = await login(app)
  // Commands a script runs are left out; only what a client sent is a round trip.
  const { commands, stop } = await watchSentCommands(client)
  t.teardown(stop)
  const before = commands.length
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  await sleep(100)
  t.same(commands.slice(before), ['exists'], 'the revocation check is one EXISTS')
  t.equal(commands.length - before, 1)
  const beforeRefresh = commands.length
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
  await sleep(100)
  // ioredis sends EVAL the first time on a connection, EVALSHA after.
  t.match(commands.slice(beforeRefresh), [/^eval(sha)?$/], 'the rotation is one script call')
  t.equal(commands.length - beforeRefresh, 1)
})

t.test('50 parallel refreshes of one token across two instances leave exactly one live chain', async t => {
  const prefix = `race${++prefixes}:`
  const a = await buildApp({ store: new RedisStore({ client: standaloneClient(), prefix }) })
  const b = await buildApp({ store: new RedisStore({ client: standaloneClient(), prefix }) })
  t.teardown(async () => { await a.close(); await b.close() })
  const tokens = await login(a)
  const responses = await Promise.all(Array.from({ length: 50 }, async (_, i) => await refresh(i % 2 === 0 ? a : b, tokens.refresh_token)))
  t.ok(responses.every(response => response.statusCode === 200), 'every one within grace')
  const successors = new Set(responses.map(response => response.json().refresh_token))
  t.equal(successors.size, 1, 'one successor')
  const [successor] = [...successors] as [string]
  t.equal((await refresh(b, successor)).statusCode, 200, 'the chain goes on, on the other instance')
  t.equal((await a.jwtAuth.listSessions('alice')).length, 1)
})

t.test('a logout on one instance holds on the other', async t => {
  const prefix = `shared${++prefixes}:`
  const a = await buildApp({ store: new RedisStore({ client: standaloneClient(), prefix }) })
  const c = await buildApp({ store: new RedisStore({ client: standaloneClient(), prefix }) })
  t.teardown(async () => { await a.close(); await c.close() })
  const tokens = await login(a)
  const refreshed = (await refresh(c, tokens.refresh_token)).json()
  t.equal((await a.inject({ url: '/me', headers: bearer(refreshed.access_token) })).statusCode, 200)
  await c.inject({ method: 'POST', url: '/auth/logout', headers: bearer(refreshed.access_token) })
  t.equal((await a.inject({ url: '/me', headers: bearer(refreshed.access_token) })).statusCode, 401)
})

t.test('through Sentinel: log in, rotate, revoke', async t => {
  const sentinel = await startSentinel(server)
  t.teardown(sentinel.stop)
  const client = new Redis({ sentinels: [{ host: sentinel.host, port: sentinel.port }], name: sentinel.masterName, maxRetriesPerRequest: 1 })
  clients.push(client)
  const app = await buildApp({ store: new RedisStore({ client, prefix: `sentinel${++prefixes}:` }) })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const rotated = await refresh(app, tokens.refresh_token)
  t.equal(rotated.statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(rotated.json().access_token) })).statusCode, 200)
  t.equal(await app.jwtAuth.revokeUser('alice'), 1)
  t.equal((await app.inject({ url: '/me', headers: bearer(rotated.json().access_token) })).statusCode, 401)
})
