// The in-process revocation replica on a real Redis: instance B follows the revocation feed and
// skips the store for users without a recent revocation; every revocation made on instance A is
// enforced on B within maxStaleness; a cut feed makes B check the store again (fail closed).
import t from 'tap'
import type { Test } from 'tap'
import { Cluster, Redis } from 'ioredis'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { MemoryStore, RedisStore } from '../lib/index.js'
import type { Duration, JwtAuthOptions } from '../lib/index.js'
import { RevocationReplica } from '../lib/replica.js'
import type { RevocationFeed } from '../lib/store/store.js'
import { bearer, buildApp, decodePart, login, refresh, registrationError, secret } from './helpers.js'
import { startCluster, startRedis } from './redis-harness.js'

const maxStaleness = 300 // ms
const staleness: Duration = '300ms'
// Tests that assert "no store call" allow more staleness: on a loaded machine a slow feed read
// would (rightly) send a request to the store.
const relaxed: Duration = '2s'
let prefixes = 0

t.test('registration refuses a replica the store cannot feed, and bad settings', async t => {
  const memory = await registrationError({ secret, store: new MemoryStore(), revocation: { replica: true } })
  t.equal(memory.code, 'FST_JWT_AUTH_INVALID_OPTION')
  t.match(memory.message, /revocation\.replica.*revocation feed/)
  t.match((await registrationError({ secret, revocation: { replica: 'yes' } })).message, /revocation\.replica must be a boolean/)
  t.match((await registrationError({ secret, revocation: null })).message, /revocation must be an object/)
  t.match((await registrationError({ secret, revocation: { replica: true, maxStaleness: -1 } })).message, /revocation\.maxStaleness/)
  t.match((await registrationError({ secret, store: new RedisStore({ url: 'redis://127.0.0.1:1', redisOptions: { lazyConnect: true } }), accessToken: { expiresIn: '1m' }, revocation: { replica: true, maxStaleness: '2m' } })).message, /maxStaleness must not be longer than accessToken.expiresIn/)
  // replica: false is the same as no replica, whatever the store.
  const app = await buildApp({ revocation: { replica: false } })
  const tokens = await login(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  await app.close()
})

t.test('no access token outlives its session', async t => {
  // Idle lifetime 2 s, access lifetime 15 min: the token ends with the session.
  const app = await buildApp({ refreshToken: { expiresIn: '1h', idleTimeout: '2s' } })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const claims = decodePart(tokens.access_token, 1) as { iat: number, exp: number }
  t.ok(claims.exp - claims.iat <= 2, `exp is at the session's end (${claims.exp - claims.iat} s)`)
  t.equal(tokens.expires_in, claims.exp - claims.iat, 'expires_in says so')
  const longer = await buildApp({ refreshToken: { expiresIn: '1h', idleTimeout: '30m' } })
  t.teardown(() => longer.close())
  const normal = decodePart((await login(longer)).access_token, 1) as { iat: number, exp: number }
  t.equal(normal.exp - normal.iat, 900, 'a longer session leaves the full access lifetime')
})

/** Two instances of one service on one Redis: A without replica, B with one. */
async function pair (t: Test, url: string, options: Partial<JwtAuthOptions> = {}, replicaStaleness: Duration = staleness): Promise<{ a: FastifyInstance, b: FastifyInstance, bClient: Redis }> {
  const prefix = `replica${++prefixes}:`
  const aClient = new Redis(url)
  const bClient = new Redis(url)
  const a = await buildApp({ store: new RedisStore({ client: aClient, prefix }), ...options })
  const b = await buildApp({ store: new RedisStore({ client: bClient, prefix }), revocation: { replica: true, maxStaleness: replicaStaleness }, ...options })
  t.teardown(async () => {
    await a.close()
    await b.close()
    aClient.disconnect()
    bClient.disconnect()
  })
  return { a, b, bClient }
}

/** The commands a client sends while `work` runs, blocking feed reads left out. */
async function commandsDuring (client: Redis, work: () => Promise<void>): Promise<string[]> {
  const monitor = await client.monitor()
  const commands: string[] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase()
    if (source !== 'lua' && name !== 'xread') commands.push(name)
  })
  await sleep(50)
  try {
    await work()
    await sleep(100)
  } finally {
    monitor.disconnect()
  }
  return commands
}

t.test('standalone Redis', async t => {
  const server = await startRedis()
  t.teardown(server.stop)

  t.test('a fresh replica answers without a store call', async t => {
    const { a, b, bClient } = await pair(t, server.url, {}, relaxed)
    const tokens = await login(a)
    await sleep(maxStaleness)
    const commands = await commandsDuring(bClient, async () => {
      for (let i = 0; i < 5; i++) {
        t.equal((await b.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
      }
    })
    t.same(commands, [], 'five authenticated requests, no Redis command')
  })

  t.test('each kind of revocation made on A is enforced on B within maxStaleness', async t => {
    const { a, b } = await pair(t, server.url, { maxSessionsPerUser: 1, refreshToken: { reuseGrace: 0 } })
    const cases: Array<{ name: string, revoke: (tokens: Awaited<ReturnType<typeof login>>, sub: string) => Promise<unknown> }> = [
      { name: 'revokeToken', revoke: async tokens => await a.jwtAuth.revokeToken(tokens.access_token) },
      { name: 'revokeSession', revoke: async tokens => await a.jwtAuth.revokeSession(decodePart(tokens.access_token, 1).sid as string) },
      { name: 'revokeUser', revoke: async (_tokens, sub) => await a.jwtAuth.revokeUser(sub) },
      { name: 'logout with the refresh token', revoke: async tokens => await a.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } }) },
      { name: 'logout-all', revoke: async tokens => await a.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(tokens.access_token) }) },
      {
        name: 'refresh-token reuse',
        revoke: async tokens => {
          t.equal((await refresh(a, tokens.refresh_token)).statusCode, 200)
          t.equal((await refresh(a, tokens.refresh_token)).statusCode, 400, 'the spent token is reuse')
        }
      },
      { name: 'eviction by a newer login', revoke: async (_tokens, sub) => await login(a, { sub }) }
    ]
    for (const [index, { name, revoke }] of cases.entries()) {
      const sub = `user-${index}`
      const tokens = await login(a, { sub })
      const bystander = await login(a, { sub: `bystander-${index}` })
      await sleep(maxStaleness)
      t.equal((await b.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, `${name}: accepted on B before`)
      await revoke(tokens, sub)
      await sleep(maxStaleness)
      const after = await b.inject({ url: '/me', headers: bearer(tokens.access_token) })
      t.equal(after.statusCode, 401, `${name}: refused on B after maxStaleness`)
      t.equal(after.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED', name)
      t.equal((await b.inject({ url: '/me', headers: bearer(bystander.access_token) })).statusCode, 200, `${name}: other users unaffected`)
    }
  })

  t.test('a cut feed makes B check every token at the store', async t => {
    const prefix = `replica${++prefixes}:`
    const aClient = new Redis(server.url)
    const bClient = new Redis(server.url)
    let cut = false
    const stalled: Array<() => void> = []
    // The store is real; only its feed stops answering, as when the feed connection hangs.
    class CutFeedStore extends RedisStore {
      override openRevocationFeed (): RevocationFeed {
        const feed = super.openRevocationFeed()
        return {
          read: async (cursor, waitMs) => cut ? await new Promise((_resolve, reject) => { stalled.push(() => { reject(new Error('closed')) }) }) : await feed.read(cursor, waitMs),
          close: async () => { for (const stop of stalled) stop(); await feed.close() }
        }
      }
    }
    const a = await buildApp({ store: new RedisStore({ client: aClient, prefix }) })
    const b = await buildApp({ store: new CutFeedStore({ client: bClient, prefix }), revocation: { replica: true, maxStaleness: staleness } })
    t.teardown(async () => { await a.close(); await b.close(); aClient.disconnect(); bClient.disconnect() })
    const revoked = await login(a)
    const kept = await login(a, { sub: 'bob' })
    await sleep(maxStaleness)
    cut = true
    await sleep(maxStaleness) // the read in flight ends; the next one hangs
    await a.jwtAuth.revokeToken(revoked.access_token)
    await sleep(maxStaleness * 2)
    t.equal((await b.inject({ url: '/me', headers: bearer(revoked.access_token) })).statusCode, 401, 'the revocation is enforced without the feed')
    const commands = await commandsDuring(bClient, async () => {
      t.equal((await b.inject({ url: '/me', headers: bearer(kept.access_token) })).statusCode, 200, 'live tokens still work')
    })
    t.ok(commands.some(name => name.startsWith('eval')), 'checked at the store')
  })

  t.test('a stopped Redis: 503 once the replica is stale, never 200; then it recovers', async t => {
    const own = await startRedis()
    t.teardown(own.stop)
    const client = new Redis(own.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
    client.on('error', () => {})
    t.teardown(() => client.disconnect())
    const app = await buildApp({ store: new RedisStore({ client, commandTimeout: 300 }), revocation: { replica: true, maxStaleness: staleness } })
    t.teardown(() => app.close())
    const tokens = await login(app)
    await own.stop()
    await sleep(maxStaleness * 2)
    const down = await app.inject({ url: '/me', headers: bearer(tokens.access_token) })
    t.equal(down.statusCode, 503, 'fails closed')
    await own.restart() // empty data: the feed starts again from nothing
    let fresh: Awaited<ReturnType<typeof login>> | undefined
    for (let attempt = 0; attempt < 100 && fresh === undefined; attempt++) {
      fresh = await login(app).catch(async () => { await sleep(100); return undefined })
    }
    if (fresh === undefined) throw new Error('Redis did not come back')
    await app.jwtAuth.revokeToken(fresh.access_token)
    await sleep(maxStaleness * 2)
    t.equal((await app.inject({ url: '/me', headers: bearer(fresh.access_token) })).statusCode, 401, 'a revocation after the restart is enforced')
    const other = await login(app, { sub: 'bob' })
    await sleep(maxStaleness)
    // A slow feed read on a loaded machine sends a request to the store; one of a few goes without.
    let alone = false
    for (let attempt = 0; attempt < 5 && !alone; attempt++) {
      const commands = await commandsDuring(client, async () => {
        t.equal((await app.inject({ url: '/me', headers: bearer(other.access_token) })).statusCode, 200)
      })
      alone = commands.length === 0
    }
    t.ok(alone, 'the replica answers alone again')
  })

  t.test('replica memory and the notices in Redis are bounded by live revocations', async t => {
    const client = new Redis(server.url)
    t.teardown(() => client.disconnect())
    const prefix = `bounded${++prefixes}:`
    const store = new RedisStore({ client, prefix })
    const lifetime = 400
    store.useAccessLifetime(lifetime)
    store.useAccessLifetime(100) // a second registration with shorter tokens: the longest wins
    const replica = new RevocationReplica(store.openRevocationFeed(), { maxStaleness: 200, watchFor: lifetime }, Fastify().log)
    await replica.start()
    t.teardown(() => replica.close())
    for (let i = 0; i < 20; i++) await store.revokeUser(`user-${i}`)
    t.ok(await client.pttl(`${prefix}{revocations}`) > 100, 'notices are kept for the longest announced lifetime')
    await sleep(100)
    t.equal(replica.size, 20, 'one entry per user with a recent revocation')
    t.notOk(replica.clears('user-3'), 'their tokens go to the store')
    t.ok(replica.clears('someone-else'), 'other users do not')
    await sleep(lifetime + 200)
    await store.revokeUser('late')
    t.equal(await client.xlen(`${prefix}{revocations}`), 1, 'Redis dropped the old notices')
    await sleep(1200) // the replica sweeps every 20 reads
    t.equal(replica.size, 1, 'expired notices are forgotten')
    t.ok(replica.clears('user-3'), 'an old revocation no longer costs a store call')
    t.ok(await client.pttl(`${prefix}{revocations}`) <= lifetime, 'the notices stream expires with its last notice')
  })
})

t.test('Redis Cluster: revocations reach a replica through the cluster', async t => {
  const cluster = await startCluster()
  t.teardown(cluster.stop)
  const prefix = `replica${++prefixes}:`
  const aClient = new Cluster(cluster.nodes)
  const bClient = new Cluster(cluster.nodes)
  const a = await buildApp({ store: new RedisStore({ client: aClient, prefix }) })
  const b = await buildApp({ store: new RedisStore({ client: bClient, prefix }), revocation: { replica: true, maxStaleness: staleness } })
  t.teardown(async () => { await a.close(); await b.close(); aClient.disconnect(); bClient.disconnect() })
  const tokens = await login(a)
  await sleep(maxStaleness)
  t.equal((await b.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  await a.jwtAuth.revokeSession(decodePart(tokens.access_token, 1).sid as string)
  await sleep(maxStaleness)
  t.equal((await b.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 401)
})

t.test('a notice that cannot be written after a revocation is retried until it is', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const client = new Redis(server.url)
  t.teardown(() => client.disconnect())
  const prefix = `retry${++prefixes}:`
  const notices = `${prefix}{revocations}`
  const session = (store: RedisStore, sessionId: string): Promise<unknown> => store.createSession({
    sub: 'alice', sessionId, refreshDigest: sessionId, claims: {}, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 1
  })
  // A key of the wrong type makes every notice fail with WRONGTYPE, while sessions still work.
  await client.set(notices, 'not a stream')

  const store = new RedisStore({ client, prefix })
  store.useAccessLifetime(60_000)
  await session(store, 'first')
  await session(store, 'second') // evicts 'first': a revocation that already happened
  await sleep(100)
  t.equal(await client.type(notices), 'string', 'the notice could not be written')
  await client.del(notices)
  await sleep(1500)
  t.same((await client.xrange(notices, '-', '+')).map(([, fields]) => fields), [['sub', 'alice']], 'the retry wrote it')
  await store.close()

  await client.set(notices, 'not a stream')
  const brief = new RedisStore({ client, prefix })
  brief.useAccessLifetime(1500)
  await session(brief, 'third')
  await session(brief, 'fourth')
  await sleep(2500) // tries at 0, 1 s and 2 s; by then no token it covers can be alive
  await client.del(notices)
  await sleep(1200)
  t.equal(await client.exists(notices), 0, 'a notice is given up once no token it covers can be alive')

  await client.set(notices, 'not a stream')
  const closing = new RedisStore({ client, prefix })
  await session(closing, 'fifth')
  await session(closing, 'sixth')
  await closing.close() // before the failed notice comes back: no retry is scheduled
  await sleep(100)
  await client.del(notices)
  await sleep(1200)
  t.equal(await client.exists(notices), 0, 'a closed store retries nothing')
})
