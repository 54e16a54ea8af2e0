import t from 'tap'
import { MemoryStore } from '../lib/index.js'
import type { AuthEvent } from '../lib/index.js'
import { bearer, buildApp, cookieValues, decodePart, interceptStore, login, manualClock, refresh } from './helpers.js'

t.test('refresh rotates: a new pair, the old refresh token is spent', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ refreshToken: { reuseGrace: 0 }, onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const first = await login(app)
  const response = await refresh(app, first.refresh_token)
  t.equal(response.statusCode, 200)
  const second = response.json()
  t.same(Object.keys(second).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
  t.equal(response.headers['cache-control'], 'no-store', 'RFC 6749 §5.1')
  t.equal(response.headers.pragma, 'no-cache')
  t.not(second.refresh_token, first.refresh_token)
  t.not(second.access_token, first.access_token)
  const claims = decodePart(second.access_token, 1)
  t.equal(claims.sid, decodePart(first.access_token, 1).sid, 'same session')
  t.same(claims.roles, ['user'], 'the login claims are carried over')
  t.equal((await app.inject({ url: '/me', headers: bearer(second.access_token) })).statusCode, 200)
  t.same(events.map(event => event.type), ['issued', 'refreshed'])
})

t.test('refresh tokens are opaque, carry 256 random bits, and the store only ever sees digests', async t => {
  const memory = new MemoryStore()
  const seen: string[] = []
  const recording = interceptStore(memory, async (call, args) => {
    seen.push(JSON.stringify(args))
    const result = await call()
    seen.push(JSON.stringify(result))
    return result
  })
  const app = await buildApp({ store: recording })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const [sessionId, secretPart] = tokens.refresh_token.split('.') as [string, string]
  t.equal(tokens.refresh_token.split('.').length, 2, 'not JWT-shaped')
  t.equal(Buffer.from(secretPart, 'base64url').length, 32)
  t.equal(sessionId, decodePart(tokens.access_token, 1).sid, 'the session id can be read from the token')
  const next = (await refresh(app, tokens.refresh_token)).json()
  const again = (await refresh(app, tokens.refresh_token)).json() // grace: the store returns a sealed successor
  t.equal(again.refresh_token, next.refresh_token)
  await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: next.refresh_token } })
  t.ok(seen.length >= 8, 'the store was called')
  for (const secret of [secretPart, (next.refresh_token as string).split('.')[1] as string]) {
    t.notOk(seen.some(text => text.includes(secret)), 'no refresh-token secret reaches the store')
  }
})

t.test('reuse of a rotated token outside grace revokes the session and its live access tokens', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ refreshToken: { reuseGrace: 0 }, onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const first = await login(app)
  const second = (await refresh(app, first.refresh_token)).json()
  const other = await login(app) // another device of the same user

  const reuse = await refresh(app, first.refresh_token)
  t.equal(reuse.statusCode, 400)
  t.same(reuse.json(), {
    statusCode: 400,
    code: 'FST_JWT_AUTH_INVALID_GRANT',
    error: 'invalid_grant',
    error_description: 'The refresh token was already used: the session is revoked',
    message: 'The refresh token was already used: the session is revoked'
  })
  const me = await app.inject({ url: '/me', headers: bearer(second.access_token) })
  t.equal(me.statusCode, 401, 'the live access token of the session is rejected')
  t.equal(me.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED')
  t.equal((await refresh(app, second.refresh_token)).statusCode, 400, 'the successor chain is dead too')
  t.equal((await app.inject({ url: '/me', headers: bearer(other.access_token) })).statusCode, 200, 'other sessions live on')
  const reuseEvent = events.find(event => event.type === 'reuse-detected')
  t.ok(reuseEvent, 'a security event is emitted')
  t.equal(reuseEvent?.sessionId, decodePart(first.access_token, 1).sid)
  t.notMatch(JSON.stringify(events), first.refresh_token.split('.')[1] as string, 'events carry no token material')
  t.notMatch(JSON.stringify(events), first.access_token)
})

t.test('grace covers the chain: an ancestor rotated within grace gets the live pair; after grace it is reuse', async t => {
  const clock = manualClock()
  const app = await buildApp({ store: new MemoryStore({ now: clock.now }), refreshToken: { reuseGrace: '10s' } })
  t.teardown(() => app.close())
  const t0 = await login(app)
  const t1 = (await refresh(app, t0.refresh_token)).json()
  clock.advance(9_000)
  const again = await refresh(app, t0.refresh_token)
  t.equal(again.statusCode, 200, 'predecessor within grace')
  t.equal(again.json().refresh_token, t1.refresh_token, 'the same successor refresh token')
  t.not(again.json().access_token, t1.access_token, 'a fresh access token')

  const t2 = (await refresh(app, t1.refresh_token)).json()
  const ancestor = await refresh(app, t0.refresh_token)
  t.equal(ancestor.statusCode, 200, 'T0 is two generations old but was rotated 9 s ago: not reuse')
  t.equal(ancestor.json().refresh_token, t2.refresh_token, 'it is led to the live refresh token, not to its own successor')
  t.equal(decodePart(ancestor.json().access_token, 1).sid, decodePart(t2.access_token, 1).sid)

  clock.advance(1_000)
  const late = await refresh(app, t0.refresh_token)
  t.equal(late.statusCode, 400, 'rotated 10 s ago: reuse, although its successor T1 is still within grace')
  t.equal((await refresh(app, t2.refresh_token)).statusCode, 400, 'and the session is revoked')
})

t.test('reuseGrace 0 turns grace off, even within the same millisecond', async t => {
  const clock = manualClock()
  const app = await buildApp({ store: new MemoryStore({ now: clock.now }), refreshToken: { reuseGrace: 0 } })
  t.teardown(() => app.close())
  const t0 = await login(app)
  t.equal((await refresh(app, t0.refresh_token)).statusCode, 200)
  t.equal((await refresh(app, t0.refresh_token)).statusCode, 400, 'replay at the same instant is reuse')
})

t.test('with cookies off, refresh takes the body and sets no cookie', async t => {
  const app = await buildApp({ cookies: false })
  t.teardown(() => app.close())
  const t0 = await login(app)
  const response = await refresh(app, t0.refresh_token)
  t.equal(response.statusCode, 200)
  t.equal(response.cookies.length, 0)
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { refresh_token: response.json().refresh_token } })).statusCode, 400, 'a cookie is not read')
})

t.test('a body token next to a cleared (empty) refresh cookie is used', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const t0 = await login(app)
  const response = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t0.refresh_token }, cookies: { refresh_token: '' } })
  t.equal(response.statusCode, 200)
})

t.test('grace ends: the predecessor after reuseGrace is reuse', async t => {
  const clock = manualClock()
  const app = await buildApp({ store: new MemoryStore({ now: clock.now }), refreshToken: { reuseGrace: '10s' } })
  t.teardown(() => app.close())
  const t0 = await login(app)
  const t1 = (await refresh(app, t0.refresh_token)).json()
  clock.advance(10_001)
  t.equal((await refresh(app, t0.refresh_token)).statusCode, 400)
  t.equal((await refresh(app, t1.refresh_token)).statusCode, 400, 'session revoked')
})

t.test('20 concurrent refreshes with one token leave exactly one live chain', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const responses = await Promise.all(Array.from({ length: 20 }, async () => await refresh(app, tokens.refresh_token)))
  t.ok(responses.every(response => response.statusCode === 200), 'all succeed within grace')
  const successors = new Set(responses.map(response => response.json().refresh_token))
  t.equal(successors.size, 1, 'one successor')
  const [successor] = [...successors] as [string]
  const next = await refresh(app, successor)
  t.equal(next.statusCode, 200, 'the chain continues')
  t.equal((await app.jwtAuth.listSessions('alice')).length, 1, 'one session')
})

t.test('a made-up secret for a known session id is refused and ends nothing', async t => {
  const events: AuthEvent[] = []
  const app = await buildApp({ onEvent: event => events.push(event) })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const sessionId = tokens.refresh_token.split('.')[0] as string // also the sid of every access token
  const forged = `${sessionId}.${'A'.repeat(43)}`
  const response = await refresh(app, forged)
  t.equal(response.statusCode, 400)
  t.equal(response.json().error, 'invalid_grant')
  t.notOk(events.some(event => event.type === 'reuse-detected'), 'no reuse event')
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'the session lives on')
})

t.test('idle timeout: a session unused for longer than idleTimeout dies; each refresh restarts it', async t => {
  const clock = manualClock()
  const app = await buildApp({ store: new MemoryStore({ now: clock.now }), refreshToken: { expiresIn: '30d', idleTimeout: '7d' } })
  t.teardown(() => app.close())
  let tokens = await login(app)
  for (let day = 0; day < 3; day++) {
    clock.advance(6 * 86_400_000)
    const response = await refresh(app, tokens.refresh_token)
    t.equal(response.statusCode, 200, `refresh after 6 idle days (#${day + 1})`)
    tokens = response.json()
  }
  clock.advance(7 * 86_400_000 + 1)
  const late = await refresh(app, tokens.refresh_token)
  t.equal(late.statusCode, 400)
  t.equal(late.json().error_description, 'The refresh token is invalid or expired')
})

t.test('absolute lifetime is fixed at login and never extended by rotation', async t => {
  const clock = manualClock()
  const app = await buildApp({ store: new MemoryStore({ now: clock.now }), refreshToken: { expiresIn: '10d', idleTimeout: '7d' } })
  t.teardown(() => app.close())
  let tokens = await login(app)
  clock.advance(5 * 86_400_000)
  tokens = (await refresh(app, tokens.refresh_token)).json()
  const [session] = await app.jwtAuth.listSessions('alice')
  t.equal(session?.expiresAt, clock.now() + 5 * 86_400_000, 'expiresAt is the absolute end, not now + idle')
  clock.advance(4 * 86_400_000)
  tokens = (await refresh(app, tokens.refresh_token)).json()
  clock.advance(86_400_000)
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 400, 'dead at day 10 although used a day ago')
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 401, 'its access tokens die with it')
})

t.test('the refresh cookie works alone, rotates, and is scoped to the auth prefix', async t => {
  const app = await buildApp({ routes: { prefix: '/api/auth' } })
  t.teardown(() => app.close())
  const loginResponse = await app.inject({ method: 'POST', url: '/login' })
  const refreshCookie = loginResponse.cookies.find(cookie => cookie.name === 'refresh_token')
  t.match(refreshCookie, { path: '/api/auth', httpOnly: true, sameSite: 'Strict' })
  const accessCookie = loginResponse.cookies.find(cookie => cookie.name === 'access_token')
  t.match(accessCookie, { path: '/', httpOnly: true, sameSite: 'Lax', maxAge: 900 })
  const response = await app.inject({ method: 'POST', url: '/api/auth/refresh', cookies: { refresh_token: refreshCookie?.value as string } })
  t.equal(response.statusCode, 200)
  t.not(cookieValues(response).refresh_token, refreshCookie?.value)
  t.same(Object.keys(response.json()).sort(), ['expires_in', 'token_type'], 'a refresh by cookie answers in the cookies alone')
})

t.test('cookies are Secure by default', async t => {
  const app = await buildApp({ cookies: true })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.ok(response.cookies.every(cookie => (cookie as { secure?: boolean }).secure === true))
})

t.test('a cookie-only refresh from another origin is refused', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const response = await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { refresh_token: tokens.refresh_token }, headers: { origin: 'https://evil.example' } })
  t.equal(response.statusCode, 403)
  t.equal(response.json().code, 'FST_JWT_AUTH_CROSS_ORIGIN')
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'the token was not spent')
})

t.test('malformed refresh requests are 400 invalid_request or invalid_grant, never 5xx', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const other = await login(app)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['no token at all', { method: 'POST', url: '/auth/refresh' }, 'invalid_request'],
    ['empty JSON object', { method: 'POST', url: '/auth/refresh', payload: {} }, 'invalid_request'],
    ['token a number (coerced to a string by Fastify, then no token)', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: 42 } }, 'invalid_grant'],
    ['token an object', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: { $gt: '' } } }, 'invalid_request'],
    ['empty token', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: '' } }, 'invalid_request'],
    ['huge token', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'a'.repeat(5000) } }, 'invalid_request'],
    ['body not JSON', { method: 'POST', url: '/auth/refresh', payload: '{"refresh_token":', headers: { 'content-type': 'application/json' } }, 'invalid_request'],
    ['body a JSON array', { method: 'POST', url: '/auth/refresh', payload: '[]', headers: { 'content-type': 'application/json' } }, 'invalid_request'],
    ['body a JSON string', { method: 'POST', url: '/auth/refresh', payload: '"x"', headers: { 'content-type': 'application/json' } }, 'invalid_request'],
    ['two different tokens', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token }, cookies: { refresh_token: other.refresh_token } }, 'invalid_request'],
    ['garbage token', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'not-a-token' } }, 'invalid_grant'],
    ['an access token', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.access_token } }, 'invalid_grant'],
    ['bad session id', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: `${'A'.repeat(22)}_.${'A'.repeat(43)}` } }, 'invalid_grant'],
    ['unknown session', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: `${'A'.repeat(22)}YWxpY2U.${'A'.repeat(43)}` } }, 'invalid_grant'],
    ['secret with bad characters', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: `${tokens.refresh_token.split('.')[0] as string}.${'*'.repeat(43)}` } }, 'invalid_grant'],
    ['non-canonical sub encoding', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: `${'A'.repeat(22)}_w.${'A'.repeat(43)}` } }, 'invalid_grant'],
    ['other grant type', { method: 'POST', url: '/auth/refresh', payload: { grant_type: 'password', refresh_token: tokens.refresh_token } }, 'unsupported_grant_type']
  ]
  for (const [name, request, error] of cases) {
    const response = await app.inject(request as never)
    t.equal(response.statusCode, 400, name)
    t.equal(response.json().error, error, name)
    t.equal(response.headers['cache-control'], 'no-store', name)
  }
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'nothing was lost: the real token still works')
})

t.test('an RFC 6749 form-encoded refresh works', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const response = await app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }).toString()
  })
  t.equal(response.statusCode, 200)
  t.type(response.json().refresh_token, 'string')
})

t.test('a refused refresh cookie is cleared, malformed tokens included; a refused body token clears nothing', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (const token of [`${'A'.repeat(22)}YWxpY2U.${'A'.repeat(43)}`, 'malformed']) {
    const byCookie = await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { refresh_token: token } })
    t.equal(byCookie.statusCode, 400)
    const cleared = byCookie.cookies.filter(cookie => cookie.value === '')
    t.same(cleared.map(cookie => cookie.name).sort(), ['access_token', 'refresh_token'], token)
    // The body's token may be anyone's (a cross-site form, another client): the browser's own session stays.
    const byBody = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
    t.equal(byBody.statusCode, 400)
    t.same(byBody.cookies, [], `${token} in the body`)
  }
})

t.test('a grace chain whose link does not open answers invalid_grant, never a token', async t => {
  const memory = new MemoryStore()
  let breakLink: number | null = null
  const store = interceptStore(memory, async (call, _args, method) => {
    const result = await call() as { status: string, sealedSuccessors?: string[] }
    if (method === 'rotateRefreshToken' && result.status === 'grace' && breakLink !== null) {
      const links = [...result.sealedSuccessors as string[]]
      links[breakLink] = (links[breakLink] as string).slice(0, -4) + 'AAAA'
      return { ...result, sealedSuccessors: links }
    }
    return result
  })
  const app = await buildApp({ store })
  t.teardown(() => app.close())
  const t0 = await login(app)
  const t1 = (await refresh(app, t0.refresh_token)).json()
  await refresh(app, t1.refresh_token)
  for (const link of [0, 1]) {
    breakLink = link
    const response = await refresh(app, t0.refresh_token)
    t.equal(response.statusCode, 400, `link ${link} tampered`)
    t.equal(response.json().error, 'invalid_grant')
    t.notOk('refresh_token' in response.json())
  }
  breakLink = null
  t.equal((await refresh(app, t0.refresh_token)).statusCode, 200, 'the untampered chain still leads back')
})
