// (f) this plugin with RedisStore (ioredis, enableAutoPipelining: true).
import { Redis } from 'ioredis'
import { RedisStore } from '../../dist/esm/index.js'
import { REDIS_PORT, PREFIX } from './common.mjs'
import { startPlugin } from './plugin.mjs'

// The client options the README recommends: fail fast, auto-pipelining, commandTimeout.
const redis = new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: 1, enableAutoPipelining: true })
await startPlugin(new RedisStore({ client: redis, prefix: PREFIX }), async () => { redis.disconnect() })
