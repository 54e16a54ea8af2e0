import t from 'tap'
import Fastify from 'fastify'
import jwtAuth from '../lib/index.js'
import type { AuthEvent } from '../lib/index.js'
import { bearer, buildApp, decodePart, login, refresh, secret } from './helpers.js'

t.test('POST /auth/logout with the access token ends this session only and clears cookies', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const here = await login(app)
  const there = await login(app)
  const response = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(here.access_token) })
  t.equal(response.statusCode, 204)
  t.same(response.cookies.filter(cookie => cookie.value === '').map(cookie => cookie.name).sort(), ['access_token', 'refresh_token'])
  t.equal((await app.inject({ url: '/me', headers: bearer(here.access_token) })).statusCode, 401)
  t.equal((await refresh(app, here.refresh_token)).statusCode, 400)
  t.equal((await app.inject({ url: '/me', headers: bearer(there.access_token) })).statusCode, 200)
  t.match(events.at(-1), { type: 'session-revoked', reason: 'logout' })
})

t.test('POST /auth/logout with the refresh cookie works after the access token expired', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const response = await app.inject({ method: 'POST', url: '/auth/logout', cookies: { refresh_token: tokens.refresh_token } })
  t.equal(response.statusCode, 204)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 401)
  const again = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } })
  t.equal(again.statusCode, 204, 'idempotent')
  const garbage = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'garbage' } })
  t.equal(garbage.statusCode, 204, 'an unknown token still logs the browser out')
})

t.test('POST /auth/logout ends the sessions of both credentials when they differ', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const a = await login(app)
  const b = await login(app)
  const c = await login(app)
  const response = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(b.access_token), cookies: { refresh_token: a.refresh_token } })
  t.equal(response.statusCode, 204)
  t.equal((await app.inject({ url: '/me', headers: bearer(a.access_token) })).statusCode, 401, "the refresh cookie's session ended")
  t.equal((await app.inject({ url: '/me', headers: bearer(b.access_token) })).statusCode, 401, "the Bearer token's session ended")
  t.equal((await app.inject({ url: '/me', headers: bearer(c.access_token) })).statusCode, 200, 'others live on')

  const d = await login(app)
  const stale = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer('not.a.token'), payload: { refresh_token: d.refresh_token } })
  t.equal(stale.statusCode, 204, 'a bad access token next to a good refresh token still logs out')
  t.equal((await refresh(app, d.refresh_token)).statusCode, 400)
})

t.test('POST /auth/logout refuses a cross-origin cookie request and needs some credential', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const cross = await app.inject({ method: 'POST', url: '/auth/logout', cookies: { refresh_token: tokens.refresh_token }, headers: { origin: 'https://evil.example' } })
  t.equal(cross.statusCode, 403)
  t.match(cross.headers['www-authenticate'], /^Bearer realm=/)
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'still logged in')
  const none = await app.inject({ method: 'POST', url: '/auth/logout' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'FST_JWT_AUTH_NO_TOKEN')
})

t.test('POST /auth/logout-all ends every session of the user', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const a = await login(app)
  const b = await login(app)
  const bob = await login(app, { sub: 'bob' })
  const response = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(a.access_token) })
  t.equal(response.statusCode, 204)
  t.equal((await app.inject({ url: '/me', headers: bearer(b.access_token) })).statusCode, 401)
  t.equal((await app.inject({ url: '/me', headers: bearer(bob.access_token) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout-all' })).statusCode, 401)
  t.match(events.at(-1), { type: 'user-revoked', sub: 'alice' })
})

t.test('GET /auth/sessions lists the caller\'s sessions and marks the current one', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const a = await login(app, {}, { 'user-agent': 'phone' })
  await login(app, {}, { 'user-agent': 'laptop' })
  await login(app, { sub: 'bob' })
  const response = await app.inject({ url: '/auth/sessions', headers: bearer(a.access_token) })
  t.equal(response.statusCode, 200)
  const sessions = response.json()
  t.equal(sessions.length, 2)
  t.same(sessions.map((s: { userAgent: string }) => s.userAgent).sort(), ['laptop', 'phone'])
  t.same(sessions.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id), [decodePart(a.access_token, 1).sid])
  t.equal((await app.inject({ url: '/auth/sessions' })).statusCode, 401)
})

t.test('DELETE /auth/sessions/:id revokes one of the caller\'s own sessions only', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const a = await login(app)
  const b = await login(app)
  const bob = await login(app, { sub: 'bob' })
  const bSid = decodePart(b.access_token, 1).sid as string
  const bobSid = decodePart(bob.access_token, 1).sid as string

  const other = await app.inject({ method: 'DELETE', url: `/auth/sessions/${bobSid}`, headers: bearer(a.access_token) })
  t.equal(other.statusCode, 404, "another user's session is not found")
  t.equal(other.json().code, 'FST_JWT_AUTH_SESSION_NOT_FOUND')
  t.equal((await app.inject({ url: '/me', headers: bearer(bob.access_token) })).statusCode, 200)

  const own = await app.inject({ method: 'DELETE', url: `/auth/sessions/${bSid}`, headers: bearer(a.access_token) })
  t.equal(own.statusCode, 204)
  t.equal(own.cookies.length, 0, 'another session: the caller keeps its cookies')
  t.equal((await app.inject({ url: '/me', headers: bearer(b.access_token) })).statusCode, 401)

  const self = await app.inject({ method: 'DELETE', url: `/auth/sessions/${decodePart(a.access_token, 1).sid as string}`, headers: bearer(a.access_token) })
  t.equal(self.statusCode, 204)
  t.equal(self.cookies.filter(cookie => cookie.value === '').length, 2, 'its own session: cookies cleared')

  const c = await login(app)
  for (const id of ['short', 'a'.repeat(500), 'has%20space', '', 'a/b']) {
    const bad = await app.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(c.access_token) })
    t.equal(bad.statusCode, 400, `malformed id ${id.slice(0, 10)}`)
  }
})

t.test('DELETE /auth/sessions/:id works for session ids longer than Fastify\'s maxParamLength', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const sub = `user-${'x'.repeat(200)}@example.com`
  const a = await login(app, { sub })
  const b = await login(app, { sub })
  const id = decodePart(b.access_token, 1).sid as string
  t.ok(id.length > 100)
  const response = await app.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(a.access_token) })
  t.equal(response.statusCode, 204)
  t.equal((await app.inject({ url: '/me', headers: bearer(b.access_token) })).statusCode, 401)
})

t.test('POST /auth/revoke (RFC 7009) revokes refresh or access tokens and answers 200 for unknown ones', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const a = await login(app)
  const b = await login(app)

  const byRefresh = await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: a.refresh_token, token_type_hint: 'refresh_token' } })
  t.equal(byRefresh.statusCode, 200)
  t.equal(byRefresh.body, '')
  t.equal((await app.inject({ url: '/me', headers: bearer(a.access_token) })).statusCode, 401, 'revoking the refresh token ends the session')
  t.match(events.at(-1), { type: 'session-revoked', reason: 'revoke-endpoint' })

  const form = await app.inject({
    method: 'POST',
    url: '/auth/revoke',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${b.access_token}&token_type_hint=access_token`
  })
  t.equal(form.statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(b.access_token) })).statusCode, 401, 'the access token is denylisted')
  t.equal((await refresh(app, b.refresh_token)).statusCode, 200, 'its session lives on')

  for (const token of ['unknown', `${'A'.repeat(22)}YWxpY2U.${'A'.repeat(43)}`, a.refresh_token]) {
    const response = await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token } })
    t.equal(response.statusCode, 200, 'unknown or already revoked: still 200')
  }
  const c = await login(app)
  const wrongSecret = `${c.refresh_token.split('.')[0] as string}.${'B'.repeat(43)}`
  await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: wrongSecret } })
  t.equal((await refresh(app, c.refresh_token)).statusCode, 200, 'a made-up secret cannot revoke a session')

  const missing = await app.inject({ method: 'POST', url: '/auth/revoke', payload: {} })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'invalid_request')
})

t.test('each built-in route can be turned off, and routes: false registers none', async t => {
  const some = await buildApp({ routes: { refresh: false, logout: false, logoutAll: false, sessions: false } })
  t.teardown(() => some.close())
  const tokens = await login(some)
  t.equal((await some.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })).statusCode, 404)
  t.equal((await some.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) })).statusCode, 404)
  t.equal((await some.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(tokens.access_token) })).statusCode, 404)
  t.equal((await some.inject({ url: '/auth/sessions', headers: bearer(tokens.access_token) })).statusCode, 404)
  t.equal((await some.inject({ method: 'POST', url: '/auth/revoke', payload: { token: 'x' } })).statusCode, 200, 'revoke stays on')

  const none = await buildApp({ routes: false })
  t.teardown(() => none.close())
  const noneTokens = await login(none)
  t.equal((await none.inject({ method: 'POST', url: '/auth/revoke', payload: { token: 'x' } })).statusCode, 404)
  const refreshCookie = (await none.inject({ method: 'POST', url: '/login' })).cookies.find(cookie => cookie.name === 'refresh_token')
  t.equal(refreshCookie?.path, '/', 'without built-in routes the refresh cookie is not scoped to a prefix')
  t.type(noneTokens.refresh_token, 'string')
})

t.test('routes at the root prefix', async t => {
  const app = await buildApp({ routes: { prefix: '' } })
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.equal((await app.inject({ method: 'POST', url: '/refresh', payload: { refresh_token: tokens.refresh_token } })).statusCode, 200)
})

t.test("the token endpoints parse forms with their own parser, not the app's", async t => {
  const other = Fastify()
  other.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, { token: 'from-app-parser', raw: body })
  })
  await other.register(jwtAuth, { secret })
  other.post('/form', async request => request.body)
  t.teardown(() => other.close())
  const response = await other.inject({ method: 'POST', url: '/auth/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=b' })
  t.equal(response.statusCode, 400, 'no token parameter: the app parser, which always yields one, did not run')
  t.equal(response.json().error, 'invalid_request')
  const own = await other.inject({ method: 'POST', url: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=b' })
  t.same(own.json(), { token: 'from-app-parser', raw: 'a=b' }, "the app's own routes keep the app's parser")
})
