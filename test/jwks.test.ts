// Verify-only services that fetch the issuer's keys from its JWKS URL, served here by a real
// HTTP listener the test controls: caching, refetch on an unknown kid with a cooldown,
// timeouts, and failing closed (503) while the keys cannot be had.
import t from 'tap'
import type { Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import jwtAuth from '../lib/index.js'
import type { RemoteJwksOptions } from '../lib/index.js'
import { bearer } from './helpers.js'

const k1 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const k2 = generateKeyPairSync('ed25519')
const publicJwk = (key: KeyObject, kid: string, alg?: string): JsonWebKey =>
  ({ ...key.export({ format: 'jwk' }), kid, ...(alg === undefined ? {} : { alg }), use: 'sig' })

/** A JWKS endpoint whose answers the test sets, counting requests. */
async function jwksServer (t: Test) {
  const state = {
    requests: 0,
    body: JSON.stringify({ keys: [publicJwk(k1.publicKey, 'k1', 'ES256')] }) as string,
    status: 200,
    hang: false
  }
  const server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    state.requests++
    if (state.hang) return // never answers: the client's timeout must end it
    response.writeHead(state.status, { 'content-type': 'application/json' }).end(state.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { state, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json` }
}

/** An issuer signing with one key, to mint tokens (it shares nothing with the resource service). */
async function issuer (t: Test, kid: string, alg: 'ES256' | 'EdDSA', key: KeyObject): Promise<(sub?: string) => Promise<string>> {
  const app = Fastify()
  await app.register(jwtAuth, { keys: [{ kid, alg, key }], cookies: false })
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice', roles: ['admin'] }))
  t.teardown(() => app.close())
  return async () => (await app.inject({ method: 'POST', url: '/login' })).json().access_token as string
}

async function resource (t: Test, jwks: RemoteJwksOptions, lines: string[] = []): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtAuth, { jwks, cookies: false })
  app.get('/me', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async request => request.user)
  t.teardown(() => app.close())
  return app
}

t.test('a resource service verifies tokens with the fetched keys, and learns a new key on its first token', async t => {
  const { state, url } = await jwksServer(t)
  const signWithK1 = await issuer(t, 'k1', 'ES256', k1.privateKey)
  const signWithK2 = await issuer(t, 'k2', 'EdDSA', k2.privateKey)
  const app = await resource(t, { url, cooldown: 0 })
  t.equal(state.requests, 1, 'fetched once at registration')

  const first = await app.inject({ url: '/me', headers: bearer(await signWithK1()) })
  t.equal(first.statusCode, 200)
  t.equal(first.json().sub, 'alice')
  t.equal(state.requests, 1, 'a known kid needs no fetch')
  t.equal(app.hasReplyDecorator('issueTokens'), false, 'verify-only: nothing is issued')
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: {} })).statusCode, 404)

  // The issuer rotates: its JWKS now lists k2 (whose JWK names no alg: inferred from Ed25519).
  state.body = JSON.stringify({ keys: [publicJwk(k2.publicKey, 'k2'), publicJwk(k1.publicKey, 'k1', 'ES256')] })
  t.equal((await app.inject({ url: '/me', headers: bearer(await signWithK2()) })).statusCode, 200, 'the new key is fetched on demand')
  t.equal(state.requests, 2)
})

t.test('unknown kids trigger at most one fetch per cooldown', async t => {
  const { state, url } = await jwksServer(t)
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const signWithStranger = await issuer(t, 'stranger', 'ES256', other.privateKey)
  const app = await resource(t, { url, cooldown: '1m' })
  const forged = await signWithStranger()
  for (let i = 0; i < 5; i++) {
    const response = await app.inject({ url: '/me', headers: bearer(forged) })
    t.equal(response.statusCode, 401, `unknown kid #${i + 1}`)
    t.equal(response.json().code, 'FST_JWT_AUTH_TOKEN_INVALID')
  }
  t.equal(state.requests, 1, 'the registration fetch only: within the cooldown no refetch')
})

t.test('concurrent unknown kids share one fetch', async t => {
  const { state, url } = await jwksServer(t)
  const signWithK2 = await issuer(t, 'k2', 'EdDSA', k2.privateKey)
  const app = await resource(t, { url, cooldown: 0 })
  state.body = JSON.stringify({ keys: [publicJwk(k2.publicKey, 'k2', 'EdDSA')] })
  const token = await signWithK2()
  const responses = await Promise.all(Array.from({ length: 10 }, async () => await app.inject({ url: '/me', headers: bearer(token) })))
  t.ok(responses.every(response => response.statusCode === 200))
  t.equal(state.requests, 2, 'one fetch at registration, one for all ten requests')
})

t.test('while the keys cannot be fetched, unknown kids fail closed with 503; then it recovers', async t => {
  const { state, url } = await jwksServer(t)
  state.hang = true
  const lines: string[] = []
  const app = await resource(t, { url, timeout: '200ms', cooldown: 0 }, lines)
  t.ok(lines.some(line => line.includes('could not fetch the JWKS')), 'a failed first fetch is logged, not fatal')
  const signWithK1 = await issuer(t, 'k1', 'ES256', k1.privateKey)
  const token = await signWithK1()

  const down = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(down.statusCode, 503)
  t.equal(down.headers['retry-after'], '5')
  t.equal(down.json().code, 'FST_JWT_AUTH_JWKS_UNAVAILABLE')

  state.hang = false
  state.status = 500
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 503, 'an error status is a failed fetch too')
  state.status = 200
  state.body = '{"not":"a jwks"}'
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 503, 'so is a body without keys')

  state.body = JSON.stringify({ keys: [publicJwk(k1.publicKey, 'k1', 'ES256')] })
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'recovers by itself')
})

t.test('a resource service started before its issuer recovers within a second, not a whole cooldown', async t => {
  const { state, url } = await jwksServer(t)
  state.status = 503 // the issuer is still starting
  const app = await resource(t, { url }) // default cooldown: 30 s
  const signWithK1 = await issuer(t, 'k1', 'ES256', k1.privateKey)
  const token = await signWithK1()
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 503)
  state.status = 200
  await sleep(1100)
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'a failed fetch does not start the cooldown')
  const requests = state.requests
  await app.inject({ url: '/me', headers: bearer(token.slice(0, 10) + token.slice(10)) })
  t.equal(state.requests, requests, 'known kids need no fetch')
})

t.test('keys that do not fit are skipped: private, encryption, no alg on RSA, mismatched alg', async t => {
  const { state, url } = await jwksServer(t)
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
  state.body = JSON.stringify({
    keys: [
      { ...k1.privateKey.export({ format: 'jwk' }), kid: 'private', alg: 'ES256' },
      { ...publicJwk(k1.publicKey, 'enc', 'ES256'), use: 'enc' },
      publicJwk(rsa.publicKey, 'rsa-no-alg'),
      publicJwk(p384.publicKey, 'mismatch', 'ES256'),
      publicJwk(k1.publicKey, 'hmac', 'HS256'),
      { kty: 'EC', crv: 'P-256', alg: 'ES256' },
      { ...generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }), kid: 'x25519' },
      { kty: 'EC', crv: 'secp256k1', kid: 'k256', x: 'AA', y: 'AA' },
      null,
      publicJwk(p384.publicKey, 'p384')
    ]
  })
  const lines: string[] = []
  const app = await resource(t, { url }, lines) // default timeout, cache age and cooldown
  t.ok(lines.some(line => line.includes('skipped a JWKS key') && line.includes('mismatch')), 'a key that does not fit its alg is logged')
  for (const [kid, alg, key] of [['private', 'ES256', k1.privateKey], ['enc', 'ES256', k1.privateKey], ['mismatch', 'ES256', k1.privateKey]] as const) {
    const sign = await issuer(t, kid, alg, key)
    t.equal((await app.inject({ url: '/me', headers: bearer(await sign()) })).statusCode, 401, `kid ${kid} is not used`)
  }
  const p384Issuer = Fastify()
  await p384Issuer.register(jwtAuth, { keys: [{ kid: 'p384', alg: 'ES384', key: p384.privateKey }], cookies: false })
  p384Issuer.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice', roles: ['admin'] }))
  t.teardown(() => p384Issuer.close())
  const token = (await p384Issuer.inject({ method: 'POST', url: '/login' })).json().access_token
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'an EC JWK without alg gets it from its curve')
})

t.test('an old key set is refreshed in the background', async t => {
  const { state, url } = await jwksServer(t)
  const signWithK1 = await issuer(t, 'k1', 'ES256', k1.privateKey)
  const app = await resource(t, { url, cacheMaxAge: '50ms', cooldown: 0 })
  await sleep(80)
  t.equal((await app.inject({ url: '/me', headers: bearer(await signWithK1()) })).statusCode, 200, 'the cached key answers at once')
  await sleep(50)
  t.equal(state.requests, 2, 'and a refresh went out')
})
