// This plugin with a given store: POST /login issues tokens, GET /data is protected.
import Fastify from 'fastify'
import jwtAuth from '../../dist/esm/index.js'
import { SECRET, ISSUER, AUDIENCE, ready } from './common.mjs'

export async function startPlugin (store, onClose = async () => {}, options = {}) {
  const app = Fastify()
  await app.register(jwtAuth, { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, store, ...options })
  app.post('/login', async (request, reply) => reply.issueTokens({ sub: request.body?.sub ?? 'bench-user', roles: ['user'] }))
  app.get('/data', { preHandler: app.authenticate }, async request => ({ ok: true, sub: request.user.sub }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  ready(app.server.address().port, async () => { await app.close(); await onClose() })
}
