// DPoP proofs (RFC 9449): a JWT the client signs with its own key for each request. This file
// checks one proof (§4.3), computes the key's RFC 7638 thumbprint, normalises `htu` and makes and
// checks the server's nonces (§8/§9). Replay of a proof's `jti` is checked by the caller through
// the store, so that it holds on every instance.
import { createHash, createHmac, createPublicKey, timingSafeEqual, verify as verifySignature, constants } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import { parseDuration } from '../duration.js'
import type { Duration } from '../duration.js'
import { FST_JWT_AUTH_INVALID_OPTION } from '../errors.js'

/** The asymmetric JWS algorithms a proof may use (RFC 7518 §3, RFC 8037, RFC 9864's Ed25519). */
export const dpopAlgorithms = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'] as const
export type DpopAlgorithm = typeof dpopAlgorithms[number]

interface AlgorithmRule {
  kty: 'EC' | 'RSA' | 'OKP'
  /** The curve an EC or OKP key must be on; null for RSA. */
  crv: string | null
  /** node:crypto's digest name; null for EdDSA, which hashes internally. */
  hash: string | null
  pss: boolean
}

const rules: Readonly<Record<DpopAlgorithm, AlgorithmRule>> = {
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256', pss: false },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384', pss: false },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'sha512', pss: false },
  PS256: { kty: 'RSA', crv: null, hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', crv: null, hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', crv: null, hash: 'sha512', pss: true },
  RS256: { kty: 'RSA', crv: null, hash: 'sha256', pss: false },
  RS384: { kty: 'RSA', crv: null, hash: 'sha384', pss: false },
  RS512: { kty: 'RSA', crv: null, hash: 'sha512', pss: false },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null, pss: false },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', hash: null, pss: false }
}

/** RSA keys shorter than this are refused (NIST SP 800-131A). */
const minimumRsaBits = 2048
/** A proof longer than this is refused before it is parsed (an RSA-4096 proof is about 1.5 KB). */
const maximumProofLength = 8192
/** The members of a private JWK (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). */
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
/** Proof headers (one per client key) kept checked and imported. */
const headerCacheSize = 1000
/** How far in the future a proof's iat may be, for clients whose clock runs a little ahead (s). */
export const proofFutureSlack = 5

/** Why a proof was refused: the message names the check, never the proof. */
export class ProofError extends Error {
  /** True when only a fresh server nonce is missing (`use_dpop_nonce`). */
  readonly nonce: boolean
  constructor (message: string, nonce = false) {
    super(message)
    this.nonce = nonce
  }
}

export interface VerifiedProof {
  /** The RFC 7638 thumbprint (SHA-256, base64url) of the proof's key. */
  jkt: string
  jti: string
  /** Seconds. */
  iat: number
}

export interface ProofCheck {
  /** The request's method. */
  htm: string
  /** The request's URI as the server sees it (query and fragment are ignored). */
  htu: string
  /** Unix seconds. */
  now: number
  /** With an access token: the proof must carry its hash in `ath`. */
  accessToken?: string
  /** With server nonces: checks the proof's `nonce`. */
  nonces?: NonceIssuer | null
}

export interface ProofRules {
  algorithms: ReadonlySet<string>
  /** Seconds a proof stays acceptable after its iat. */
  proofMaxAge: number
  /** Checked proof headers (by their exact text) and what they gave: a client's next proofs skip the key import. */
  headers?: HeaderCache
}

/** What a checked proof header gives: its rule, its imported key and the key's thumbprint. */
interface CheckedHeader { rule: AlgorithmRule, key: KeyObject, jkt: string }

/**
 * Proof headers already checked, by their exact base64url text (which fixes typ, alg and jwk),
 * so a client's later proofs skip the JSON parse, the checks and the key import. Bounded: the
 * oldest entry goes when it is full.
 */
export class HeaderCache {
  readonly #entries = new Map<string, CheckedHeader>()
  constructor (readonly size: number) {}

  get (part: string): CheckedHeader | undefined {
    return this.#entries.get(part)
  }

  set (part: string, checked: CheckedHeader): void {
    if (this.#entries.size >= this.size) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(part, checked)
  }

  get length (): number {
    return this.#entries.size
  }
}

const base64urlPart = /^[A-Za-z0-9_-]+$/

function decodeJsonPart (part: string, what: string): Record<string, unknown> {
  if (!base64urlPart.test(part)) throw new ProofError(`The DPoP proof's ${what} is not base64url`)
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw new ProofError(`The DPoP proof's ${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProofError(`The DPoP proof's ${what} is not a JSON object`)
  return value as Record<string, unknown>
}

function nonEmptyString (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

/** The RFC 7638 thumbprint of a public JWK: SHA-256 over its required members in order. */
export function jwkThumbprint (jwk: Readonly<Record<string, unknown>>): string {
  let canonical: string
  if (jwk.kty === 'EC') canonical = JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y })
  else if (jwk.kty === 'RSA') canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })
  else canonical = JSON.stringify({ crv: jwk.crv, kty: 'OKP', x: jwk.x })
  return createHash('sha256').update(canonical).digest('base64url')
}

/** The public key a JWK describes, after checking that it fits the algorithm and holds no private part. */
function importKey (jwk: Record<string, unknown>, rule: AlgorithmRule): KeyObject {
  for (const member of privateMembers) {
    if (member in jwk) throw new ProofError('The DPoP proof\'s jwk holds a private or symmetric key')
  }
  if (jwk.kty !== rule.kty) throw new ProofError('The DPoP proof\'s jwk does not fit its alg')
  const members = rule.kty === 'EC' ? ['x', 'y'] : rule.kty === 'RSA' ? ['n', 'e'] : ['x']
  for (const member of members) {
    const value = jwk[member]
    if (typeof value !== 'string' || !base64urlPart.test(value)) throw new ProofError('The DPoP proof\'s jwk is incomplete')
  }
  if (rule.crv !== null && jwk.crv !== rule.crv) throw new ProofError('The DPoP proof\'s jwk does not fit its alg')
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
  } catch {
    throw new ProofError('The DPoP proof\'s jwk is not a valid public key')
  }
  if (rule.kty === 'RSA' && !(Number(key.asymmetricKeyDetails?.modulusLength) >= minimumRsaBits)) {
    throw new ProofError(`The DPoP proof's RSA key is shorter than ${minimumRsaBits} bits`)
  }
  return key
}

/** True when `signature` is `rule`'s signature of `data` under `key` (JWS encodings: raw r||s for ECDSA). */
function signatureHolds (rule: AlgorithmRule, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  // The key was imported for this rule's type, so verify answers false (a signature of any
  // length or content) rather than throwing.
  if (rule.kty === 'EC') return verifySignature(rule.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
  if (rule.pss) {
    return verifySignature(rule.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature)
  }
  return verifySignature(rule.hash, data, key, signature)
}

/**
 * A URI reduced to what `htu` compares (RFC 9449 §4.3 step 9): scheme, host and port as RFC 3986
 * §6.2.2-6.2.3 normalise them (lower case, default port dropped) and the path, without query or
 * fragment. Null when it is not an absolute http(s) URI.
 */
export function normaliseHtu (uri: string): string | null {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return null
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
  // WHATWG URL already lower-cases scheme and host and drops the default port; an empty path is "/".
  return `${url.protocol}//${url.host}${url.pathname}`
}

/** The base64url SHA-256 of an access token: a proof's `ath` (RFC 9449 §4.2). */
export function accessTokenHash (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

function sameText (a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/**
 * Checks one proof as RFC 9449 §4.3 lists (steps 2-12; step 1, one DPoP header, is the caller's).
 * Throws a ProofError naming the failed check.
 */
export function verifyProof (proof: string, rules_: ProofRules, check: ProofCheck): VerifiedProof {
  if (proof.length > maximumProofLength) throw new ProofError('The DPoP proof is too long')
  const parts = proof.split('.')
  if (parts.length !== 3) throw new ProofError('The DPoP proof is not a JWS in compact serialisation')
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]
  const { rule, key, jkt } = rules_.headers?.get(headerPart) ?? checkHeader(headerPart, rules_)
  const payload = decodeJsonPart(payloadPart, 'payload')
  if (signaturePart === '' || !base64urlPart.test(signaturePart)) throw new ProofError('The DPoP proof\'s signature is not base64url')
  const signed = Buffer.from(`${headerPart}.${payloadPart}`)
  if (!signatureHolds(rule, key, signed, Buffer.from(signaturePart, 'base64url'))) throw new ProofError('The DPoP proof\'s signature does not verify')

  const { jti, htm, htu, iat } = payload
  if (!nonEmptyString(jti) || jti.length > 256) throw new ProofError('The DPoP proof has no valid jti')
  if (htm !== check.htm) throw new ProofError('The DPoP proof\'s htm does not match the request method')
  const expectedHtu = normaliseHtu(check.htu)
  if (typeof htu !== 'string' || expectedHtu === null || normaliseHtu(htu) !== expectedHtu) {
    throw new ProofError('The DPoP proof\'s htu does not match the request URI')
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new ProofError('The DPoP proof has no valid iat')
  if (iat > check.now + proofFutureSlack) throw new ProofError('The DPoP proof was issued in the future')
  if (iat < check.now - rules_.proofMaxAge) throw new ProofError('The DPoP proof is too old')
  if (check.nonces != null) {
    if (!nonEmptyString(payload.nonce) || !check.nonces.accepts(payload.nonce, check.now)) {
      throw new ProofError(payload.nonce === undefined ? 'A DPoP nonce is required' : 'The DPoP nonce is stale or unknown', true)
    }
  }
  if (check.accessToken !== undefined) {
    if (typeof payload.ath !== 'string' || !sameText(payload.ath, accessTokenHash(check.accessToken))) {
      throw new ProofError('The DPoP proof\'s ath does not match the access token')
    }
  }
  return { jkt, jti, iat }
}

/** §4.3 steps 3-5 and 7 on a proof's header; a header that passes is cached (before the signature is checked: it holds no secret). */
function checkHeader (headerPart: string, rules_: ProofRules): CheckedHeader {
  const header = decodeJsonPart(headerPart, 'header')
  if (header.typ !== 'dpop+jwt') throw new ProofError('The DPoP proof\'s typ is not dpop+jwt')
  const alg = header.alg
  if (typeof alg !== 'string' || !rules_.algorithms.has(alg)) throw new ProofError('The DPoP proof\'s alg is not one of the accepted algorithms')
  if ('crit' in header) throw new ProofError('The DPoP proof has critical header parameters this server does not understand')
  const jwk = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new ProofError('The DPoP proof has no jwk header')
  const rule = rules[alg as DpopAlgorithm]
  const checked = { rule, key: importKey(jwk as Record<string, unknown>, rule), jkt: jwkThumbprint(jwk as Record<string, unknown>) }
  rules_.headers?.set(headerPart, checked)
  return checked
}

/**
 * Server nonces without server state (RFC 9449 §8, §9): a nonce is a time step and its HMAC,
 * so every instance that shares the secret accepts it. A nonce is current for its own step and
 * the next; a new one is offered whenever the step changes.
 */
export class NonceIssuer {
  readonly #key: Buffer
  readonly #step: number

  /** `lifetime` in seconds: a nonce is accepted for at least `lifetime` and at most twice that. */
  constructor (secret: Buffer | string, lifetime: number) {
    this.#key = createHash('sha256').update('fastify-jwt-auth dpop nonce\0').update(secret).digest()
    this.#step = Math.max(1, Math.floor(lifetime))
  }

  #mint (step: number): string {
    const label = step.toString(36)
    return `${label}.${createHmac('sha256', this.#key).update(label).digest('base64url').slice(0, 22)}`
  }

  /** The nonce to send now (seconds). */
  current (now: number): string {
    return this.#mint(Math.floor(now / this.#step))
  }

  accepts (nonce: string, now: number): boolean {
    const dot = nonce.indexOf('.')
    if (dot < 1 || nonce.length > 64) return false
    const step = Number.parseInt(nonce.slice(0, dot), 36)
    const currentStep = Math.floor(now / this.#step)
    if (step !== currentStep && step !== currentStep - 1) return false
    return sameText(nonce, this.#mint(step))
  }
}

/** The digest under which a store remembers a proof (key and jti, so that one client's jti never blocks another's). */
export function proofReplayKey (proof: VerifiedProof): string {
  return createHash('sha256').update(proof.jkt).update('\0').update(proof.jti).digest('base64url').slice(0, 32)
}

/** The `dpop` option (DESIGN §8). */
export interface DpopOptions {
  /**
   * True: every client must prove possession (Bearer tokens are refused). False (the default
   * when `dpop` is given): DPoP and Bearer clients are both served; a bound token still needs
   * its proof.
   */
  required?: boolean
  /** The proof algorithms accepted. Default: all of `dpopAlgorithms`. */
  algorithms?: DpopAlgorithm[]
  /**
   * Server nonces (RFC 9449 §8, §9): true, or `{ lifetime, secret }`. A nonce is accepted for
   * `lifetime` to twice that (default '5m'). The secret defaults to one derived from the signing
   * key; a verify-only registration must give one, shared with the issuer's instances.
   */
  nonce?: boolean | { lifetime?: Duration, secret?: string | Buffer }
  /** How long after its `iat` a proof is accepted (default '30s'); replayed `jti`s are remembered that long. */
  proofMaxAge?: Duration
}

export interface DpopConfig extends ProofRules {
  required: boolean
  /** The `algs` parameter of the DPoP challenge (RFC 9449 §7.1). */
  algs: string
  nonces: NonceIssuer | null
}

function dpopOptionError (name: string, problem: string): Error {
  return new FST_JWT_AUTH_INVALID_OPTION(`dpop.${name}`, problem)
}

/** The normalised `dpop` option, or null when the mode is off. `keySecret` derives the nonce secret. */
export function normaliseDpop (option: unknown, keySecret: string | Buffer | undefined): DpopConfig | null {
  if (option === undefined || option === false) return null
  if (option === true) option = {}
  if (option === null || typeof option !== 'object' || Array.isArray(option)) throw new FST_JWT_AUTH_INVALID_OPTION('dpop', 'must be a boolean or an object')
  const { required = false, algorithms = [...dpopAlgorithms], nonce = false, proofMaxAge = '30s' } = option as DpopOptions
  if (typeof required !== 'boolean') throw dpopOptionError('required', 'must be a boolean')
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw dpopOptionError('algorithms', 'must be a non-empty array')
  for (const alg of algorithms) {
    if (!(dpopAlgorithms as readonly unknown[]).includes(alg)) throw dpopOptionError('algorithms', `may hold only ${dpopAlgorithms.join(', ')} (got ${String(alg)})`)
  }
  const maxAge = parseDuration(proofMaxAge, 'dpop.proofMaxAge') / 1000
  if (maxAge > 300) throw dpopOptionError('proofMaxAge', 'must be at most 5 minutes')
  let nonces: NonceIssuer | null = null
  if (nonce !== false) {
    if (nonce !== true && (nonce === null || typeof nonce !== 'object')) throw dpopOptionError('nonce', 'must be a boolean or an object')
    const settings = nonce === true ? {} : nonce
    const secret = settings.secret ?? keySecret
    if (secret === undefined || secret.length < 32) throw dpopOptionError('nonce.secret', 'is required without a signing key, at least 32 bytes')
    nonces = new NonceIssuer(secret, parseDuration(settings.lifetime ?? '5m', 'dpop.nonce.lifetime') / 1000)
  }
  return Object.freeze({
    required,
    algorithms: new Set<string>(algorithms),
    algs: [...new Set(algorithms)].join(' '),
    proofMaxAge: maxAge,
    nonces,
    headers: new HeaderCache(headerCacheSize)
  })
}
