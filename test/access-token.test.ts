import t from 'tap'
import { createSigner } from 'fast-jwt'
import { bearer, buildApp, decodePart, forge, login, secret } from './helpers.js'

t.test('an access token is an at+jwt with the registered claims and the app claims', async t => {
  const app = await buildApp({ issuer: 'https://api.example.com', audience: 'api', accessToken: { expiresIn: '10m' } })
  t.teardown(() => app.close())
  const tokens = await login(app, { sub: 'alice', roles: ['user'], scope: 'reports:read' })
  const header = decodePart(tokens.access_token, 0)
  const payload = decodePart(tokens.access_token, 1)
  t.same(header, { alg: 'HS256', typ: 'at+jwt' })
  t.equal(payload.iss, 'https://api.example.com')
  t.equal(payload.aud, 'api')
  t.equal(payload.sub, 'alice')
  t.same(payload.roles, ['user'])
  t.equal(payload.scope, 'reports:read')
  t.type(payload.jti, 'string')
  t.type(payload.sid, 'string')
  t.equal((payload.exp as number) - (payload.iat as number), 600, 'exp - iat is the configured lifetime')
  t.equal(tokens.expires_in, 600)
  t.equal(tokens.token_type, 'Bearer')
  const second = decodePart((await login(app)).access_token, 1)
  t.not(second.jti, payload.jti, 'every token has its own jti')
  t.not(second.sid, payload.sid, 'every login is its own session')
})

t.test('the configured algorithm signs and is the only one accepted', async t => {
  const app = await buildApp({ algorithm: 'HS512' })
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.equal(decodePart(tokens.access_token, 0).alg, 'HS512')
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  const hs256 = forge({ sid: decodePart(tokens.access_token, 1).sid }, { algorithm: 'HS256' })
  const response = await app.inject({ url: '/me', headers: bearer(hs256) })
  t.equal(response.statusCode, 401, 'HS256 refused when HS512 is configured')
  t.equal(response.json().code, 'FST_JWT_AUTH_TOKEN_INVALID')
})

t.test('request.user is the verified payload', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app, { sub: 'bob', roles: ['admin'] })
  const response = await app.inject({ url: '/me', headers: bearer(tokens.access_token) })
  t.equal(response.statusCode, 200)
  t.same(response.json(), decodePart(tokens.access_token, 1))
})

t.test('tokens that must not pass access-token verification are 401 invalid_token', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const sid = decodePart(tokens.access_token, 1).sid
  const now = Math.floor(Date.now() / 1000)
  const [header, payload] = tokens.access_token.split('.')
  const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')
  const cases: Record<string, string> = {
    'wrong issuer': forge({ sid, iss: 'https://evil.example' }),
    'wrong audience': forge({ sid, aud: 'another-api' }),
    'typ JWT (an id-token-shaped JWT)': forge({ sid }, { header: { typ: 'JWT' } }),
    'no typ': forge({ sid }, { header: { typ: undefined } }),
    'id token with nonce and typ JWT': forge({ sid, nonce: 'n', auth_time: now }, { header: { typ: 'JWT' } }),
    'alg none': `${noneHeader}.${payload}.`,
    'signed with another secret': createSigner({ key: 'another-secret-another-secret-another', header: { typ: 'at+jwt' } } as Parameters<typeof createSigner>[0] & { key: string })({ iss: 'fastify-jwt-auth', aud: 'fastify-jwt-auth', sub: 'alice', jti: 'j', sid }),
    'tampered payload': `${header}.${Buffer.from(JSON.stringify({ ...decodePart(tokens.access_token, 1), roles: ['admin'] })).toString('base64url')}.${tokens.access_token.split('.')[2]}`,
    'missing sid': forge({ sid: undefined }),
    'missing jti': forge({ sid, jti: undefined }),
    'sid not a string': forge({ sid: 42 }),
    'not yet valid (nbf in the future)': forge({ sid, nbf: now + 3600 }),
    'the refresh token itself': tokens.refresh_token,
    'not a JWT at all': 'hello'
  }
  for (const [name, token] of Object.entries(cases)) {
    const response = await app.inject({ url: '/me', headers: bearer(token) })
    t.equal(response.statusCode, 401, name)
    t.equal(response.json().code, 'FST_JWT_AUTH_TOKEN_INVALID', name)
    t.match(response.headers['www-authenticate'], /^Bearer realm="fastify-jwt-auth", error="invalid_token"/, name)
  }
})

t.test('an expired token is 401 with its own code; the clock tolerance is honoured', async t => {
  const app = await buildApp({ clockTolerance: '30s' })
  t.teardown(() => app.close())
  const sid = decodePart((await login(app)).access_token, 1).sid
  const now = Math.floor(Date.now() / 1000)
  const expired = await app.inject({ url: '/me', headers: bearer(forge({ sid, iat: now - 700, exp: now - 60 })) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'FST_JWT_AUTH_TOKEN_EXPIRED')
  t.match(expired.headers['www-authenticate'], /error_description="The access token has expired"/)
  const tolerated = await app.inject({ url: '/me', headers: bearer(forge({ sid, iat: now - 700, exp: now - 10 })) })
  t.equal(tolerated.statusCode, 200, 'expired 10 s ago, within 30 s tolerance')
  const notBefore = await app.inject({ url: '/me', headers: bearer(forge({ sid, nbf: now + 10 })) })
  t.equal(notBefore.statusCode, 200, 'nbf 10 s ahead, within tolerance')
})

t.test('a forged-but-correctly-signed token still needs a live session', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/me', headers: bearer(forge({ sid: 'no-such-session' })) })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED')
  t.equal(secret.length >= 32, true)
})

t.test('issueTokens refuses claims the app may not set', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const cases: Array<[string, unknown]> = [
    ['no claims', null],
    ['an array', []],
    ['no sub', { roles: [] }],
    ['empty sub', { sub: '' }],
    ['numeric sub', { sub: 42 }],
    ['sub over 256 bytes', { sub: 'é'.repeat(129) }],
    ['sub with a NUL', { sub: 'a\u0000b' }],
    ['sub with a newline', { sub: 'a\nb' }],
    ['sub with a lone high surrogate', { sub: 'a\ud800' }],
    ['sub with a lone low surrogate', { sub: '\udc00b' }],
    ['exp', { sub: 'a', exp: 1 }],
    ['sid', { sub: 'a', sid: 'x' }],
    ['jti', { sub: 'a', jti: 'x' }],
    ['iss', { sub: 'a', iss: 'x' }],
    ['roles not strings', { sub: 'a', roles: [1] }],
    ['roles not an array', { sub: 'a', roles: 'admin' }],
    ['scope not a string', { sub: 'a', scope: ['a'] }]
  ]
  app.post<{ Body: { index: number } }>('/bad-login', async (request, reply) => {
    return await reply.issueTokens(cases[request.body.index]?.[1] as never)
  })
  for (const [index, [name]] of cases.entries()) {
    const response = await app.inject({ method: 'POST', url: '/bad-login', payload: { index } })
    t.equal(response.statusCode, 500, name)
    t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_CLAIMS', name)
  }
  t.same(await app.jwtAuth.listSessions('a'), [], 'no session was created')
})

t.test('a unicode sub round-trips through the session id', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app, { sub: 'zoë@example.com' })
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  t.equal(decodePart(refreshed.json().access_token, 1).sub, 'zoë@example.com')
})

t.test('request.user is the request\'s own: a route that changes it changes nothing for the next request', async t => {
  const app = await buildApp()
  app.get('/tamper', { preHandler: app.authenticate }, async request => {
    (request.user.roles as string[]).push('admin')
    return 'ok'
  })
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => 'admin')
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.equal((await app.inject({ url: '/admin', headers: bearer(tokens.access_token) })).statusCode, 403)
  t.equal((await app.inject({ url: '/tamper', headers: bearer(tokens.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/admin', headers: bearer(tokens.access_token) })).statusCode, 403, 'still 403')
})

t.test('no token lives longer than the access-token lifetime, whatever its exp', async t => {
  const app = await buildApp({ accessToken: { expiresIn: '10m' } })
  t.teardown(() => app.close())
  const sid = decodePart((await login(app)).access_token, 1).sid
  const now = Math.floor(Date.now() / 1000)
  const response = await app.inject({ url: '/me', headers: bearer(forge({ sid, iat: now - 3600, exp: now + 3600 })) })
  t.equal(response.statusCode, 401, 'issued an hour ago with a 10-minute lifetime')
})

t.test('a signature spelled another way (changed unused trailing bits) is refused', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = tokens.access_token.at(-1) as string
  // HS256 signatures are 32 bytes: 43 characters, the last one carrying 2 unused bits.
  const twin = alphabet[alphabet.indexOf(last) ^ 1] as string
  const respelled = tokens.access_token.slice(0, -1) + twin
  t.same(Buffer.from(respelled.split('.')[2] as string, 'base64url'), Buffer.from(tokens.access_token.split('.')[2] as string, 'base64url'), 'the same signature bytes')
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(respelled) })).statusCode, 401)
})
