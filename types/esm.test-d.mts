// The ES module entry point has the same types (ESM resolution of the package exports). Here
// the app does not declare roles: they are any strings (types/index.test-d.ts narrows them).
import Fastify from 'fastify'
import type { FastifyPluginAsync } from 'fastify'
import jwtAuth, { MemoryStore } from 'fastify-jwt-auth'
import type { AccessTokenPayload, Role, TokenResponse } from 'fastify-jwt-auth'
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

expectTrue<Equal<Role, string>>()
app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin', 'any-role')] }, async request => {
  expectTrue<Equal<typeof request.user.roles, string[] | undefined>>()
  expectTrue<Equal<typeof request.user.scope, string | undefined>>()
  expectTrue<Equal<typeof request.user.tenant, string>>()
  return request.user.tenant
})
app.post('/grant', async (_request, reply) => await reply.issueTokens({ sub: 'alice', tenant: 'acme', roles: ['any-role'], scope: 'a b' }))

// Encapsulated child plugins see the same request.user.
const child: FastifyPluginAsync = async instance => {
  instance.get('/child', { preHandler: instance.authenticate }, async request => {
    expectTrue<Equal<typeof request.user, AccessTokenPayload>>()
    return request.user.tenant
  })
}
await app.register(child, { prefix: '/child' })
