// DPoP (RFC 9449) through the whole plugin, over a real socket, with independent clients: proofs
// from the `dpop` package at login, oauth4webapi's DPoP handle for refresh (RFC 6749 §6) and
// for protected resources; a copied access or refresh token alone is refused everywhere; replay
// is refused across two instances sharing a Redis; server nonces as §8/§9.
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import * as dpop from 'dpop'
import * as oauth from 'oauth4webapi'
import jwtAuth, { MemoryStore, RedisStore } from '../lib/index.js'
import type { JwtAuthOptions, Store, TokenResponse } from '../lib/index.js'
import { bearer, decodePart, interceptStore, registrationError, secret } from './helpers.js'
import { startRedis } from './redis-harness.js'

interface Service { app: FastifyInstance, base: string }

async function service (t: Test, options: Partial<JwtAuthOptions> = {}): Promise<Service> {
  const app = Fastify()
  await app.register(jwtAuth, { secret, cookies: false, dpop: {}, ...options } as JwtAuthOptions)
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice', roles: ['user'] }))
  app.get('/profiles', { preHandler: app.authenticate }, async request => ({ sub: request.user.sub, cnf: request.user.cnf ?? null }))
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => ({ ok: true }))
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  return { app, base }
}

async function dpopLogin (base: string, keypair: dpop.KeyPair, nonce?: string): Promise<Response> {
  return await fetch(`${base}/login`, { method: 'POST', headers: { dpop: await dpop.generateProof(keypair, `${base}/login`, 'POST', nonce) } })
}

async function resource (base: string, token: string, keypair: dpop.KeyPair | null, path = '/profiles', scheme = 'DPoP'): Promise<Response> {
  const headers: Record<string, string> = { authorization: `${scheme} ${token}` }
  if (keypair !== null) headers.dpop = await dpop.generateProof(keypair, `${base}${path}`, 'GET', undefined, token)
  return await fetch(`${base}${path}`, { headers })
}

const as = (base: string): oauth.AuthorizationServer => ({ issuer: base, token_endpoint: `${base}/auth/refresh` })
const client: oauth.Client = { client_id: 'spa', token_endpoint_auth_method: 'none' }
const insecure = { [oauth.allowInsecureRequests]: true }

async function oauthRefresh (base: string, handle: oauth.DPoPHandle, refreshToken: string): Promise<oauth.TokenEndpointResponse> {
  const request = async (): Promise<oauth.TokenEndpointResponse> => await oauth.processRefreshTokenResponse(as(base), client,
    await oauth.refreshTokenGrantRequest(as(base), client, oauth.None(), refreshToken, { DPoP: handle, ...insecure }))
  try {
    return await request()
  } catch (error) {
    // RFC 9449 §8: the handle keeps the nonce of the refusal; one retry with it.
    if (oauth.isDPoPNonceError(error)) return await request()
    throw error
  }
}

/** The store of a flow test: the default MemoryStore, or a RedisStore on a server of its own. */
async function storeOptions (t: Test, kind: 'MemoryStore' | 'RedisStore'): Promise<Partial<JwtAuthOptions>> {
  if (kind === 'MemoryStore') return {}
  const server = await startRedis()
  const store = new RedisStore({ url: server.url })
  t.teardown(server.stop)
  return { store }
}

for (const kind of ['MemoryStore', 'RedisStore'] as const) {
  t.test(`${kind}: a DPoP client logs in, calls protected routes with oauth4webapi and refreshes; tokens are bound to its key`, async t => {
    const { base } = await service(t, await storeOptions(t, kind))
    const keypair = await dpop.generateKeyPair('ES256')
    const jkt = await dpop.calculateThumbprint(keypair.publicKey)
    const loggedIn = await dpopLogin(base, keypair)
    t.equal(loggedIn.status, 200)
    const tokens = await loggedIn.json() as TokenResponse
    t.equal(tokens.token_type, 'DPoP', 'RFC 9449 §5: token_type DPoP')
    t.same(decodePart(tokens.access_token, 1).cnf, { jkt }, 'cnf.jkt is the RFC 7638 thumbprint of the client key')

    const handle = oauth.DPoP(client, keypair)
    const called = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${base}/profiles`), new Headers(), null, { DPoP: handle, ...insecure })
    t.equal(called.status, 200, 'oauth4webapi protectedResourceRequest with its DPoP handle')
    t.same(await called.json(), { sub: 'alice', cnf: { jkt } })

    const refreshed = await oauthRefresh(base, handle, tokens.refresh_token)
    t.equal(refreshed.token_type, 'dpop', 'oauth4webapi reads token_type DPoP (it lower-cases it)')
    t.same(decodePart(refreshed.access_token, 1).cnf, { jkt }, 'the refreshed token is bound to the same key')
    t.equal((await resource(base, refreshed.access_token, keypair)).status, 200)
    t.equal((await oauthRefresh(base, handle, refreshed.refresh_token as string)).token_type, 'dpop', 'and again')
  })

  t.test(`${kind}: a copied access token alone is refused: as Bearer, without a proof, with another key, with a replayed proof`, async t => {
    const { base } = await service(t, await storeOptions(t, kind))
    const keypair = await dpop.generateKeyPair('ES256')
    const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse

    const asBearer = await fetch(`${base}/profiles`, { headers: bearer(tokens.access_token) })
    t.equal(asBearer.status, 401, 'a bound token is never accepted as Bearer')
    t.match(await asBearer.json(), { code: 'FST_JWT_AUTH_DPOP_BOUND' })
    t.match(asBearer.headers.get('www-authenticate'), /^Bearer realm="[^"]+", DPoP realm="[^"]+", algs="ES256 [^"]*EdDSA[^"]*", error="invalid_token"/,
      'both schemes offered, the error with DPoP\'s')

    const noProof = await resource(base, tokens.access_token, null)
    t.equal(noProof.status, 401)
    t.match(await noProof.json(), { code: 'FST_JWT_AUTH_INVALID_DPOP_PROOF' })
    t.match(noProof.headers.get('www-authenticate'), /DPoP realm="[^"]+", algs="[^"]+", error="invalid_dpop_proof"/)

    const thief = await dpop.generateKeyPair('ES256')
    const otherKey = await resource(base, tokens.access_token, thief)
    t.equal(otherKey.status, 401, 'a proof by another key')
    t.match(await otherKey.json(), { code: 'FST_JWT_AUTH_INVALID_DPOP_PROOF', message: /another key/ })

    const proof = await dpop.generateProof(keypair, `${base}/profiles`, 'GET', undefined, tokens.access_token)
    const first = await fetch(`${base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } })
    t.equal(first.status, 200)
    const replay = await fetch(`${base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } })
    t.equal(replay.status, 401, 'the same proof again')
    t.match(await replay.json(), { message: /already used/ })

    const wrongAth = await fetch(`${base}/profiles`, {
      headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await dpop.generateProof(keypair, `${base}/profiles`, 'GET', undefined, 'another.token') }
    })
    t.equal(wrongAth.status, 401, 'a proof made for another token (ath)')
    const wrongUri = await fetch(`${base}/profiles`, {
      headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await dpop.generateProof(keypair, `${base}/admin`, 'GET', undefined, tokens.access_token) }
    })
    t.equal(wrongUri.status, 401, 'a proof made for another URI (htu)')
    const twoProofs = await fetch(`${base}/profiles`, {
      headers: [['authorization', `DPoP ${tokens.access_token}`], ['dpop', proof], ['dpop', proof]]
    })
    t.equal(twoProofs.status, 401, 'two DPoP headers')
    t.match(await twoProofs.json(), { message: /exactly one DPoP header/ })
  })

  t.test(`${kind}: a copied refresh token alone is refused, and the session lives on for its key`, async t => {
    const { base } = await service(t, await storeOptions(t, kind))
    const keypair = await dpop.generateKeyPair('ES256')
    const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }

    const noProof = await fetch(`${base}/auth/refresh`, { ...form, body: `grant_type=refresh_token&refresh_token=${tokens.refresh_token}` })
    t.equal(noProof.status, 400)
    t.match(await noProof.json(), { error: 'invalid_grant' }, 'without a proof')
    const thief = await dpop.generateKeyPair('ES256')
    const otherKey = await fetch(`${base}/auth/refresh`, {
      method: 'POST',
      headers: { ...form.headers, dpop: await dpop.generateProof(thief, `${base}/auth/refresh`, 'POST') },
      body: `grant_type=refresh_token&refresh_token=${tokens.refresh_token}`
    })
    t.equal(otherKey.status, 400)
    t.match(await otherKey.json(), { error: 'invalid_grant' }, 'with a proof by another key')

    const handle = oauth.DPoP(client, keypair)
    const refreshed = await oauthRefresh(base, handle, tokens.refresh_token)
    t.equal(refreshed.token_type, 'dpop', 'the owner still refreshes: the refused attempts spent nothing')

    const badProof = await fetch(`${base}/auth/refresh`, {
      method: 'POST',
      headers: { ...form.headers, dpop: await dpop.generateProof(keypair, `${base}/auth/other`, 'POST') },
      body: `grant_type=refresh_token&refresh_token=${refreshed.refresh_token as string}`
    })
    t.equal(badProof.status, 400, 'the token endpoint answers a bad proof with 400')
    t.match(await badProof.json(), { error: 'invalid_dpop_proof', code: 'FST_JWT_AUTH_INVALID_DPOP_PROOF' })
  })
}


t.test('dpop.required: false serves Bearer clients too; required: true refuses them', async t => {
  const mixed = await service(t)
  const plain = await (await fetch(`${mixed.base}/login`, { method: 'POST' })).json() as TokenResponse
  t.equal(plain.token_type, 'Bearer', 'a login without a proof gets Bearer tokens')
  t.equal((await fetch(`${mixed.base}/profiles`, { headers: bearer(plain.access_token) })).status, 200)
  const asDpop = await resource(mixed.base, plain.access_token, await dpop.generateKeyPair('ES256'))
  t.equal(asDpop.status, 401, 'an unbound token sent in the DPoP scheme')
  t.match(await asDpop.json(), { message: /not bound/ })
  const missing = await fetch(`${mixed.base}/profiles`)
  t.same(missing.headers.get('www-authenticate')?.split(/, (?=DPoP )/), ['Bearer realm="fastify-jwt-auth"', 'DPoP realm="fastify-jwt-auth", algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'],
    'no token: both challenges, DPoP with its algs (RFC 9449 §7.1)')

  const strict = await service(t, { dpop: { required: true, algorithms: ['ES256', 'Ed25519'] } })
  const refused = await fetch(`${strict.base}/login`, { method: 'POST' })
  t.equal(refused.status, 400, 'a login without a proof')
  t.match(await refused.json(), { code: 'FST_JWT_AUTH_INVALID_DPOP_PROOF' })
  const bearerOnly = await fetch(`${strict.base}/profiles`, { headers: bearer(plain.access_token) })
  t.equal(bearerOnly.status, 401, 'a Bearer token (from another instance sharing the secret)')
  t.match(await bearerOnly.json(), { code: 'FST_JWT_AUTH_DPOP_REQUIRED' })
  t.equal(bearerOnly.headers.get('www-authenticate'), 'DPoP realm="fastify-jwt-auth", algs="ES256 Ed25519", error="invalid_token", error_description="This server accepts only DPoP-bound access tokens: log in with a DPoP proof"',
    'only the DPoP challenge')
  const rs = await dpop.generateKeyPair('RS256')
  const notAllowed = await dpopLogin(strict.base, rs)
  t.equal(notAllowed.status, 400, 'an algorithm outside dpop.algorithms')
  const ed = await dpop.generateKeyPair('Ed25519')
  const edLogin = await dpopLogin(strict.base, ed)
  t.equal(edLogin.status, 200, 'EdDSA key, Ed25519 proof')
  const edTokens = await edLogin.json() as TokenResponse
  t.equal((await resource(strict.base, edTokens.access_token, ed)).status, 200)
  const guarded = await resource(strict.base, edTokens.access_token, ed, '/admin')
  t.equal(guarded.status, 403, 'a guard refusal')
  t.match(guarded.headers.get('www-authenticate'), /^DPoP realm="fastify-jwt-auth", algs="ES256 Ed25519", error="insufficient_scope"/, 'in the DPoP scheme')
})

t.test('server nonces: use_dpop_nonce with a DPoP-Nonce header, which clients then send', async t => {
  const { base } = await service(t, { dpop: { nonce: true } })
  const keypair = await dpop.generateKeyPair('ES256')
  const first = await dpopLogin(base, keypair)
  t.equal(first.status, 400, 'a token request without the nonce: 400 (RFC 9449 §8)')
  // The login route is the app's own: its errors keep Fastify's shape, with the plugin's code.
  t.match(await first.json(), { code: 'FST_JWT_AUTH_USE_DPOP_NONCE', message: /A DPoP nonce is required/ })
  const nonce = first.headers.get('dpop-nonce')
  t.type(nonce, 'string')
  t.match(first.headers.get('access-control-expose-headers'), /DPoP-Nonce/, 'readable by scripts of other origins')
  const retried = await dpopLogin(base, keypair, nonce as string)
  t.equal(retried.status, 200)
  const tokens = await retried.json() as TokenResponse

  const noNonce = await resource(base, tokens.access_token, keypair)
  t.equal(noNonce.status, 401, 'a protected resource asks for the nonce with 401 (§9)')
  t.match(noNonce.headers.get('www-authenticate'), /DPoP realm="[^"]+", algs="[^"]+", error="use_dpop_nonce"/)
  t.type(noNonce.headers.get('dpop-nonce'), 'string')

  const handle = oauth.DPoP(client, keypair)
  const refreshed = await oauthRefresh(base, handle, tokens.refresh_token)
  t.equal(refreshed.token_type, 'dpop', 'oauth4webapi retries with the nonce it was given')
  const call = async (): Promise<Response> => await oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(`${base}/profiles`), new Headers(), null, { DPoP: handle, ...insecure })
  let called: Response
  try {
    called = await call()
  } catch (error) {
    t.ok(oauth.isDPoPNonceError(error), 'a nonce error, if any, is one oauth4webapi recognises')
    called = await call()
  }
  t.equal(called.status, 200, 'the protected resource with the nonce oauth4webapi keeps')
})

t.test('a replayed proof is refused by another instance sharing the Redis store', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const stores: Store[] = [new RedisStore({ url: server.url }), new RedisStore({ url: server.url })]
  const [a, b] = [await service(t, { store: stores[0] }), await service(t, { store: stores[1] })]
  const keypair = await dpop.generateKeyPair('ES256')
  const proof = await dpop.generateProof(keypair, `${a.base}/login`, 'POST')
  t.equal((await fetch(`${a.base}/login`, { method: 'POST', headers: { dpop: proof } })).status, 200)
  // The proof names instance a's URI; b sees the replay first (its own htu would differ anyway).
  const tokens = await (await dpopLogin(a.base, keypair)).json() as TokenResponse
  const resourceProof = await dpop.generateProof(keypair, `${a.base}/profiles`, 'GET', undefined, tokens.access_token)
  t.equal((await fetch(`${a.base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: resourceProof } })).status, 200)
  const bProof = await dpop.generateProof(keypair, `${b.base}/profiles`, 'GET', undefined, tokens.access_token)
  t.equal((await fetch(`${b.base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: bProof } })).status, 200, 'instance b accepts the token with its own proof')
  const replayOnB = await fetch(`${b.base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: bProof } })
  t.equal(replayOnB.status, 401, 'and refuses that proof the second time')
  // The same key and jti presented to a: remembered in the shared store, whatever the instance.
  const sameJti = await fetch(`${a.base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: resourceProof } })
  t.equal(sameJti.status, 401)
  const outage = new RedisStore({ url: `redis://127.0.0.1:${server.port}` })
  const down = await service(t, { store: outage })
  await server.stop()
  const during = await fetch(`${down.base}/profiles`, {
    headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await dpop.generateProof(keypair, `${down.base}/profiles`, 'GET', undefined, tokens.access_token) }
  })
  t.equal(during.status, 503, 'a store outage: 503, never a pass')
  t.equal(during.headers.get('retry-after'), '5')
})

t.test('registration: the dpop option is checked', async t => {
  t.match(await registrationError({ secret, dpop: { algorithms: ['HS256'] } }), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /dpop.algorithms may hold only/ })
  t.match(await registrationError({ secret, dpop: { algorithms: [] } }), { message: /dpop.algorithms must be a non-empty array/ })
  t.match(await registrationError({ secret, dpop: { required: 'yes' } }), { message: /dpop.required must be a boolean/ })
  t.match(await registrationError({ secret, dpop: { proofMaxAge: '10m' } }), { message: /dpop.proofMaxAge must be at most 5 minutes/ })
  t.match(await registrationError({ secret, dpop: { nonces: true } }), { code: 'FST_JWT_AUTH_UNKNOWN_OPTION', message: /dpop.nonce/ })
  t.match(await registrationError({ secret, dpop: 'on' }), { message: /dpop must be a boolean or an object/ })
  t.match(await registrationError({ secret, dpop: { nonce: 'yes' } }), { message: /dpop.nonce must be a boolean or an object/ })
  t.match(await registrationError({ secret, dpop: { nonce: null } }), { message: /dpop.nonce must be a boolean or an object/ })
  const storeWithout = new MemoryStore() as Store
  Object.defineProperty(storeWithout, 'rememberProof', { value: undefined })
  t.match(await registrationError({ secret, store: storeWithout, dpop: true }), { message: /needs a store with rememberProof/ })
  t.match(await registrationError({ secret, dpop: { nonce: { secret: 'short' } } }), { message: /dpop.nonce.secret/ })
})

t.test('attacks: made-up proofs and headers only ever get a 4xx; one proof sent ten times at once passes once', async t => {
  const fc = (await import('fast-check')).default
  const { app, base } = await service(t)
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  const good = await dpop.generateProof(keypair, `${base}/profiles`, 'GET', undefined, tokens.access_token)
  const [header, payload] = good.split('.') as [string, string]
  const part = fc.oneof(fc.base64String(), fc.string({ unit: 'binary' }).map(text => Buffer.from(text).toString('base64url')), fc.constant(header), fc.constant(payload))
  const proofs = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.tuple(part, part, part).map(parts => parts.join('.')),
    fc.json().map(json => `${Buffer.from(json).toString('base64url')}.${payload}.AAAA`)
  )
  const schemes = fc.constantFrom('DPoP', 'dpop', 'Bearer', 'DPoP  ', 'DPoP\t')
  await fc.assert(fc.asyncProperty(proofs, schemes, async (proof, scheme) => {
    const response = await app.inject({ url: '/profiles', headers: { authorization: `${scheme} ${tokens.access_token}`, dpop: proof } })
    return response.statusCode >= 400 && response.statusCode < 500 && typeof response.json().code === 'string'
  }), { numRuns: 300 })
  t.pass('300 made-up proofs: each a 4xx with a coded body')

  const fresh = await dpop.generateProof(keypair, `${base}/profiles`, 'GET', undefined, tokens.access_token)
  const answers = await Promise.all(Array.from({ length: 10 }, async () =>
    (await fetch(`${base}/profiles`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: fresh } })).status))
  t.same(answers.sort(), [200, ...Array(9).fill(401)], 'exactly one of ten concurrent uses of one proof passes')
})

t.test('DPoP-Nonce is added to the headers @fastify/cors exposes, once', async t => {
  const cors = (await import('@fastify/cors')).default
  for (const [exposed, expected] of [['X-Request-Id', 'X-Request-Id, DPoP-Nonce'], ['dpop-nonce, X-Request-Id', 'dpop-nonce, X-Request-Id']]) {
    const app = Fastify()
    await app.register(cors, { origin: 'https://spa.example', exposedHeaders: exposed })
    await app.register(jwtAuth, { secret, cookies: false, dpop: { nonce: true } })
    app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
    t.teardown(() => app.close())
    const response = await app.inject({ method: 'POST', url: '/login', headers: { origin: 'https://spa.example', dpop: 'x.y.z' } })
    t.equal(response.statusCode, 400)
    t.equal(response.headers['access-control-expose-headers'], expected, `exposed: ${exposed}`)
    t.type(response.headers['dpop-nonce'], 'string')
  }
})

t.test('the plugin checks the rotated session\'s key itself; with required, unbound sessions cannot be refreshed', async t => {
  const store = new MemoryStore()
  const keypair = await dpop.generateKeyPair('ES256')
  const ownerKey = await dpop.calculateThumbprint(keypair.publicKey)
  // A custom store that rotates whatever key comes (as if it ignored RotateInput.jkt).
  const careless = interceptStore(store, async (call, args, method) => {
    if (method === 'rotateRefreshToken') (args[0] as { jkt?: string }).jkt = ownerKey
    return await call()
  })
  const { base } = await service(t, { store: careless })
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  const stolen = await fetch(`${base}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: tokens.refresh_token }) })
  t.equal(stolen.status, 400, 'no tokens for a refresh without the key, even from a store that ignored it')
  t.match(await stolen.json(), { error: 'invalid_grant', error_description: /bound to another DPoP key/ })

  const plain = await (await fetch(`${base}/login`, { method: 'POST' })).json() as TokenResponse
  const strict = await service(t, { store, dpop: { required: true } })
  const refused = await fetch(`${strict.base}/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', dpop: await dpop.generateProof(keypair, `${strict.base}/auth/refresh`, 'POST') },
    body: JSON.stringify({ refresh_token: plain.refresh_token })
  })
  t.equal(refused.status, 400, 'a session made before dpop.required')
  t.match(await refused.json(), { error: 'invalid_grant', error_description: /only DPoP-bound sessions/ })

  const app = Fastify()
  await app.register(jwtAuth, { secret, dpop: { required: true } })
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }, { cookiesOnly: true }))
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.equal(response.statusCode, 500, 'cookiesOnly with dpop.required is the app\'s mistake')
  t.match(response.json(), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /cannot be used with dpop.required/ })
})

t.test('with dpop off, a bound token (issued while it was on) is refused, whatever the header says', async t => {
  const { base } = await service(t)
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  const app = Fastify()
  await app.register(jwtAuth, { secret, cookies: { secure: false } })
  app.get('/profiles', { preHandler: app.authenticate }, async request => request.user)
  t.teardown(() => app.close())
  const proof = await dpop.generateProof(keypair, 'http://localhost/profiles', 'GET', undefined, tokens.access_token)
  for (const authorization of [`DPoP ${tokens.access_token}`, `Bearer ${tokens.access_token}`]) {
    const response = await app.inject({ url: '/profiles', headers: { authorization, dpop: proof }, cookies: { access_token: tokens.access_token } })
    t.equal(response.statusCode, 401, authorization.split(' ')[0] as string)
    t.equal(response.json().code, 'FST_JWT_AUTH_DPOP_BOUND')
  }
})

t.test('with the revocation replica, a DPoP request makes one store call: the replay check', async t => {
  const { Redis } = await import('ioredis')
  const server = await startRedis()
  t.teardown(server.stop)
  const client = new Redis(server.url)
  t.teardown(() => client.disconnect())
  // A notices' history that began a minute ago, as on a service whose replicas have run a while.
  await client.hset('fja:{revocations}:epoch', 'id', 'aged', 'since', Date.now() - 60_000)
  await client.pexpire('fja:{revocations}:epoch', 60_000)
  const calls: string[] = []
  const redisStore = new RedisStore({ url: server.url })
  // Counts the per-request calls; the feed and everything else pass through untouched.
  const store = new Proxy(redisStore, {
    get (target, property) {
      const value = Reflect.get(target, property, target) as unknown
      if (typeof value !== 'function') return value
      if (property === 'isRevoked' || property === 'rememberProof') calls.push(property)
      return (value as (...args: unknown[]) => unknown).bind(target)
    }
  })
  const { base } = await service(t, { store, revocation: { replica: true } })
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  await new Promise(resolve => setTimeout(resolve, 1200)) // the replica has read its feed
  calls.length = 0
  for (let i = 0; i < 5; i++) t.equal((await resource(base, tokens.access_token, keypair)).status, 200)
  t.same(calls, Array(5).fill('rememberProof'), 'no isRevoked: the replica cleared each token; the proof is remembered at the store')
})

for (const kind of ['MemoryStore', 'RedisStore'] as const) {
  t.test(`${kind}: a step-up of a DPoP-bound session answers a bound pair with the new auth_time, and requireAuth challenges on both schemes`, async t => {
    const app = Fastify()
    await app.register(jwtAuth, { secret, cookies: false, dpop: {}, ...await storeOptions(t, kind) } as JwtAuthOptions)
    app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }, { amr: ['pwd'] }))
    app.post('/confirm', { preHandler: app.authenticate }, async (_request, reply) => await reply.stepUp({ acr: 'mfa' }))
    app.get('/mfa', { preHandler: [app.authenticate, app.requireAuth({ acr: ['mfa'] })] }, async request => ({ acr: request.user.acr }))
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    t.teardown(() => app.close())
    const keypair = await dpop.generateKeyPair('ES256')
    const login = await (await dpopLogin(base, keypair)).json() as TokenResponse
    t.equal(login.token_type, 'DPoP')
    const weak = await resource(base, login.access_token, keypair, '/mfa')
    t.equal(weak.status, 401)
    t.match(weak.headers.get('www-authenticate'), /DPoP realm="[^"]+", algs="[^"]+", error="insufficient_user_authentication", error_description="[^"]+", acr_values="mfa"/, 'the refusal goes with the scheme the request used')
    const confirm = await fetch(`${base}/confirm`, {
      method: 'POST',
      headers: { authorization: `DPoP ${login.access_token}`, dpop: await dpop.generateProof(keypair, `${base}/confirm`, 'POST', undefined, login.access_token) }
    })
    t.equal(confirm.status, 200)
    const stepped = await confirm.json() as TokenResponse
    t.equal(stepped.token_type, 'DPoP', 'still bound')
    const claims = decodePart(stepped.access_token, 1)
    t.match(claims, { acr: 'mfa', amr: ['pwd'], sid: decodePart(login.access_token, 1).sid, cnf: { jkt: (decodePart(login.access_token, 1).cnf as { jkt: string }).jkt } })
    t.same(await (await resource(base, stepped.access_token, keypair, '/mfa')).json(), { acr: 'mfa' })
    t.equal((await resource(base, stepped.access_token, null, '/mfa', 'Bearer')).status, 401, 'the new token is bound: no Bearer')
    const refreshed = await oauthRefresh(base, oauth.DPoP(client, keypair), stepped.refresh_token as string)
    t.match(decodePart(refreshed.access_token, 1), { acr: 'mfa', auth_time: claims.auth_time }, 'the bound refresh carries the stepped-up login')
  })
}

t.test('a revoked DPoP-bound token is refused even with a good proof', async t => {
  const { app, base } = await service(t)
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  t.equal((await resource(base, tokens.access_token, keypair)).status, 200)
  await app.jwtAuth.revokeToken(tokens.access_token)
  const refused = await resource(base, tokens.access_token, keypair)
  t.equal(refused.status, 401)
  t.match(await refused.json(), { code: 'FST_JWT_AUTH_TOKEN_REVOKED' })
})

t.test('with fingerprint and cookies.csrf on, a bound token needs its proof and nothing else', async t => {
  const { base } = await service(t, { cookies: { secure: false, csrf: true }, fingerprint: true })
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  t.equal((await resource(base, tokens.access_token, keypair)).status, 200, 'GET: no fingerprint cookie needed')
  const post = await fetch(`${base}/profiles`, {
    method: 'POST',
    headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await dpop.generateProof(keypair, `${base}/profiles`, 'POST', undefined, tokens.access_token) }
  })
  t.not(post.status, 403, 'POST: no anti-CSRF header needed (the route answers 404: only GET is routed)')
  t.equal((await fetch(`${base}/profiles`, { headers: bearer(tokens.access_token) })).status, 401, 'still refused as Bearer')
})

t.test('app.jwtAuth.verifyAccessToken refuses a bound token: it has no request, so no proof', async t => {
  const { app, base } = await service(t)
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  await t.rejects(app.jwtAuth.verifyAccessToken(tokens.access_token), { code: 'FST_JWT_AUTH_DPOP_BOUND' })
  const plain = await (await fetch(`${base}/login`, { method: 'POST' })).json() as TokenResponse
  t.match(await app.jwtAuth.verifyAccessToken(plain.access_token), { sub: 'alice' }, 'an unbound token still verifies')
})

t.test('a store whose isRevoked throws at once, with DPoP: a 503, and the replay check sent before it never rejects unheard', async t => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const memory = new MemoryStore()
  let broken = false
  const store = new Proxy(memory, {
    get (target, property) {
      if (broken && property === 'isRevoked') return () => { throw new Error('the store broke') }
      // The replay check fails later, as a store in an outage would.
      if (broken && property === 'rememberProof') return async () => { await new Promise(resolve => setTimeout(resolve, 20)); throw new Error('down') }
      const value = Reflect.get(target, property, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const { base } = await service(t, { store })
  const keypair = await dpop.generateKeyPair('ES256')
  const tokens = await (await dpopLogin(base, keypair)).json() as TokenResponse
  broken = true
  const response = await resource(base, tokens.access_token, keypair)
  t.equal(response.status, 503)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.same(unhandled, [], 'no unhandled rejection')
})
