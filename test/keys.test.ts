import t from 'tap'
import { createHmac, createPublicKey, createSecretKey, createSign, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { createVerifier } from 'fast-jwt'
import jwtAuth, { MemoryStore } from '../lib/index.js'
import type { JwtAuthOptions, KeyOptions } from '../lib/index.js'
import { resolveKey } from '../lib/tokens/keys.js'
import { bearer, decodePart, randomSecret, refresh, registrationError, secret } from './helpers.js'

type Pair = { privateKey: KeyObject, publicKey: KeyObject }
const rsa = (bits = 2048): Pair => generateKeyPairSync('rsa', { modulusLength: bits })
const ec = (namedCurve: string): Pair => generateKeyPairSync('ec', { namedCurve })
const ed25519 = (): Pair => generateKeyPairSync('ed25519')
const rsaKey = rsa()
const p256 = ec('prime256v1')

async function issuer (options: Partial<JwtAuthOptions>) {
  const app = Fastify()
  await app.register(jwtAuth, { cookies: false, ...options } as JwtAuthOptions)
  app.post<{ Body: { sub?: string, roles?: string[] } }>('/login', async (request, reply) =>
    await reply.issueTokens({ sub: request.body?.sub ?? 'alice', roles: request.body?.roles ?? ['user'] }))
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => 'admin')
  return app
}

async function loginOn (app: Awaited<ReturnType<typeof issuer>>, body: Record<string, unknown> = {}) {
  const response = await app.inject({ method: 'POST', url: '/login', payload: body })
  if (response.statusCode !== 200) throw new Error(response.body)
  return response.json<{ access_token: string, refresh_token: string }>()
}

t.test('every algorithm signs and verifies through the plugin', async t => {
  const cases: Array<[KeyOptions['alg'], KeyOptions['key']]> = [
    ['RS256', rsaKey.privateKey], ['RS384', rsaKey.privateKey], ['RS512', rsaKey.privateKey],
    ['PS256', rsaKey.privateKey], ['PS384', rsaKey.privateKey], ['PS512', rsaKey.privateKey],
    ['ES256', p256.privateKey], ['ES384', ec('secp384r1').privateKey], ['ES512', ec('secp521r1').privateKey],
    ['EdDSA', ed25519().privateKey], ['EdDSA', generateKeyPairSync('ed448').privateKey],
    ['HS256', randomSecret(32)], ['HS384', randomSecret(48)], ['HS512', randomSecret(64)]
  ]
  for (const [alg, key] of cases) {
    const app = await issuer({ keys: [{ kid: `k-${alg}`, alg, key }] })
    const tokens = await loginOn(app)
    t.same(decodePart(tokens.access_token, 0), { alg, typ: 'at+jwt', kid: `k-${alg}` }, `${alg} header`)
    t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, `${alg} verifies`)
    await app.close()
  }
})

t.test('keys are accepted as PEM text, KeyObject and JWK', async t => {
  const forms: Array<[string, KeyOptions['key']]> = [
    ['PKCS#8 PEM', rsaKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string],
    ['PKCS#1 PEM', rsaKey.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['PEM Buffer', Buffer.from(rsaKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)],
    ['KeyObject', rsaKey.privateKey],
    ['private JWK', rsaKey.privateKey.export({ format: 'jwk' })]
  ]
  for (const [name, key] of forms) {
    const app = await issuer({ keys: [{ kid: 'k', alg: 'RS256', key }] })
    const tokens = await loginOn(app)
    t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, name)
    await app.close()
  }
  const store = new MemoryStore()
  const signer = await issuer({ store, keys: [{ kid: 'k', alg: 'RS256', key: rsaKey.privateKey }] })
  const token = (await loginOn(signer)).access_token
  await signer.close()
  for (const [name, key] of [
    ['SPKI PEM', rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string],
    ['PKCS#1 public PEM', rsaKey.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['public JWK', rsaKey.publicKey.export({ format: 'jwk' })]
  ] as const) {
    const verifier = await issuer({ store, keys: [{ kid: 'k', alg: 'RS256', key }] })
    t.equal((await verifier.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, `verify-only with a ${name}`)
    await verifier.close()
  }
  const hmac = await issuer({ keys: [{ kid: 'h', alg: 'HS256', key: createSecretKey(randomSecret(32)) }] })
  t.equal((await hmac.inject({ url: '/me', headers: bearer((await loginOn(hmac)).access_token) })).statusCode, 200, 'secret KeyObject')
  await hmac.close()
  const oct = await issuer({ keys: [{ kid: 'h', alg: 'HS256', key: { kty: 'oct', k: randomSecret(32).toString('base64url') } }] })
  t.equal((await oct.inject({ url: '/me', headers: bearer((await loginOn(oct)).access_token) })).statusCode, 200, 'oct JWK')
  await oct.close()
})

t.test('bad keys are refused at registration with a clear error', async t => {
  const spki = rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const cases: Array<[string, Record<string, unknown>, string, RegExp?]> = [
    ['a P-256 key with ES384', { keys: [{ kid: 'a', alg: 'ES384', key: p256.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY', /secp384r1/],
    ['a P-256 key with ES512', { keys: [{ kid: 'a', alg: 'ES512', key: p256.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['an RSA key under 2048 bits', { keys: [{ kid: 'a', alg: 'RS256', key: rsa(1024).privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY', /2048/],
    ['an EC key with RS256', { keys: [{ kid: 'a', alg: 'RS256', key: p256.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['an RSA key with EdDSA', { keys: [{ kid: 'a', alg: 'EdDSA', key: rsaKey.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['an Ed25519 key with ES256', { keys: [{ kid: 'a', alg: 'ES256', key: ed25519().privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY', /prime256v1, not ed25519$/],
    ['jwks as a bare string', { jwks: 'https://auth.example.com/.well-known/jwks.json' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['a PEM public key as HS256 secret in keys', { keys: [{ kid: 'a', alg: 'HS256', key: spki }] }, 'FST_JWT_AUTH_INVALID_KEY', /PEM or JWK/],
    ['a PEM key as the secret', { secret: spki }, 'FST_JWT_AUTH_INVALID_KEY', /PEM or JWK/],
    ['a PEM private key as the secret', { secret: rsaKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['JWK text as the secret', { secret: JSON.stringify({ ...rsaKey.publicKey.export({ format: 'jwk' }), pad: 'x'.repeat(10) }) }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['JWKS text as the secret', { secret: JSON.stringify({ keys: [rsaKey.publicKey.export({ format: 'jwk' })] }) }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['an RSA KeyObject as HS256 key', { keys: [{ kid: 'a', alg: 'HS256', key: rsaKey.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['a secret KeyObject as RS256 key', { keys: [{ kid: 'a', alg: 'RS256', key: createSecretKey(Buffer.alloc(32)) }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['a raw string as RS256 key', { keys: [{ kid: 'a', alg: 'RS256', key: 'x'.repeat(64) }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['broken PEM', { keys: [{ kid: 'a', alg: 'RS256', key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' }] }, 'FST_JWT_AUTH_INVALID_KEY', /unreadable/],
    ['HS512 key under 64 bytes', { keys: [{ kid: 'a', alg: 'HS512', key: 'x'.repeat(63) }] }, 'FST_JWT_AUTH_INVALID_KEY', /64 bytes/],
    ['HS384 secret under 48 bytes', { secret: 'x'.repeat(47), algorithm: 'HS384' }, 'FST_JWT_AUTH_WEAK_SECRET'],
    ['HS key of another type', { keys: [{ kid: 'a', alg: 'HS256', key: 42 as never }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['unknown alg', { keys: [{ kid: 'a', alg: 'none' as never, key: rsaKey.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY', /unknown alg/],
    ['no kid', { keys: [{ kid: '', alg: 'RS256', key: rsaKey.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY'],
    ['duplicate kids', { keys: [{ kid: 'a', alg: 'RS256', key: rsaKey.privateKey }, { kid: 'a', alg: 'ES256', key: p256.privateKey }] }, 'FST_JWT_AUTH_INVALID_KEY', /same kid/],
    ['HMAC and asymmetric without intent', { keys: [{ kid: 'a', alg: 'RS256', key: rsaKey.privateKey }, { kid: 'h', alg: 'HS256', key: randomSecret(32) }] }, 'FST_JWT_AUTH_INVALID_KEY', /mixedKeyTypes/],
    ['secret and keys together', { secret, keys: [{ kid: 'a', alg: 'RS256', key: rsaKey.privateKey }] }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['keys and algorithm together', { algorithm: 'HS256', keys: [{ kid: 'a', alg: 'RS256', key: rsaKey.privateKey }] }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['empty keys', { keys: [] }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['jwks without a URL', { jwks: { url: 'ftp://x' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['jwks null', { jwks: null }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['jwks URL not a string', { jwks: { url: 42 } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['a JWKS route path without a slash', { keys: [{ kid: 'a', alg: 'RS256', key: rsaKey.privateKey }], routes: { jwks: 'jwks.json' } }, 'FST_JWT_AUTH_INVALID_OPTION']
  ]
  for (const [name, options, code, message] of cases) {
    const error = await registrationError(options)
    t.equal(error.code, code, name)
    if (message !== undefined) t.match(error.message, message, `${name}: says why`)
  }
  const mixed = await issuer({ mixedKeyTypes: true, keys: [{ kid: 'a', alg: 'RS256', key: rsaKey.privateKey }, { kid: 'h', alg: 'HS256', key: randomSecret(32) }] })
  t.equal((await mixed.inject({ url: '/me', headers: bearer((await loginOn(mixed)).access_token) })).statusCode, 200, 'mixed with explicit intent')
  await mixed.close()
})

t.test('the JWKS route serves only the public parts, with Cache-Control', async t => {
  const app = await issuer({
    mixedKeyTypes: true,
    keys: [
      { kid: 'rsa', alg: 'RS256', key: rsaKey.privateKey },
      { kid: 'ec', alg: 'ES256', key: p256.publicKey },
      { kid: 'hmac', alg: 'HS256', key: randomSecret(32) }
    ]
  })
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], 'public, max-age=300')
  t.match(response.headers['content-type'], /application\/jwk-set\+json/)
  const { keys } = response.json<{ keys: Array<Record<string, string>> }>()
  t.same(keys.map(key => key.kid), ['rsa', 'ec'], 'no HMAC key')
  for (const key of keys) {
    t.notOk('d' in key || 'p' in key || 'q' in key || 'dp' in key || 'k' in key, `${key.kid as string} has no private part`)
    t.equal(key.use, 'sig')
  }
  t.same(keys[0], { ...rsaKey.publicKey.export({ format: 'jwk' }), kid: 'rsa', alg: 'RS256', use: 'sig' })

  const moved = await issuer({ keys: [{ kid: 'rsa', alg: 'RS256', key: rsaKey.privateKey }], routes: { jwks: '/keys' } })
  t.equal((await moved.inject({ url: '/keys' })).statusCode, 200, 'path configurable')
  await moved.close()
  const off = await issuer({ keys: [{ kid: 'rsa', alg: 'RS256', key: rsaKey.privateKey }], routes: { jwks: false } })
  t.equal((await off.inject({ url: '/.well-known/jwks.json' })).statusCode, 404, 'can be turned off')
  await off.close()
  const hmacOnly = await issuer({ secret })
  t.equal((await hmacOnly.inject({ url: '/.well-known/jwks.json' })).statusCode, 404, 'never with HMAC only')
  await hmacOnly.close()
})

t.test('key rotation under live sessions: nobody is logged out; a removed key stops verifying', async t => {
  const store = new MemoryStore()
  const oldKey = { kid: '2026-01', alg: 'ES256' as const, key: p256.privateKey }
  const newKey = { kid: '2026-06', alg: 'ES256' as const, key: ec('prime256v1').privateKey }

  const before = await issuer({ store, keys: [oldKey] })
  const tokens = await loginOn(before)
  await before.close()

  // Step 1: the new key verifies everywhere. Step 2: it signs (first in the list).
  const during = await issuer({ store, keys: [newKey, oldKey] })
  t.equal((await during.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'an old-key token still verifies')
  const rotated = (await refresh(during, tokens.refresh_token)).json()
  t.equal(decodePart(rotated.access_token, 0).kid, '2026-06', 'refreshed tokens are signed with the new key')
  await during.close()

  // Step 3: once old tokens expired, the old key goes.
  const after = await issuer({ store, keys: [newKey] })
  t.teardown(() => after.close())
  const old = await after.inject({ url: '/me', headers: bearer(tokens.access_token) })
  t.equal(old.statusCode, 401, 'an old-key token is refused once the key is removed')
  t.equal((await after.inject({ url: '/me', headers: bearer(rotated.access_token) })).statusCode, 200)
  t.equal((await refresh(after, rotated.refresh_token)).statusCode, 200, 'the session goes on: refresh tokens do not depend on keys')
})

t.test('RFC 7515 A.2 (RS256) and A.3 (ES256) examples verify with keys resolved from their JWKs', async t => {
  const a2 = resolveKey({
    kid: 'a2',
    alg: 'RS256',
    key: {
      kty: 'RSA',
      e: 'AQAB',
      n: 'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ'
    }
  })
  const a2Token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw'
  const a3 = resolveKey({
    kid: 'a3',
    alg: 'ES256',
    key: { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }
  })
  const a3Token = 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q'
  for (const [key, token] of [[a2, a2Token], [a3, a3Token]] as const) {
    t.equal(key.signingKey, undefined, 'a public JWK verifies only')
    const verify = createVerifier({ key: key.verificationKey as string, algorithms: [key.alg], ignoreExpiration: true })
    t.same(verify(token), { iss: 'joe', exp: 1300819380, 'http://example.com/is_root': true }, `${key.alg} example verifies`)
    const tampered = token.slice(0, -2) + (token.endsWith('A') ? 'BB' : 'AA')
    t.throws(() => verify(tampered), `${key.alg}: a changed signature fails`)
  }
})

t.test('algorithm confusion and key injection attempts are 401', async t => {
  // A listener that must never be asked for anything: jku / x5u headers are never fetched.
  let fetched = 0
  const listener = createServer((_request, response) => { fetched++; response.end('{"keys":[]}') })
  await new Promise<void>(resolve => listener.listen(0, '127.0.0.1', resolve))
  t.teardown(() => listener.close())
  const url = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/`

  // The EC key signs; the RSA key only verifies, and its public PEM is what an attacker knows.
  const app = await issuer({ keys: [{ kid: 'ec', alg: 'ES256', key: p256.privateKey }, { kid: 'rsa', alg: 'RS256', key: rsaKey.publicKey }] })
  t.teardown(() => app.close())
  const good = await loginOn(app)
  const claims = decodePart(good.access_token, 1)
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const hmacWith = (key: string | Buffer, header: Record<string, unknown>): string => {
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', ...header })}.${b64(claims)}`
    return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
  }
  const spki = rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const pkcs1 = rsaKey.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string
  const attacker = ec('prime256v1')
  const signEs = (header: Record<string, unknown>, key: KeyObject): string => {
    const input = `${b64({ alg: 'ES256', typ: 'at+jwt', ...header })}.${b64(claims)}`
    const signature = createSign('SHA256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
    return `${input}.${signature}`
  }
  const [, ecPayload, ecSig] = good.access_token.split('.') as [string, string, string]
  const relabel = (alg: string): string => `${b64({ alg, typ: 'at+jwt', kid: 'ec' })}.${ecPayload}.${ecSig}`
  t.equal((await app.inject({ url: '/me', headers: bearer(good.access_token) })).statusCode, 200, 'control: the genuine ES256 token passes')

  const attempts: Record<string, string> = {
    'HS256 signed with the SPKI PEM (kid of the RSA key)': hmacWith(spki, { kid: 'rsa' }),
    'HS256 signed with the SPKI PEM, no trailing newline': hmacWith(spki.trimEnd(), { kid: 'rsa' }),
    'HS256 signed with the PKCS#1 PEM': hmacWith(pkcs1, { kid: 'rsa' }),
    'HS256 signed with the PKCS#1 PEM, no trailing newline': hmacWith(pkcs1.trimEnd(), { kid: 'rsa' }),
    'HS256 signed with the PEM, no kid': hmacWith(spki, {}),
    'ES384 header on the P-256 key': `${b64({ alg: 'ES384', typ: 'at+jwt', kid: 'ec' })}.${ecPayload}.${ecSig}`,
    'ES512 header on the P-256 key': `${b64({ alg: 'ES512', typ: 'at+jwt', kid: 'ec' })}.${ecPayload}.${ecSig}`,
    'RS256 header on the EC key': relabel('RS256'),
    'unknown kid': `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 'nope' })}.${ecPayload}.${ecSig}`,
    'no kid': `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${ecPayload}.${ecSig}`,
    'numeric kid': `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 1 })}.${ecPayload}.${ecSig}`,
    'header not JSON': `${Buffer.from('{"kid":').toString('base64url')}.${ecPayload}.${ecSig}`,
    'no header at all': `.${ecPayload}.${ecSig}`,
    'kid of the other key': `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 'rsa' })}.${ecPayload}.${ecSig}`,
    'path-traversal kid': `${b64({ alg: 'ES256', typ: 'at+jwt', kid: '../../../../dev/null' })}.${ecPayload}.${ecSig}`,
    '__proto__ kid': `${b64({ alg: 'ES256', typ: 'at+jwt', kid: '__proto__' })}.${ecPayload}.${ecSig}`,
    'embedded jwk of the attacker': signEs({ kid: 'ec', jwk: attacker.publicKey.export({ format: 'jwk' }) }, attacker.privateKey),
    'jku pointing at a listener': signEs({ kid: 'ec', jku: url }, attacker.privateKey),
    'x5u pointing at a listener': signEs({ kid: 'ec', x5u: url }, attacker.privateKey),
    'jku with an unknown kid': signEs({ kid: 'attacker', jku: url }, attacker.privateKey)
  }
  for (const [name, token] of Object.entries(attempts)) {
    const response = await app.inject({ url: '/me', headers: bearer(token) })
    t.equal(response.statusCode, 401, name)
    t.equal(response.json().code, 'FST_JWT_AUTH_TOKEN_INVALID', name)
  }
  t.equal(fetched, 0, 'no request reached the listener')
  t.ok(createPublicKey(spki))
})

t.test('verify-only with public keys: authenticate and guards work; nothing is issued', async t => {
  const store = new MemoryStore()
  const auth = await issuer({ store, keys: [{ kid: 'k1', alg: 'ES256', key: p256.privateKey }] })
  t.teardown(() => auth.close())
  const resource = await issuer({ store, keys: [{ kid: 'k1', alg: 'ES256', key: p256.publicKey }] })
  t.teardown(() => resource.close())
  const user = await loginOn(auth, { roles: ['admin'] })

  t.equal((await resource.inject({ url: '/me', headers: bearer(user.access_token) })).statusCode, 200)
  t.equal((await resource.inject({ url: '/admin', headers: bearer(user.access_token) })).statusCode, 200)
  t.equal(resource.hasReplyDecorator('issueTokens'), false, 'no issuing decorator')
  t.equal((await resource.inject({ method: 'POST', url: '/login' })).statusCode, 500, "the app's login cannot issue")
  for (const url of ['/auth/refresh', '/auth/logout', '/auth/logout-all', '/auth/revoke']) {
    t.equal((await resource.inject({ method: 'POST', url, payload: {} })).statusCode, 404, `no ${url}`)
  }
  t.equal((await resource.inject({ url: '/.well-known/jwks.json' })).statusCode, 200, 'it may still publish the public key')

  await auth.jwtAuth.revokeSession(decodePart(user.access_token, 1).sid as string)
  t.equal((await resource.inject({ url: '/me', headers: bearer(user.access_token) })).statusCode, 401, 'revocation holds through the shared store')
})

t.test('verify-only without a store checks signatures and claims only; revocation needs the store', async t => {
  const auth = await issuer({ keys: [{ kid: 'k1', alg: 'ES256', key: p256.privateKey }] })
  t.teardown(() => auth.close())
  const resource = await issuer({ keys: [{ kid: 'k1', alg: 'ES256', key: p256.publicKey }] })
  t.teardown(() => resource.close())
  const user = await loginOn(auth)
  t.equal((await resource.inject({ url: '/me', headers: bearer(user.access_token) })).statusCode, 200)
  t.equal(resource.jwtAuth.store, null)
  await t.rejects(resource.jwtAuth.revokeUser('alice'), { code: 'FST_JWT_AUTH_NO_STORE' })
  await t.rejects(resource.jwtAuth.revokeToken(user.access_token), { code: 'FST_JWT_AUTH_NO_STORE' })
  await t.rejects(resource.jwtAuth.revokeSession('x'), { code: 'FST_JWT_AUTH_NO_STORE' })
  await t.rejects(resource.jwtAuth.listSessions('alice'), { code: 'FST_JWT_AUTH_NO_STORE' })
})
