// node:diagnostics_channel: every security event on `fastify-jwt-auth:event` (the same events
// onEvent gets), every request the plugin refuses on `fastify-jwt-auth:refusal`, and neither
// carries token material.
import t from 'tap'
import type { Test } from 'tap'
import diagnosticsChannel from 'node:diagnostics_channel'
import { MemoryStore, diagnosticsChannels } from '../lib/index.js'
import type { AuthEvent, AuthRefusal } from '../lib/index.js'
import { bearer, buildApp, interceptStore, login, refresh } from './helpers.js'

function listen (t: Test, name: string): unknown[] {
  const messages: unknown[] = []
  const listener = (message: unknown): void => { messages.push(message) }
  diagnosticsChannel.subscribe(name, listener)
  t.teardown(() => { diagnosticsChannel.unsubscribe(name, listener) })
  return messages
}

t.test('the channel names are the documented ones', async t => {
  t.same(diagnosticsChannels, { event: 'fastify-jwt-auth:event', refusal: 'fastify-jwt-auth:refusal' })
})

t.test('security events are published on fastify-jwt-auth:event, as onEvent receives them', async t => {
  const viaOnEvent: AuthEvent[] = []
  const app = await buildApp({ refreshToken: { reuseGrace: 0 }, onEvent: event => { viaOnEvent.push(event) } })
  t.teardown(() => app.close())
  await login(app, { sub: 'before' }) // nobody listens yet: nothing to publish
  const published = listen(t, diagnosticsChannels.event) as AuthEvent[]

  const first = await login(app)
  const second = await login(app)
  const rotated = await refresh(app, first.refresh_token)
  await refresh(app, first.refresh_token) // reuse: the session is revoked
  await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: second.access_token } })
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: second.refresh_token } })
  await app.jwtAuth.revokeUser('alice')

  t.same(published.map(event => [event.type, event.reason]), [
    ['issued', undefined],
    ['issued', undefined],
    ['refreshed', undefined],
    ['reuse-detected', undefined],
    ['token-revoked', undefined],
    ['session-revoked', 'logout'],
    ['user-revoked', undefined]
  ])
  t.same(published, viaOnEvent.slice(1), 'the very events onEvent received after the subscription')
  const text = JSON.stringify(published)
  for (const token of [first.access_token, first.refresh_token, second.access_token, second.refresh_token, rotated.json().refresh_token]) {
    t.notOk(text.includes(token), 'no token in any event')
  }
})

t.test('refused requests are published on fastify-jwt-auth:refusal with code, status, OAuth name and route', async t => {
  let storeDown = false
  const store = interceptStore(new MemoryStore(), async call => {
    if (storeDown) throw new Error('store down')
    return await call()
  })
  const app = await buildApp({ store, refreshToken: { reuseGrace: 0 } })
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => 'hi')
  t.teardown(() => app.close())
  const refusals = listen(t, diagnosticsChannels.refusal) as AuthRefusal[]

  const session = await login(app)
  await app.inject({ url: '/me' })
  await app.inject({ url: '/me', headers: bearer(`${session.access_token}x`) })
  await app.inject({ url: '/admin', headers: bearer(session.access_token) })
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'not-a-refresh-token' } })
  const unsupported = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/xml' }, payload: '<x/>' })
  t.equal(unsupported.statusCode, 415, "Fastify's own refusal, not the plugin's")
  storeDown = true
  const outage = await app.inject({ url: '/me', headers: bearer(session.access_token) })
  t.equal(outage.statusCode, 503, 'a store outage is no refusal')
  storeDown = false

  t.same(refusals, [
    { code: 'FST_JWT_AUTH_NO_TOKEN', statusCode: 401, method: 'GET', route: '/me' },
    { code: 'FST_JWT_AUTH_TOKEN_INVALID', statusCode: 401, error: 'invalid_token', method: 'GET', route: '/me' },
    { code: 'FST_JWT_AUTH_INSUFFICIENT_SCOPE', statusCode: 403, error: 'insufficient_scope', method: 'GET', route: '/admin' },
    { code: 'FST_JWT_AUTH_INVALID_GRANT', statusCode: 400, error: 'invalid_grant', method: 'POST', route: '/auth/refresh' }
  ])
})

t.test('the session routes publish their 404 and the 400s of their schemas and bodies, each refusal once', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const session = await login(app)
  const refusals = listen(t, diagnosticsChannels.refusal) as AuthRefusal[]

  const unknown = await app.inject({ method: 'DELETE', url: `/auth/sessions/${'a'.repeat(30)}`, headers: bearer(session.access_token) })
  t.equal(unknown.statusCode, 404)
  const shortId = await app.inject({ method: 'DELETE', url: '/auth/sessions/short' })
  t.equal(shortId.statusCode, 400)
  const longToken = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'x'.repeat(5000) } })
  t.equal(longToken.statusCode, 400)
  const notJson = await app.inject({ method: 'POST', url: '/auth/logout', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(notJson.statusCode, 400)
  const malformed = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: 'Bearer two words' } })
  t.equal(malformed.json().code, 'FST_JWT_AUTH_INVALID_REQUEST', "the plugin's own 400")
  const anonymous = await app.inject({ url: '/auth/sessions' })
  t.equal(anonymous.statusCode, 401)

  t.same(refusals, [
    { code: 'FST_JWT_AUTH_SESSION_NOT_FOUND', statusCode: 404, method: 'DELETE', route: '/auth/sessions/*' },
    { code: 'FST_ERR_VALIDATION', statusCode: 400, method: 'DELETE', route: '/auth/sessions/*' },
    { code: 'FST_ERR_VALIDATION', statusCode: 400, method: 'POST', route: '/auth/logout' },
    { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400, method: 'POST', route: '/auth/logout' },
    { code: 'FST_JWT_AUTH_INVALID_REQUEST', statusCode: 400, error: 'invalid_request', method: 'POST', route: '/auth/logout-all' },
    { code: 'FST_JWT_AUTH_NO_TOKEN', statusCode: 401, method: 'GET', route: '/auth/sessions' }
  ])
})

t.test('subscribers and onEvent receive one frozen event: none can change what the others see', async t => {
  const viaOnEvent: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => { viaOnEvent.push(event) } })
  t.teardown(() => app.close())
  const tamper = (event: unknown): void => { Reflect.set(event as object, 'sub', 'mallory') }
  diagnosticsChannel.subscribe(diagnosticsChannels.event, tamper)
  t.teardown(() => { diagnosticsChannel.unsubscribe(diagnosticsChannels.event, tamper) })

  await login(app)
  t.equal(viaOnEvent[0]?.type, 'issued')
  t.equal(viaOnEvent[0]?.sub, 'alice', "a subscriber's write does not reach onEvent")
  t.ok(Object.isFrozen(viaOnEvent[0]))
})
