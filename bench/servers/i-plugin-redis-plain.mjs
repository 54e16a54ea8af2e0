// (i) this plugin with RedisStore on a plain `new Redis()` (ioredis defaults: no auto-pipelining).
import { Redis } from 'ioredis'
import { RedisStore } from '../../dist/esm/index.js'
import { REDIS_PORT, PREFIX } from './common.mjs'
import { startPlugin } from './plugin.mjs'

const redis = new Redis({ host: '127.0.0.1', port: REDIS_PORT })
await startPlugin(new RedisStore({ client: redis, prefix: PREFIX }), async () => { redis.disconnect() })
