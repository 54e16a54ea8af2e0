import t from 'tap'
import { MemoryStore } from '../lib/index.js'
import type { AuthEvent } from '../lib/index.js'
import { bearer, buildApp, decodePart, login, manualClock, refresh } from './helpers.js'

t.test('revokeToken: one access token, by string or by payload', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const a = await login(app)
  const b = await login(app)
  t.equal(await app.jwtAuth.revokeToken(a.access_token), true)
  const revoked = await app.inject({ url: '/me', headers: bearer(a.access_token) })
  t.equal(revoked.statusCode, 401)
  t.equal(revoked.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED')
  t.match(revoked.headers['www-authenticate'], /error="invalid_token", error_description="The access token has been revoked"/)
  t.equal((await refresh(app, a.refresh_token)).statusCode, 200, 'the session lives on')

  const user = (await app.inject({ url: '/me', headers: bearer(b.access_token) })).json()
  t.equal(await app.jwtAuth.revokeToken(user), true, 'request.user works as the argument')
  t.equal((await app.inject({ url: '/me', headers: bearer(b.access_token) })).statusCode, 401)

  t.equal(await app.jwtAuth.revokeToken('not-a-token'), false, 'nothing to revoke in garbage')
  t.equal(await app.jwtAuth.revokeToken({ sub: 'alice', jti: 'far', exp: 1e300 }), true, 'a made-up exp is capped')
  t.equal(await app.jwtAuth.revokeToken({ sub: 'alice', jti: 'nan', exp: Number.NaN }), false, 'NaN exp revokes nothing')
  t.equal(await app.jwtAuth.revokeToken({ sub: 'alice', jti: 'x', exp: 1 }), false, 'an expired token needs no entry')
  t.equal(await app.jwtAuth.revokeToken({ sub: 'alice' } as never), false, 'incomplete claims: no jti')
  t.equal(await app.jwtAuth.revokeToken({ sub: 'alice', jti: 'x' } as never), false, 'incomplete claims: no exp')
  await t.rejects(app.jwtAuth.revokeToken({ sub: '', jti: 'x', exp: Date.now() / 1000 + 60 }), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  t.equal(events.filter(event => event.type === 'token-revoked').length, 3, 'two tokens and the capped one')
})

t.test('a denylist entry lasts exactly until the token would have expired', async t => {
  const clock = manualClock()
  const store = new MemoryStore({ now: clock.now, sweepInterval: 0 })
  const app = await buildApp({ store, clockTolerance: 0 })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const { jti, exp } = decodePart(tokens.access_token, 1) as { jti: string, exp: number }
  await app.jwtAuth.revokeToken(tokens.access_token)
  t.equal(await store.isRevoked('alice', decodePart(tokens.access_token, 1).sid as string, jti), true)
  t.equal(store.size.deniedTokens, 1)
  clock.advance(exp * 1000 - Date.now() + 1000)
  await store.revokeToken('bob', 'other', 60_000) // any write sweeps
  t.equal(store.size.deniedTokens, 1, 'the expired entry is gone, only the new one is left')
})

t.test('revokeSession: one device; its refresh chain and access tokens die, others live', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const phone = await login(app, {}, { 'user-agent': 'phone' })
  const laptop = await login(app, {}, { 'user-agent': 'laptop' })
  const sid = decodePart(phone.access_token, 1).sid as string
  t.equal(await app.jwtAuth.revokeSession(sid), true)
  t.equal(await app.jwtAuth.revokeSession(sid), false, 'already gone')
  t.equal(await app.jwtAuth.revokeSession('nonsense'), false)
  t.equal(await app.jwtAuth.revokeSession(42 as unknown as string), false, 'not a string')
  t.equal((await app.inject({ url: '/me', headers: bearer(phone.access_token) })).statusCode, 401)
  t.equal((await refresh(app, phone.refresh_token)).statusCode, 400)
  t.equal((await app.inject({ url: '/me', headers: bearer(laptop.access_token) })).statusCode, 200)
  t.match(events.at(-1), { type: 'session-revoked', sub: 'alice', sessionId: sid, reason: 'api' })
})

t.test('revokeUser: every session and every access token issued before the call', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const sessions = [await login(app), await login(app), await login(app)]
  const bob = await login(app, { sub: 'bob' })
  t.equal(await app.jwtAuth.revokeUser('alice'), 3)
  for (const tokens of sessions) {
    t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 401)
    t.equal((await refresh(app, tokens.refresh_token)).statusCode, 400)
  }
  t.equal((await app.inject({ url: '/me', headers: bearer(bob.access_token) })).statusCode, 200)
  const after = await login(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(after.access_token) })).statusCode, 200, 'a later login works')
  t.equal(await app.jwtAuth.revokeUser('nobody'), 0)
  await t.rejects(app.jwtAuth.revokeUser(42 as unknown as string), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
})

t.test('listSessions: id, createdAt, lastUsedAt, expiresAt, authTime, persistent, userAgent, ip', async t => {
  const clock = manualClock()
  const app = await buildApp({ store: new MemoryStore({ now: clock.now }) })
  t.teardown(() => app.close())
  const tokens = await login(app, {}, { 'user-agent': 'Firefox/140' })
  const created = clock.now()
  clock.advance(60_000)
  await refresh(app, tokens.refresh_token)
  const sessions = await app.jwtAuth.listSessions('alice')
  t.same(sessions, [{
    id: decodePart(tokens.access_token, 1).sid,
    sub: 'alice',
    createdAt: created,
    lastUsedAt: created + 60_000,
    expiresAt: created + 60_000 + 7 * 86_400_000,
    authTime: created,
    persistent: true,
    userAgent: 'Firefox/140',
    ip: '127.0.0.1'
  }])
  t.same(await app.jwtAuth.listSessions('nobody'), [])
  await t.rejects(app.jwtAuth.listSessions(''), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
})

t.test('the session cap evicts the oldest session of the user', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ maxSessionsPerUser: 2, onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const first = await login(app)
  const second = await login(app)
  const third = await login(app)
  t.equal((await app.jwtAuth.listSessions('alice')).length, 2)
  t.equal((await app.inject({ url: '/me', headers: bearer(first.access_token) })).statusCode, 401, 'oldest evicted')
  t.equal((await app.inject({ url: '/me', headers: bearer(second.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(third.access_token) })).statusCode, 200)
  t.match(events.find(event => event.reason === 'evicted'), { type: 'session-revoked', sessionId: decodePart(first.access_token, 1).sid })
})

t.test('the default cap is 10 sessions', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (let i = 0; i < 12; i++) await login(app)
  t.equal((await app.jwtAuth.listSessions('alice')).length, 10)
})

t.test('expired sessions are swept from memory', async t => {
  const clock = manualClock()
  const store = new MemoryStore({ now: clock.now, sweepInterval: 1000 })
  const app = await buildApp({ store, refreshToken: { expiresIn: '1h' } })
  t.teardown(() => app.close())
  await login(app)
  await login(app, { sub: 'bob' })
  t.equal(store.size.sessions, 2)
  clock.advance(3_600_001)
  await login(app, { sub: 'carol' })
  t.equal(store.size.sessions, 1, 'only the live session is held')
  t.same(await app.jwtAuth.listSessions('alice'), [])
})

t.test('the onEvent hook sees issued, refreshed, revoked; a throwing hook is logged and ignored', async t => {
  const lines: string[] = []
  const app = await buildApp({ onEvent: () => { throw new Error('metrics down') } }, { logger: { stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
  t.ok(lines.some(line => line.includes('onEvent handler failed') && line.includes('metrics down')))
})

t.test('an async onEvent hook that rejects is logged and ignored, not an unhandled rejection', async t => {
  const lines: string[] = []
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  let rejected = 0
  const app = await buildApp({
    onEvent: async () => { rejected++; throw new Error('queue full') }
  }, { logger: { stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
  await new Promise(resolve => setImmediate(resolve))
  t.equal(rejected, 2, 'issued and refreshed')
  t.equal(lines.filter(line => line.includes('onEvent handler failed') && line.includes('queue full')).length, 2)
  t.same(unhandled, [])
})
