// Signing and verification keys: every form a user may pass (PEM, KeyObject, JWK, raw secret)
// is checked once against its algorithm and turned into what fast-jwt takes (PEM or secret),
// plus the public JWK that the JWKS route serves.
import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { FST_JWT_AUTH_GUESSABLE_SECRET, FST_JWT_AUTH_INVALID_KEY } from '../errors.js'

const hmacAlgorithms = ['HS256', 'HS384', 'HS512'] as const
export const asymmetricAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export type HmacAlgorithm = typeof hmacAlgorithms[number]
export type AsymmetricAlgorithm = typeof asymmetricAlgorithms[number]
export type Algorithm = HmacAlgorithm | AsymmetricAlgorithm

/** A key as the user passes it: PEM text, a KeyObject, a JWK, or (for HS*) a raw secret. */
export type KeyInput = string | Buffer | KeyObject | JsonWebKey

export interface KeyOptions {
  /** Key id, carried in the header of the tokens it signs. */
  kid: string
  alg: Algorithm
  /** A private key (signs and verifies), a public key (verifies only), or an HMAC secret. */
  key: KeyInput
}

/** A checked key, ready for fast-jwt. */
export interface ResolvedKey {
  kid: string | undefined
  alg: Algorithm
  /** What signs: a PKCS#8 PEM or the HMAC secret; absent for a public key. */
  signingKey: string | Buffer | undefined
  /** What verifies: an SPKI PEM or the HMAC secret. */
  verificationKey: string | Buffer
  /** The public JWK (kid, alg, use), for asymmetric keys only. */
  publicJwk: JsonWebKey | undefined
}

// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
export const hmacBytes: Readonly<Record<HmacAlgorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 }
const curves: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }
const minRsaBits = 2048

export function isHmac (alg: Algorithm): alg is HmacAlgorithm {
  return (hmacAlgorithms as readonly string[]).includes(alg)
}

function invalid (kid: string | undefined, reason: string): Error {
  return new FST_JWT_AUTH_INVALID_KEY(kid === undefined ? reason : `key "${kid}": ${reason}`)
}

/** True for text that is key material in a serialised form, which must never be an HMAC secret. */
function looksLikeAsymmetricKeyText (secret: string | Buffer): boolean {
  const text = (typeof secret === 'string' ? secret : secret.toString('utf8')).trim()
  if (/-----BEGIN [A-Z0-9 ]+-----/.test(text)) return true
  if (!text.startsWith('{')) return false
  try {
    const parsed = JSON.parse(text) as { kty?: unknown, keys?: unknown }
    return typeof parsed.kty === 'string' || Array.isArray(parsed.keys)
  } catch {
    return false
  }
}

// Words that make up the secrets people type by hand; a secret that is little more than these
// falls to a dictionary attack however long it is (an HS256 token can be brute-forced offline).
const commonWords = [
  'secret', 'password', 'passwd', 'changeme', 'change', 'default', 'example', 'sample', 'token',
  'access', 'refresh', 'jwt', 'key', 'private', 'public', 'super', 'my', 'your', 'our', 'the',
  'test', 'testing', 'dev', 'development', 'prod', 'production', 'staging', 'local', 'admin',
  'root', 'user', 'app', 'api', 'auth', 'login', 'session', 'fastify', 'node', 'server',
  'qwerty', 'letmein', 'welcome', 'hello', 'world', 'please', 'string', 'random', 'very', 'long',
  'strong', 'bit', 'bits', 'here', 'put', 'replace', 'this', 'with', 'for', 'and', 'not',
  '123456789', '12345678', '1234567', '123456', '12345', '1234', '123', '256', '512', '384'
].sort((a, b) => b.length - a.length)
const commonWordPattern = new RegExp(commonWords.join('|'), 'gi')
const minDistinctBytes = 10
const minLeftover = 16

/** Why a secret is guessable, or null when it is not. */
function guessableSecretReason (secret: string | Buffer): string | null {
  const bytes = typeof secret === 'string' ? Buffer.from(secret) : secret
  if (new Set(bytes).size < minDistinctBytes) return `fewer than ${minDistinctBytes} distinct bytes`
  if (typeof secret === 'string') {
    const leftover = secret.replace(commonWordPattern, '').replace(/[^A-Za-z0-9]/g, '')
    if (leftover.length < minLeftover) return 'made of common words'
  }
  return null
}

/** Checks an HMAC secret for its algorithm and returns it. */
function checkHmacSecret (secret: unknown, alg: HmacAlgorithm, kid?: string): string | Buffer {
  let bytes: string | Buffer
  if (secret instanceof KeyObject && secret.type === 'secret') {
    bytes = secret.export()
  } else if (isJwk(secret) && secret.kty === 'oct' && typeof secret.k === 'string') {
    bytes = Buffer.from(secret.k, 'base64url')
  } else if (typeof secret === 'string' || Buffer.isBuffer(secret)) {
    bytes = secret
  } else {
    throw invalid(kid, `${alg} needs a secret (string, Buffer, secret KeyObject or oct JWK)`)
  }
  if (looksLikeAsymmetricKeyText(bytes)) {
    throw invalid(kid, `a PEM or JWK key cannot be an ${alg} secret; asymmetric keys go in keys with an RS/PS/ES/EdDSA alg`)
  }
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length
  if (length < hmacBytes[alg]) {
    throw invalid(kid, `an ${alg} secret needs at least ${hmacBytes[alg]} bytes (got ${length}); generate one with crypto.randomBytes(${hmacBytes[alg]}).toString("base64url")`)
  }
  const guessable = guessableSecretReason(bytes)
  if (guessable !== null) throw new FST_JWT_AUTH_GUESSABLE_SECRET(kid === undefined ? guessable : `key "${kid}": ${guessable}`)
  return bytes
}

function isJwk (value: unknown): value is JsonWebKey {
  return value !== null && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof KeyObject) &&
    typeof (value as { kty?: unknown }).kty === 'string'
}

/** The private and public KeyObjects of an asymmetric key input. */
function keyObjects (input: KeyInput, kid: string): { privateKey: KeyObject | undefined, publicKey: KeyObject } {
  try {
    if (input instanceof KeyObject) {
      if (input.type === 'private') return { privateKey: input, publicKey: createPublicKey(input) }
      if (input.type === 'public') return { privateKey: undefined, publicKey: input }
      throw new Error('a secret KeyObject is not an asymmetric key')
    }
    if (isJwk(input)) {
      if (typeof input.d === 'string') {
        const privateKey = createPrivateKey({ key: input, format: 'jwk' })
        return { privateKey, publicKey: createPublicKey(privateKey) }
      }
      return { privateKey: undefined, publicKey: createPublicKey({ key: input, format: 'jwk' }) }
    }
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      const text = input.toString().trim()
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
        const privateKey = createPrivateKey(text)
        return { privateKey, publicKey: createPublicKey(privateKey) }
      }
      if (/-----BEGIN /.test(text)) return { privateKey: undefined, publicKey: createPublicKey(text) }
    }
  } catch (error) {
    throw invalid(kid, `unreadable key (${(error as Error).message})`)
  }
  throw invalid(kid, 'an asymmetric key must be PEM text, a KeyObject or a JWK')
}

/** Checks that the key's type, curve and size fit the algorithm. */
function checkKeyFitsAlgorithm (publicKey: KeyObject, alg: AsymmetricAlgorithm, kid: string): void {
  const type = publicKey.asymmetricKeyType
  const details = publicKey.asymmetricKeyDetails as NonNullable<KeyObject['asymmetricKeyDetails']> // set on every asymmetric key
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    if (type !== 'rsa') throw invalid(kid, `${alg} needs an RSA key, not ${String(type)}`)
    if ((details.modulusLength as number) < minRsaBits) {
      throw invalid(kid, `${alg} needs an RSA key of at least ${minRsaBits} bits (got ${String(details.modulusLength)})`)
    }
  } else if (alg === 'EdDSA') {
    if (type !== 'ed25519' && type !== 'ed448') throw invalid(kid, `EdDSA needs an Ed25519 or Ed448 key, not ${String(type)}`)
  } else if (type !== 'ec' || details.namedCurve !== curves[alg]) {
    throw invalid(kid, `${alg} needs an EC key on ${curves[alg] as string}, not ${String(type)} ${String(details.namedCurve ?? '')}`.trim())
  }
}

export function resolveKey (options: KeyOptions): ResolvedKey {
  const { kid, alg, key } = options
  if (typeof kid !== 'string' || kid === '') throw invalid(undefined, 'every key needs a non-empty string kid')
  if (isHmac(alg)) {
    const secret = checkHmacSecret(key, alg, kid)
    return { kid, alg, signingKey: secret, verificationKey: secret, publicJwk: undefined }
  }
  if (!(asymmetricAlgorithms as readonly string[]).includes(alg)) {
    throw invalid(kid, `unknown alg ${String(alg)}; use one of ${[...hmacAlgorithms, ...asymmetricAlgorithms].join(', ')}`)
  }
  const { privateKey, publicKey } = keyObjects(key, kid)
  checkKeyFitsAlgorithm(publicKey, alg, kid)
  return {
    kid,
    alg,
    signingKey: privateKey?.export({ type: 'pkcs8', format: 'pem' }) as string | undefined,
    verificationKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
  }
}

/** A key for the single `secret` option: no kid, HMAC only. */
export function resolveSecret (secret: string | Buffer, alg: HmacAlgorithm): ResolvedKey {
  const checked = checkHmacSecret(secret, alg)
  return { kid: undefined, alg, signingKey: checked, verificationKey: checked, publicJwk: undefined }
}
