// Type tests: ioredis 5 and 6 clients (Redis, Sentinel-made and Cluster) fit RedisStore as they are,
// with no cast; and the store's own client type accepts nothing that lacks what the store calls.
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis'
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis5'
import { RedisStore } from 'fastify-jwt-auth'
import type { RedisStoreClient, RedisStoreOptions, SelfCheckFinding } from 'fastify-jwt-auth'

const lazy = { lazyConnect: true }
new RedisStore({ client: new Redis6(lazy) })
new RedisStore({ client: new Redis6({ ...lazy, sentinels: [{ host: 'localhost', port: 26379 }], name: 'main' }) })
new RedisStore({ client: new Cluster6([{ host: 'localhost', port: 7000 }], lazy) })
new RedisStore({ client: new Redis5(lazy) })
new RedisStore({ client: new Redis5({ ...lazy, sentinels: [{ host: 'localhost', port: 26379 }], name: 'main' }) })
new RedisStore({ client: new Cluster5([{ host: 'localhost', port: 7000 }], lazy) })

const clients: RedisStoreClient[] = [new Redis6(lazy), new Cluster6([], lazy), new Redis5(lazy), new Cluster5([], lazy)]
void clients

// A URL with ioredis options, typed without ioredis.
const fromUrl: RedisStoreOptions = { url: 'redis://localhost:6379', redisOptions: { lazyConnect: true, maxRetriesPerRequest: 1 } }
void fromUrl

// @ts-expect-error a client without the commands the store calls is refused
new RedisStore({ client: { isCluster: false, options: {} } })

// The start-up self-check: three modes, and findings typed by what was checked.
const checked: RedisStoreOptions[] = [{ url: 'redis://localhost', selfCheck: 'warn' }, { url: 'redis://localhost', selfCheck: 'fail' }, { url: 'redis://localhost', selfCheck: false }]
void checked
// @ts-expect-error no other mode
const unknownMode: RedisStoreOptions = { url: 'redis://localhost', selfCheck: 'strict' }
void unknownMode
async function findings (store: RedisStore): Promise<Array<SelfCheckFinding['check']>> {
  return (await store.runSelfCheck()).map(finding => finding.check)
}
void findings

// The session layout written: two, 'compatible' being the default.
const layouts: RedisStoreOptions[] = [{ url: 'redis://localhost', sessionLayout: 'compatible' }, { url: 'redis://localhost', sessionLayout: 'compact' }, { url: 'redis://localhost' }]
void layouts
// @ts-expect-error no other layout
const unknownLayout: RedisStoreOptions = { url: 'redis://localhost', sessionLayout: 'small' }
void unknownLayout
