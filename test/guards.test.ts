import t from 'tap'
import { bearer, buildApp, login } from './helpers.js'

t.test('requireRoles: at least one of the roles', async t => {
  const app = await buildApp()
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => 'admin')
  app.get('/staff', { preHandler: [app.authenticate, app.requireRoles('admin', 'editor')] }, async () => 'staff')
  t.teardown(() => app.close())
  const admin = await login(app, { sub: 'bob', roles: ['admin'] })
  const editor = await login(app, { sub: 'carol', roles: ['editor'] })
  const none = await login(app, { sub: 'dave', roles: [] })

  t.equal((await app.inject({ url: '/admin', headers: bearer(admin.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/staff', headers: bearer(editor.access_token) })).statusCode, 200)
  const refused = await app.inject({ url: '/admin', headers: bearer(editor.access_token) })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'FST_JWT_AUTH_INSUFFICIENT_SCOPE')
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="fastify-jwt-auth", error="insufficient_scope", error_description="One of these roles is required: admin"')
  t.equal((await app.inject({ url: '/staff', headers: bearer(none.access_token) })).statusCode, 403)
})

t.test('requireScopes: every scope, and the challenge names them', async t => {
  const app = await buildApp()
  app.get('/reports', { preHandler: [app.authenticate, app.requireScopes('reports:read')] }, async () => 'reports')
  app.get('/both', { preHandler: [app.authenticate, app.requireScopes('reports:read', 'reports:write')] }, async () => 'both')
  t.teardown(() => app.close())
  const reader = await login(app, { sub: 'a', scope: 'profile reports:read' })
  const writer = await login(app, { sub: 'b', scope: 'reports:read reports:write' })
  const noScope = await login(app, { sub: 'c' })

  t.equal((await app.inject({ url: '/reports', headers: bearer(reader.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/both', headers: bearer(writer.access_token) })).statusCode, 200)
  const refused = await app.inject({ url: '/both', headers: bearer(reader.access_token) })
  t.equal(refused.statusCode, 403)
  t.match(refused.headers['www-authenticate'], /error="insufficient_scope".*scope="reports:read reports:write"$/)
  t.equal((await app.inject({ url: '/reports', headers: bearer(noScope.access_token) })).statusCode, 403, 'no scope claim')
  const prefix = await login(app, { sub: 'd', scope: 'reports:reader' })
  t.equal((await app.inject({ url: '/reports', headers: bearer(prefix.access_token) })).statusCode, 403, 'scopes match whole words')
})

t.test('a guard without app.authenticate before it answers 401, not 500', async t => {
  const app = await buildApp()
  app.get('/unguarded', { preHandler: app.requireRoles('admin') }, async () => 'x')
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/unguarded' })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE', 'with the fix in the message (test/mistakes.test.ts)')
})

t.test('guards need at least one non-empty name, checked when the route is declared', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  t.throws(() => app.requireRoles(), { code: 'FST_JWT_AUTH_INVALID_GUARD' })
  t.throws(() => app.requireScopes(''), { code: 'FST_JWT_AUTH_INVALID_GUARD' })
  t.throws(() => app.requireRoles('admin', 7 as unknown as string), { code: 'FST_JWT_AUTH_INVALID_GUARD' })
})
