// The ES module entry point has the same types (ESM resolution of the package exports).
import Fastify from 'fastify'
import jwtAuth, { MemoryStore } from 'fastify-jwt-auth'
import type { TokenResponse } from 'fastify-jwt-auth'
import { expectTrue } from './expect.js'
import type { Equal } from './expect.js'

declare module 'fastify-jwt-auth' {
  interface FastifyJwtAuthClaims {
    tenant: string
  }
}

const app = Fastify()
await app.register(jwtAuth, { secret: 'x'.repeat(32), store: new MemoryStore() })
app.post('/login', async (_request, reply) => {
  const body = await reply.issueTokens({ sub: 'alice', tenant: 'acme' })
  expectTrue<Equal<typeof body, TokenResponse>>()
  return body
})
app.get('/me', { preHandler: app.authenticate }, async request => request.user.sub)
