// RedisStore with the clients apps already have: the store contract with an ioredis 5 client on
// a real Redis, a Cluster client of ioredis 5 through login, refresh and revocation; and the
// `{ url }` convenience: only redis:/rediss: URLs, and ioredis loaded only then.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis5'
import { RedisStore } from '../lib/index.js'
import { checkRedisUrl, requirePeer } from '../lib/store/redis-client.js'
import { buildApp, loginRefreshRevoke } from './helpers.js'
import { startCluster, startRedis } from './redis-harness.js'
import type { RedisCluster, RedisServer } from './redis-harness.js'
import { storeContract } from './store-contract.js'

let server: RedisServer
let cluster: RedisCluster
let prefixes = 0
const clients = new Set<Redis5 | Cluster5>()

// Both servers at once; each client made here is disconnected before they stop.
t.before(async () => { [server, cluster] = await Promise.all([startRedis(), startCluster()]) })
t.teardown(async () => {
  for (const client of clients) client.disconnect()
  await Promise.all([server?.stop(), cluster?.stop()])
})

function track<C extends Redis5 | Cluster5> (client: C): C {
  clients.add(client)
  return client
}

storeContract(t, {
  name: 'RedisStore (ioredis 5, standalone)',
  unit: 250,
  create: async () => new RedisStore({ client: track(new Redis5(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })), prefix: `io5-${++prefixes}:` }),
  advance: async ms => { await sleep(ms) }
})

t.test('an ioredis 5 Cluster client: login, refresh, revocation', async t => {
  const client = track(new Cluster5(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } }))
  const app = await buildApp({ store: new RedisStore({ client, prefix: 'io5-cluster:' }) })
  t.teardown(() => app.close())
  await loginRefreshRevoke(t, app) // revoked across the cluster
})

t.test('RedisStore({ url }) takes only redis:// and rediss:// URLs', async t => {
  for (const url of ['localhost:6379', 'http://localhost:6379', '/tmp/redis.sock', '', 42]) {
    t.throws(() => new RedisStore({ url: url as string }), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /must be a redis:\/\/ or rediss:\/\/ URL/ }, String(url))
  }
  t.equal(checkRedisUrl('rediss://user:pw@cache.example:6380/2'), 'rediss://user:pw@cache.example:6380/2')
  const store = new RedisStore({ url: server.url, prefix: 'io-url:' })
  t.equal(await (store.client as unknown as Redis5).ping(), 'PONG', 'a redis:// URL makes a working client')
  await store.close()
})

t.test('a missing optional peer is named with the command that installs it', async t => {
  t.throws(() => requirePeer('fastify-jwt-auth-no-such-package', 'RedisStore({ url })'), {
    code: 'FST_JWT_AUTH_MISSING_DEPENDENCY',
    message: 'RedisStore({ url }) needs the fastify-jwt-auth-no-such-package package, an optional peer dependency: npm install fastify-jwt-auth-no-such-package'
  })
  t.equal(requirePeer('ioredis', 'x'), require('ioredis'), 'an installed one is the module itself')
})
