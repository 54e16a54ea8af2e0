// RFC 9449 §4.3, one case per check, on lib/tokens/dpop.ts alone. Good proofs come from the
// independent `dpop` package; bad ones are signed here with node:crypto, so that each breaks
// exactly one rule while the rest of the proof is right.
import t from 'tap'
import type { Test } from 'tap'
import { createHash, generateKeyPairSync, sign, randomUUID } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import * as dpop from 'dpop'
import {
  accessTokenHash,
  dpopAlgorithms,
  jwkThumbprint,
  HeaderCache,
  NonceIssuer,
  normaliseHtu,
  ProofError,
  proofReplayKey,
  verifyProof
} from '../lib/tokens/dpop.js'

const rules = { algorithms: new Set<string>(dpopAlgorithms), proofMaxAge: 30 }
const htu = 'https://api.example.com/profiles'
const now = Math.floor(Date.now() / 1000)

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

interface TestKey { privateKey: KeyObject, jwk: Record<string, unknown> }
function ecKey (curve = 'P-256'): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve })
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> }
}
const es256 = ecKey()

/** A proof signed with node:crypto: ES256 unless `alg`/`signer` say otherwise. */
function signed (header: Record<string, unknown>, payload: Record<string, unknown>, key: TestKey = es256): string {
  const h = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...header })
  const p = b64({ jti: randomUUID(), htm: 'GET', htu, iat: now, ...payload })
  const signature = sign('sha256', Buffer.from(`${h}.${p}`), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${h}.${p}.${signature.toString('base64url')}`
}

function refusal (t: Test, proof: string, pattern: RegExp, check: Partial<Parameters<typeof verifyProof>[2]> = {}): void {
  t.throws(() => verifyProof(proof, rules, { htm: 'GET', htu, now, ...check }), pattern)
}

t.test('proofs of the dpop package verify, for each of its algorithms, with the RFC 7638 thumbprint', async t => {
  for (const alg of ['ES256', 'Ed25519', 'RS256', 'PS256'] as const) {
    const keypair = await dpop.generateKeyPair(alg)
    const proof = await dpop.generateProof(keypair, `${htu}?page=2#top`, 'GET', undefined, 'the.access.token')
    const verified = verifyProof(proof, rules, { htm: 'GET', htu, now: Math.floor(Date.now() / 1000), accessToken: 'the.access.token' })
    t.equal(verified.jkt, await dpop.calculateThumbprint(keypair.publicKey), `${alg}: the same thumbprint as the client's`)
    t.type(verified.jti, 'string')
  }
})

t.test('the thumbprint is RFC 7638 §3.1\'s example', async t => {
  const jwk = {
    kty: 'RSA',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29'
  }
  t.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
})

t.test('§4.3 step 2: not a well-formed JWS', async t => {
  refusal(t, 'a.b', /not a JWS/)
  refusal(t, 'a.b.c.d', /not a JWS/)
  refusal(t, '!!.e30.x', /header is not base64url/)
  refusal(t, `${Buffer.from('{').toString('base64url')}.e30.x`, /header is not JSON/)
  refusal(t, `${b64([1])}.e30.x`, /header is not a JSON object/)
  refusal(t, 'x'.repeat(9000), /too long/)
  const good = signed({}, {})
  refusal(t, good.slice(0, good.lastIndexOf('.') + 1), /signature is not base64url/)
})

t.test('§4.3 steps 3-4: required members and typ', async t => {
  refusal(t, signed({ typ: 'JWT' }, {}), /typ is not dpop\+jwt/)
  refusal(t, signed({ typ: undefined }, {}), /typ is not dpop\+jwt/)
  refusal(t, signed({ jwk: undefined }, {}), /no jwk header/)
  refusal(t, signed({}, { jti: undefined }), /no valid jti/)
  refusal(t, signed({}, { jti: '' }), /no valid jti/)
  refusal(t, signed({}, { jti: 'x'.repeat(257) }), /no valid jti/)
  refusal(t, signed({}, { iat: '1700000000' }), /no valid iat/)
  refusal(t, signed({}, { htm: undefined }), /htm does not match/)
  refusal(t, signed({}, { htu: undefined }), /htu does not match/)
  refusal(t, signed({ crit: ['exp'] }, {}), /critical header/)
})

t.test('§4.3 step 5: alg none, a symmetric alg, one outside the accepted list', async t => {
  const unsigned = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: es256.jwk })}.${b64({ jti: 'j', htm: 'GET', htu, iat: now })}.`
  refusal(t, unsigned, /alg is not one of the accepted/)
  refusal(t, signed({ alg: 'HS256' }, {}), /alg is not one of the accepted/)
  t.throws(() => verifyProof(signed({}, {}), { ...rules, algorithms: new Set(['EdDSA']) }, { htm: 'GET', htu, now }), /alg is not one of the accepted/, 'ES256 when only EdDSA is allowed')
})

t.test('§4.3 step 6: the signature must verify with the jwk of the header', async t => {
  const other = ecKey()
  const proof = signed({}, {})
  const [, payload, signature] = proof.split('.')
  const swapped = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: other.jwk })}.${payload as string}.${signature as string}`
  refusal(t, swapped, /signature does not verify/)
  const [header] = proof.split('.')
  refusal(t, `${header as string}.${b64({ jti: 'changed', htm: 'GET', htu, iat: now })}.${signature as string}`, /signature does not verify/)
  refusal(t, signed({ alg: 'ES384' }, {}), /does not fit its alg/, { })
  const p384 = ecKey('P-384')
  refusal(t, signed({ alg: 'ES256', jwk: p384.jwk }, {}, p384), /does not fit its alg/)
  refusal(t, signed({ alg: 'RS256' }, {}), /does not fit its alg/, {})
  refusal(t, signed({ jwk: { kty: 'EC', crv: 'P-256', x: es256.jwk.x } }, {}), /jwk is incomplete/)
  refusal(t, signed({ jwk: { ...es256.jwk, x: 'AAAA' } }, {}), /not a valid public key/)
})

t.test('§4.3 step 7: a private key in jwk is refused', async t => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>
  refusal(t, signed({ jwk: privateJwk }, {}, { privateKey, jwk: privateJwk }), /private or symmetric key/)
  refusal(t, signed({ jwk: { kty: 'oct', k: 'c2VjcmV0' } }, {}), /private or symmetric key/)
})

t.test('RSA keys shorter than 2048 bits are refused', async t => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  const h = b64({ typ: 'dpop+jwt', alg: 'RS256', jwk })
  const p = b64({ jti: 'j', htm: 'GET', htu, iat: now })
  const signature = sign('sha256', Buffer.from(`${h}.${p}`), privateKey).toString('base64url')
  refusal(t, `${h}.${p}.${signature}`, /shorter than 2048 bits/)
})

t.test('§4.3 steps 8-9: htm and htu (normalised, query and fragment ignored)', async t => {
  refusal(t, signed({}, { htm: 'POST' }), /htm does not match/)
  refusal(t, signed({}, { htm: 'get' }), /htm does not match/, {})
  refusal(t, signed({}, { htu: 'https://api.example.com/other' }), /htu does not match/)
  refusal(t, signed({}, { htu: 'http://api.example.com/profiles' }), /htu does not match/, {})
  refusal(t, signed({}, { htu: 'https://evil.example/profiles' }), /htu does not match/)
  refusal(t, signed({}, { htu: '/profiles' }), /htu does not match/)
  for (const equivalent of ['HTTPS://API.example.COM:443/profiles', 'https://api.example.com/profiles?x=1', 'https://api.example.com/profiles#f']) {
    t.doesNotThrow(() => verifyProof(signed({}, { htu: equivalent }), rules, { htm: 'GET', htu, now }), equivalent)
  }
  t.equal(normaliseHtu('https://a.example'), 'https://a.example/')
  t.equal(normaliseHtu('http://a.example:80/x'), 'http://a.example/x')
  t.equal(normaliseHtu('ftp://a.example/x'), null)
  t.equal(normaliseHtu('not a uri'), null)
})

t.test('§4.3 step 11: iat within proofMaxAge, a few seconds of future slack', async t => {
  refusal(t, signed({}, { iat: now - 31 }), /too old/)
  refusal(t, signed({}, { iat: now + 6 }), /in the future/)
  refusal(t, signed({}, { iat: Number.NaN }), /no valid iat/)
  t.doesNotThrow(() => verifyProof(signed({}, { iat: now - 30 }), rules, { htm: 'GET', htu, now }))
  t.doesNotThrow(() => verifyProof(signed({}, { iat: now + 5 }), rules, { htm: 'GET', htu, now }))
})

t.test('§4.3 step 12: ath must be the access token\'s hash', async t => {
  const token = 'eyJ.the.token'
  refusal(t, signed({}, {}), /ath does not match/, { accessToken: token })
  refusal(t, signed({}, { ath: accessTokenHash('another') }), /ath does not match/, { accessToken: token })
  t.doesNotThrow(() => verifyProof(signed({}, { ath: accessTokenHash(token) }), rules, { htm: 'GET', htu, now, accessToken: token }))
  t.equal(accessTokenHash(token), createHash('sha256').update(token).digest('base64url'))
})

t.test('§4.3 step 10 and §8: server nonces', async t => {
  const nonces = new NonceIssuer('a server secret', 300)
  const current = nonces.current(now)
  t.ok(nonces.accepts(current, now), 'the current nonce')
  t.ok(nonces.accepts(current, now + 300), 'still accepted one lifetime later (the previous step)')
  t.notOk(nonces.accepts(current, now + 600), 'not two lifetimes later')
  t.notOk(new NonceIssuer('another secret', 300).accepts(current, now), 'another server\'s nonce')
  t.notOk(nonces.accepts(`${current}x`, now), 'a changed nonce')
  t.notOk(nonces.accepts('zz', now), 'made up')
  const missing = t.throws(() => verifyProof(signed({}, {}), rules, { htm: 'GET', htu, now, nonces }))
  t.ok(missing instanceof ProofError && missing.nonce, 'a missing nonce asks for one')
  const stale = t.throws(() => verifyProof(signed({}, { nonce: 'old.nonce' }), rules, { htm: 'GET', htu, now, nonces }))
  t.ok(stale instanceof ProofError && stale.nonce && /stale or unknown/.test(stale.message))
  t.doesNotThrow(() => verifyProof(signed({}, { nonce: current }), rules, { htm: 'GET', htu, now, nonces }))
  const withPackage = await dpop.generateProof(await dpop.generateKeyPair('ES256'), htu, 'GET', current)
  t.doesNotThrow(() => verifyProof(withPackage, rules, { htm: 'GET', htu, now: Math.floor(Date.now() / 1000), nonces }), 'the dpop package\'s nonce')
})

t.test('the replay key depends on the key and the jti, and holds no part of either', async t => {
  const proof = { jkt: 'thumb', jti: 'abc', iat: now }
  t.equal(proofReplayKey(proof), proofReplayKey({ ...proof, iat: now + 1 }))
  t.not(proofReplayKey(proof), proofReplayKey({ ...proof, jkt: 'other' }))
  t.not(proofReplayKey(proof), proofReplayKey({ ...proof, jti: 'abd' }))
  t.notMatch(proofReplayKey(proof), /abc|thumb/)
})

t.test('checked headers are cached by their text, bounded; the signature is still checked on every proof', async t => {
  const headers = new HeaderCache(2)
  const cached = { ...rules, headers }
  const check = { htm: 'GET', htu, now }
  for (let i = 0; i < 3; i++) verifyProof(signed({}, {}), cached, check)
  t.equal(headers.length, 1, 'one client key, one entry')
  const first = signed({}, {})
  const [header, payload] = first.split('.') as [string, string]
  t.ok(headers.get(header), 'found by the header text')
  refusal(t, `${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`, /signature does not verify/, {})
  t.throws(() => verifyProof(`${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`, cached, check), /signature does not verify/, 'a cached header does not spare the signature')
  const others = [ecKey(), ecKey()]
  for (const key of others) verifyProof(signed({}, {}, key), cached, check)
  t.equal(headers.length, 2, 'bounded')
  t.notOk(headers.get(header), 'the oldest went first')
  t.throws(() => verifyProof(signed({ typ: 'JWT' }, {}), cached, check), /typ/, 'a refused header is not cached')
  t.equal(headers.length, 2)
})
