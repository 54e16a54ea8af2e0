// The verified-token cache (accessToken.cacheSize): bounded LRU, entries end with their token,
// each request gets its own copy, revocation is still checked on every request, and a key that
// leaves a remote key set stops admitting the tokens it verified.
import t from 'tap'
import type { Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import jwtAuth from '../lib/index.js'
import { VerifiedTokenCache } from '../lib/tokens/verified-cache.js'
import type { AccessTokenPayload } from '../lib/types.js'
import { bearer, buildApp, decodePart, forge, login, registrationError, secret } from './helpers.js'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const payload = (sub: string, roles: string[] = ['user']): AccessTokenPayload =>
  ({ iss: 'i', aud: 'a', sub, sid: 's', jti: sub, iat: nowSeconds(), exp: nowSeconds() + 600, roles } as unknown as AccessTokenPayload)

/** Moves Date.now (which fast-jwt, MemoryStore and the cache all read) by hand until the test ends. */
function shiftClock (t: Test): (ms: number) => void {
  const realNow = Date.now
  let offset = 0
  Date.now = () => realNow() + offset
  t.teardown(() => { Date.now = realNow })
  return ms => { offset += ms }
}

t.test('the cache holds at most its size, evicting the least recently used token', async t => {
  const cache = new VerifiedTokenCache(2, 900_000)
  cache.set('a', payload('a'))
  cache.set('b', payload('b'))
  t.equal(cache.get('a')?.sub, 'a', 'a is now the most recent')
  cache.set('c', payload('c'))
  t.equal(cache.size, 2)
  t.equal(cache.get('b'), undefined, 'b, the least recently used, was evicted')
  t.equal(cache.get('a')?.sub, 'a')
  t.equal(cache.get('c')?.sub, 'c')
})

t.test('entries are found by signature but hold only for the exact token', async t => {
  const cache = new VerifiedTokenCache(10, 900_000)
  cache.set('header.payload.signature', payload('alice'))
  t.equal(cache.has('header.other-payload.signature'), false, 'another payload under the same signature is not held')
  t.equal(cache.get('header.other-payload.signature'), undefined)
  t.equal(cache.get('other-header.payload.signature'), undefined, 'nor another header')
  t.equal(cache.get('header.payload.signature')?.sub, 'alice', 'the token itself still is')

  // Over HTTP: a verified token's signature copied onto a payload of the attacker's choosing.
  const app = await buildApp()
  t.teardown(() => app.close())
  const token = (await login(app)).access_token
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'the real token is now cached')
  const [header, body, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>
  const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')}.${signature}`
  const response = await app.inject({ url: '/me', headers: bearer(tampered) })
  t.equal(response.statusCode, 401, 'the copied signature admits nothing')
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).json().roles[0], 'user', 'and the real token keeps its own claims')
})

t.test('the entry a check found is never handed out once the cache let it go', async t => {
  const cache = new VerifiedTokenCache(1, 900_000)
  cache.set('a.a.a', payload('a'))
  t.equal(cache.has('a.a.a'), true)
  cache.clear()
  t.equal(cache.get('a.a.a'), undefined, 'cleared between the check and the get (a key left the key set)')
  cache.set('a.a.a', payload('a'))
  t.equal(cache.has('a.a.a'), true)
  cache.set('b.b.b', payload('b'))
  t.equal(cache.get('a.a.a'), undefined, 'evicted between the check and the get')
  t.equal(cache.size, 1)
})

t.test('each get is a deep copy of its own; a __proto__ claim stays data', async t => {
  const cache = new VerifiedTokenCache(10, 900_000)
  const original = payload('alice', ['user'])
  cache.set('token', original)
  ;(original.roles as string[]).push('changed by the first request')
  const first = cache.get('token') as AccessTokenPayload
  ;(first.roles as string[]).push('admin')
  first.sub = 'mallory'
  const second = cache.get('token') as AccessTokenPayload
  t.same(second.roles, ['user'], 'neither the verifier\'s object nor an earlier copy leaks into the next')
  t.equal(second.sub, 'alice')
  t.not(first, second)

  const parsed = JSON.parse(`{"sub":"x","iat":${nowSeconds()},"exp":${nowSeconds() + 60},"__proto__":{"admin":true}}`) as AccessTokenPayload
  cache.set('proto', parsed)
  const copy = cache.get('proto') as AccessTokenPayload & { admin?: unknown }
  t.equal(Object.getPrototypeOf(copy), Object.prototype, 'the copy keeps the plain prototype')
  t.equal(copy.admin, undefined)
  t.same(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value, { admin: true }, 'the claim is kept as an own property')
})

t.test('an entry never outlives exp nor iat + the access lifetime', async t => {
  const advance = shiftClock(t)
  const cache = new VerifiedTokenCache(10, 60_000)
  cache.set('exp-soon', { ...payload('a'), exp: nowSeconds() + 10 })
  cache.set('long-exp', { ...payload('b'), exp: nowSeconds() + 3600 })
  cache.set('expired', { ...payload('c'), exp: nowSeconds() - 1 })
  t.equal(cache.get('expired'), undefined, 'an expired token is never stored')
  t.equal(cache.get('exp-soon')?.sub, 'a')
  advance(11_000)
  t.equal(cache.get('exp-soon'), undefined, 'gone at exp')
  t.equal(cache.get('long-exp')?.sub, 'b')
  advance(50_000)
  t.equal(cache.get('long-exp'), undefined, 'gone at iat + maxAge although exp is later')
})

t.test('a cached token is refused once it expires (controlled clock, no tolerance)', async t => {
  const advance = shiftClock(t)
  const app = await buildApp({ accessToken: { expiresIn: '1m' }, clockTolerance: 0 })
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'verified and cached')
  advance(30_000)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'still valid: served')
  advance(31_000)
  const expired = await app.inject({ url: '/me', headers: bearer(tokens.access_token) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'FST_JWT_AUTH_TOKEN_EXPIRED')
})

t.test('a cached token whose exp is past the access lifetime is refused at iat + lifetime', async t => {
  const advance = shiftClock(t)
  const app = await buildApp({ accessToken: { expiresIn: '10m' }, clockTolerance: 0 })
  t.teardown(() => app.close())
  const sid = decodePart((await login(app)).access_token, 1).sid
  const token = forge({ sid, exp: nowSeconds() + 3600 })
  // The forged token's jti is not denylisted and its session is live: only age can end it.
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)
  advance(11 * 60_000)
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 401, 'older than the lifetime')
})

t.test('revocation is checked on every request: a cached token is refused once revoked', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const sid = decodePart(tokens.access_token, 1).sid as string
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'a cache hit')
  t.equal(await app.jwtAuth.revokeSession(sid), true)
  const refused = await app.inject({ url: '/me', headers: bearer(tokens.access_token) })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED')
})

t.test('accessToken.cacheSize: a whole number; 0 turns the cache off and tokens still pass', async t => {
  for (const bad of [-1, 1.5, '10', Number.NaN]) {
    t.equal((await registrationError({ secret, accessToken: { cacheSize: bad } })).code, 'FST_JWT_AUTH_INVALID_OPTION', String(bad))
  }
  const app = await buildApp({ accessToken: { cacheSize: 0 } })
  t.teardown(() => app.close())
  const tokens = await login(app)
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200)
})

t.test('a key removed from the remote key set stops admitting the tokens it verified, cached or not', async t => {
  const k1 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const k2 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const jwk = (key: typeof k1, kid: string): JsonWebKey => ({ ...key.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' })
  let body = JSON.stringify({ keys: [jwk(k1, 'k1')] })
  let fetches = 0
  const server = createServer((_request, response) => { fetches++; response.writeHead(200, { 'content-type': 'application/json' }).end(body) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`

  const issuer = Fastify()
  await issuer.register(jwtAuth, { keys: [{ kid: 'k1', alg: 'ES256', key: k1.privateKey }], cookies: false })
  issuer.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
  t.teardown(() => issuer.close())
  const token = (await issuer.inject({ method: 'POST', url: '/login' })).json().access_token as string

  const app = Fastify()
  await app.register(jwtAuth, { jwks: { url, cacheMaxAge: '50ms', cooldown: 0 }, cookies: false })
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'verified with k1, cached')
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)

  body = JSON.stringify({ keys: [jwk(k2, 'k2')] }) // the issuer retires k1
  await sleep(80)
  const before = fetches
  await app.inject({ url: '/me', headers: bearer(token) }) // stale: this request starts the refresh
  for (let i = 0; i < 100 && fetches === before; i++) await sleep(10)
  await sleep(50)
  const refused = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(refused.statusCode, 401, 'the k1 token is no longer served from the cache')
  t.equal(refused.json().code, 'FST_JWT_AUTH_TOKEN_INVALID')
})
