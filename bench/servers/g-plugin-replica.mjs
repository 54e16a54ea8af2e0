// (g) this plugin with RedisStore and the in-process revocation replica: requests of users
// without a recent revocation need no Redis round trip.
import { Redis } from 'ioredis'
import { RedisStore } from '../../dist/esm/index.js'
import { REDIS_PORT, PREFIX } from './common.mjs'
import { startPlugin } from './plugin.mjs'

// The client options the README recommends: fail fast, auto-pipelining, commandTimeout.
const redis = new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: 1, enableAutoPipelining: true })
await startPlugin(new RedisStore({ client: redis, prefix: PREFIX }), async () => { redis.disconnect() }, {
  revocation: { replica: true, maxStaleness: '1s' }
})
