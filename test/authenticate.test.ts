import t from 'tap'
import Fastify from 'fastify'
import jwtAuth, { MemoryStore } from '../lib/index.js'
import { bearer, buildApp, decodePart, interceptStore, login, secret } from './helpers.js'

t.test('the access token is read from the Bearer header', async t => {
  const app = await buildApp({ cookies: false })
  t.teardown(() => app.close())
  const { access_token: token } = await login(app)
  for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER   ${token}`]) {
    const response = await app.inject({ url: '/me', headers: { authorization: header } })
    t.equal(response.statusCode, 200, JSON.stringify(header.slice(0, 9)))
  }
})

t.test('the access token is read from the httpOnly cookie', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const { cookies } = await login(app)
  const response = await app.inject({ url: '/me', cookies: { access_token: cookies.access_token as string } })
  t.equal(response.statusCode, 200)
  t.equal(response.json().sub, 'alice')
})

t.test('cookie names are configurable, and cookies off means the cookie is ignored', async t => {
  const named = await buildApp({ cookies: { secure: false, accessName: 'at', refreshName: 'rt' } })
  t.teardown(() => named.close())
  const { cookies } = await login(named)
  t.same(Object.keys(cookies).sort(), ['at', 'rt'])
  t.equal((await named.inject({ url: '/me', cookies: { at: cookies.at as string } })).statusCode, 200)

  const off = await buildApp({ cookies: false })
  t.teardown(() => off.close())
  const tokens = await login(off)
  t.same(tokens.cookies, {}, 'no cookies are set')
  const response = await off.inject({ url: '/me', cookies: { access_token: tokens.access_token } })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'FST_JWT_AUTH_NO_TOKEN')
})

t.test('no credentials: 401 with a bare Bearer challenge (RFC 6750 §3.1)', async t => {
  const app = await buildApp({ realm: 'example "api"' })
  t.teardown(() => app.close())
  for (const headers of [{}, { authorization: 'Basic YWxpY2U6c2VjcmV0' }, { cookie: 'access_token=' }]) {
    const response = await app.inject({ url: '/me', headers })
    t.equal(response.statusCode, 401)
    t.equal(response.headers['www-authenticate'], 'Bearer realm="example \\"api\\""')
    t.same(response.json(), { statusCode: 401, code: 'FST_JWT_AUTH_NO_TOKEN', error: 'Unauthorized', message: 'No access token was presented' })
  }
})

t.test('malformed Authorization headers are 400 invalid_request, never 5xx', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const { access_token: token } = await login(app)
  for (const header of ['Bearer', 'Bearer ', `Bearer ${token} extra`, 'Bearer a,b', `Bearer\t${token}`, 'Bearer é', `Bearer ${token}==x`]) {
    const response = await app.inject({ url: '/me', headers: { authorization: header } })
    t.equal(response.statusCode, 400, JSON.stringify(header.slice(0, 20)))
    t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_REQUEST')
    t.match(response.headers['www-authenticate'], /error="invalid_request"/)
  }
  for (const header of ['Bearer ....', 'Bearer a.b', 'Bearer ' + 'a'.repeat(8000)]) {
    const response = await app.inject({ url: '/me', headers: { authorization: header } })
    t.equal(response.statusCode, 401, 'well-formed but not a token: invalid_token')
  }
})

t.test('two different tokens in header and cookie are 400; the same token twice is accepted', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const first = await login(app)
  const second = await login(app)
  const conflict = await app.inject({ url: '/me', headers: bearer(first.access_token), cookies: { access_token: second.access_token } })
  t.equal(conflict.statusCode, 400)
  t.equal(conflict.json().code, 'FST_JWT_AUTH_INVALID_REQUEST')
  const same = await app.inject({ url: '/me', headers: bearer(first.access_token), cookies: { access_token: first.access_token } })
  t.equal(same.statusCode, 200)
})

t.test('cross-origin unsafe requests authenticated by cookie are refused with 403', async t => {
  const app = await buildApp({ cookies: { secure: false, allowedOrigins: ['https://app.example.com'] } })
  t.teardown(() => app.close())
  const { access_token: token } = await login(app)
  const cookies = { access_token: token }
  const post = async (headers: Record<string, string>, method: 'POST' | 'GET' = 'POST'): Promise<number> =>
    (await app.inject({ method, url: '/me', cookies, headers: { host: 'api.example.com', ...headers } })).statusCode

  const refused = await app.inject({ method: 'POST', url: '/me', cookies, headers: { host: 'api.example.com', origin: 'https://evil.example' } })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'FST_JWT_AUTH_CROSS_ORIGIN')
  t.equal(await post({ origin: 'null' }), 403, 'opaque origin')
  t.equal(await post({ 'sec-fetch-site': 'cross-site' }), 403, 'Sec-Fetch-Site cross-site')
  t.equal(await post({ 'sec-fetch-site': 'same-site' }), 403, 'a sibling subdomain is another origin')
  t.equal(await post({ origin: 'http://api.example.com' }), 200, 'same origin')
  t.equal(await post({ origin: 'https://app.example.com' }), 200, 'allowed origin')
  t.equal(await post({ 'sec-fetch-site': 'same-origin' }), 200, 'Sec-Fetch-Site same-origin')
  t.equal(await post({ 'sec-fetch-site': 'none' }), 200, 'user-initiated navigation')
  t.equal(await post({}), 200, 'no browser headers (curl, server to server)')
  t.equal(await post({ origin: 'https://evil.example' }, 'GET'), 200, 'safe methods are not checked')
  const withBearer = await app.inject({ method: 'POST', url: '/me', headers: { ...bearer(token), origin: 'https://evil.example' } })
  t.equal(withBearer.statusCode, 200, 'Bearer-authenticated requests are not CSRF-able')
})

t.test('the origin check can be turned off', async t => {
  const app = await buildApp({ cookies: { secure: false, originCheck: false } })
  t.teardown(() => app.close())
  const { access_token: token } = await login(app)
  const response = await app.inject({ method: 'POST', url: '/me', cookies: { access_token: token }, headers: { origin: 'https://evil.example' } })
  t.equal(response.statusCode, 200)
})

t.test('a store outage fails closed with 503 and Retry-After, then recovers', async t => {
  const store = new MemoryStore()
  let down = false
  const flaky = interceptStore(store, async call => {
    if (down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379')
    return await call()
  })
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtAuth, { secret, store: flaky, cookies: { secure: false } })
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  t.teardown(() => app.close())
  const tokens = (await app.inject({ method: 'POST', url: '/login' })).json()

  down = true
  for (const [name, request] of [
    ['protected route', { url: '/me', headers: bearer(tokens.access_token) }],
    ['refresh', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } }],
    ['login', { method: 'POST', url: '/login' }],
    ['logout', { method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) }],
    ['logout with both tokens', { method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token), payload: { refresh_token: tokens.refresh_token } }]
  ] as const) {
    const response = await app.inject(request as never)
    t.equal(response.statusCode, 503, name)
    t.equal(response.headers['retry-after'], '5', name)
    t.equal(response.json().code, 'FST_JWT_AUTH_STORE_UNAVAILABLE', name)
  }
  await t.rejects(app.jwtAuth.revokeUser('alice'), { code: 'FST_JWT_AUTH_STORE_UNAVAILABLE' })
  t.ok(lines.some(line => line.includes('"storeOperation":"isRevoked"')), 'the failure is logged with its operation')
  t.notOk(lines.some(line => line.includes(tokens.access_token) || line.includes(tokens.refresh_token)), 'no token in the logs')

  down = false
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'recovers by itself')
})

t.test('the plugin calls store.close() when the app closes', async t => {
  let closed = 0
  const store = Object.assign(new MemoryStore(), { close: async () => { closed++ } })
  const app = Fastify()
  await app.register(jwtAuth, { secret, store })
  await app.ready()
  await app.close()
  t.equal(closed, 1, 'close is called once')

  const own = Fastify()
  await own.register(jwtAuth, { secret })
  await own.ready()
  t.type(own.jwtAuth.store, MemoryStore, 'the default store is a MemoryStore')
  await own.close()
})

t.test('app.jwtAuth.verifyAccessToken checks signature, claims and revocation without a request', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const payload = await app.jwtAuth.verifyAccessToken(tokens.access_token)
  t.equal(payload.sub, 'alice')
  await t.rejects(app.jwtAuth.verifyAccessToken('garbage'), { code: 'FST_JWT_AUTH_TOKEN_INVALID' })
  await app.jwtAuth.revokeSession(payload.sid)
  await t.rejects(app.jwtAuth.verifyAccessToken(tokens.access_token), { code: 'FST_JWT_AUTH_TOKEN_REVOKED' })
})

t.test('a store whose isRevoked throws at once is a 503, on the hook and on the built-in routes alike', async t => {
  const memory = new MemoryStore()
  const throwing = new Proxy(memory, {
    get (target, property) {
      if (property === 'isRevoked') return () => { throw new Error('the store broke') }
      const value = Reflect.get(target, property, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const app = await buildApp({ store: throwing })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const response = await app.inject({ url: '/me', headers: bearer(tokens.access_token) })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_JWT_AUTH_STORE_UNAVAILABLE')
  t.equal(response.headers['retry-after'], '5')
})

t.test('a store that answers isRevoked with a promise: the built-in routes wait for it', async t => {
  const store = new MemoryStore()
  const app = await buildApp({ store: interceptStore(store, async call => await call()) })
  t.teardown(() => app.close())
  const revoked = await login(app)
  await app.jwtAuth.revokeToken(revoked.access_token)
  const refused = await app.inject({ url: '/auth/sessions', headers: bearer(revoked.access_token) })
  t.equal(refused.statusCode, 401, 'a revoked token, answered later')
  t.equal(refused.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED')
  const live = await login(app)
  t.equal((await app.inject({ url: '/auth/sessions', headers: bearer(live.access_token) })).statusCode, 200)
  // Logout with a refresh token and an access token: the access token's session ends too, once the store answered.
  const other = await login(app)
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(live.access_token), payload: { refresh_token: other.refresh_token } })
  t.equal(logout.statusCode, 204)
  t.same(await store.listSessions('alice').then(sessions => sessions.map(session => session.id)).then(ids => ids.includes(decodePart(live.access_token, 1).sid as string) || ids.includes(decodePart(other.access_token, 1).sid as string)), false,
    'both sessions ended')
  const third = await login(app)
  const withRevoked = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(revoked.access_token), payload: { refresh_token: third.refresh_token } })
  t.equal(withRevoked.statusCode, 204, 'a revoked access token beside the refresh token is ignored; the refresh token\'s session ends')
})

t.test('a revoked token is refused on every path that checks it: the app API and logout beside a refresh token', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const revoked = await login(app)
  await app.jwtAuth.revokeToken(revoked.access_token)
  await t.rejects(app.jwtAuth.verifyAccessToken(revoked.access_token), { code: 'FST_JWT_AUTH_TOKEN_REVOKED' }, 'app.jwtAuth.verifyAccessToken')
  const other = await login(app)
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(revoked.access_token), payload: { refresh_token: other.refresh_token } })
  t.equal(logout.statusCode, 204, 'the revoked access token is ignored, the refresh token\'s session ends')
  t.equal((await app.inject({ url: '/me', headers: bearer(other.access_token) })).statusCode, 401)
  const intercepted = await buildApp({ store: interceptStore(new MemoryStore(), async call => await call()) })
  t.teardown(() => intercepted.close())
  const later = await login(intercepted)
  await intercepted.jwtAuth.revokeToken(later.access_token)
  await t.rejects(intercepted.jwtAuth.verifyAccessToken(later.access_token), { code: 'FST_JWT_AUTH_TOKEN_REVOKED' }, 'a store that answers later')
})
