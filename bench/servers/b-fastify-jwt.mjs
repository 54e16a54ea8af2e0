// (b) @fastify/jwt, request.jwtVerify() alone (HS256, iss and aud checked).
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { SECRET, ISSUER, AUDIENCE, ready } from './common.mjs'

const app = Fastify()
await app.register(fastifyJwt, {
  secret: SECRET,
  sign: { algorithm: 'HS256' },
  verify: { algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE }
})
app.get('/data', {
  onRequest: async (request, reply) => { await request.jwtVerify() }
}, async request => ({ ok: true, sub: request.user.sub }))
await app.listen({ port: 0, host: '127.0.0.1' })
ready(app.server.address().port, () => app.close())
