// (c) @fastify/jwt plus a hand-written Redis denylist lookup, as users write it today.
// Same ioredis options as (f), so the comparison is about the lookup, not the client.
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { Redis } from 'ioredis'
import { SECRET, ISSUER, AUDIENCE, REDIS_PORT, PREFIX, ready } from './common.mjs'

const redis = new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: 1, enableAutoPipelining: true })
const app = Fastify()
await app.register(fastifyJwt, {
  secret: SECRET,
  sign: { algorithm: 'HS256' },
  verify: { algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE }
})
app.get('/data', {
  onRequest: async (request, reply) => {
    await request.jwtVerify()
    if (await redis.exists(PREFIX + 'deny:' + request.user.jti)) {
      return reply.code(401).send({ error: 'revoked' })
    }
  }
}, async request => ({ ok: true, sub: request.user.sub }))
await app.listen({ port: 0, host: '127.0.0.1' })
ready(app.server.address().port, async () => { await app.close(); redis.disconnect() })
