// Access tokens: JWTs with `typ: at+jwt` (RFC 9068), signed and verified by fast-jwt (the
// engine of @fastify/jwt) through a key ring built once at registration. Each key has its own
// verifier, pinned to that key's algorithm and checking iss, aud, typ and the registered
// claims; a token's `kid` selects the key. With the single `secret` there is one key and no kid.
import { randomUUID } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { createSigner, createVerifier } from 'fast-jwt'
import { FST_JWT_AUTH_JWKS_UNAVAILABLE, FST_JWT_AUTH_TOKEN_EXPIRED, FST_JWT_AUTH_TOKEN_INVALID } from '../errors.js'
import type { Config } from '../options.js'
import type { AccessTokenPayload, IssueClaims } from '../types.js'
import { RemoteKeySet } from './jwks.js'
import { parseRefreshToken } from './refresh.js'
import type { ResolvedKey } from './keys.js'
import { VerifiedTokenCache } from './verified-cache.js'

export const accessTokenType = 'at+jwt'
const requiredClaims = ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid']

type Verify = (token: string) => AccessTokenPayload

export interface SignedAccessToken {
  token: string
  /** Seconds until it expires. */
  expiresIn: number
}

export interface AccessTokens {
  /**
   * Undefined in verify-only mode. The token lives one access lifetime, but never past its
   * session's end (`notAfter`, epoch ms): no token outlives the session it belongs to.
   */
  readonly sign: ((claims: IssueClaims, sessionId: string, notAfter: number) => SignedAccessToken) | undefined
  /**
   * The payload, or FST_JWT_AUTH_TOKEN_EXPIRED / _INVALID (or _JWKS_UNAVAILABLE). Synchronous
   * (returns or throws) unless a remote key set must be fetched first: then a promise.
   */
  verify (token: string): AccessTokenPayload | Promise<AccessTokenPayload>
  /**
   * True when the token is one this instance verified and still remembers (the verified-token
   * cache): well-formed, so a caller may skip its own character checks. Says nothing of expiry.
   */
  remembers (token: string): boolean
  /** The public keys, for the JWKS route. */
  readonly publicJwks: JsonWebKey[]
  /** Fetches a remote key set once, when there is one. */
  load (): Promise<void>
}

/** The `kid` of a token's header, without verifying anything. */
function kidOf (token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { kid?: unknown }
    return typeof header.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

const base64urlAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const base64urlText = /^[A-Za-z0-9_-]*$/

/** The refusal of a token that is no JWT; a refresh token sent as Bearer gets a hint that says where it goes. */
function notAnAccessToken (token: string): Error {
  const error = new FST_JWT_AUTH_TOKEN_INVALID()
  if (parseRefreshToken(token) !== null) error.message = 'This is a refresh token, not an access token: send it to POST /auth/refresh to get an access token'
  return error
}

/**
 * One token, one spelling: a signature whose unused trailing bits were changed decodes to the
 * same bytes, and would let a copy dodge anything keyed on the token string. Checked without
 * decoding: the last character of a 2- or 3-character tail must leave its unused bits at zero.
 */
function canonicalSignature (token: string): boolean {
  const signature = token.slice(token.lastIndexOf('.') + 1)
  if (!base64urlText.test(signature)) return false
  const tail = signature.length % 4
  if (tail === 0) return true
  if (tail === 1) return false
  const unusedBits = tail === 2 ? 0b1111 : 0b11
  return (base64urlAlphabet.indexOf(signature.charAt(signature.length - 1)) & unusedBits) === 0
}

export function createAccessTokens (config: Readonly<Config>, log: FastifyBaseLogger): AccessTokens {
  const claimChecks = {
    allowedIss: config.issuer,
    allowedAud: config.audience,
    checkTyp: accessTokenType,
    requiredClaims,
    clockTolerance: config.clockTolerance,
    // No token lives longer than an access token does, whatever its exp says.
    maxAge: config.accessTtl
  }
  // The plugin's own cache, not fast-jwt's: fast-jwt would hand every request the same payload
  // object, so a route that changed request.user would change it for later requests.
  const cache = config.accessCacheSize === 0 ? null : new VerifiedTokenCache(config.accessCacheSize, config.accessTtl)
  const verifierFor = (key: ResolvedKey): Verify =>
    createVerifier({ key: key.verificationKey, algorithms: [key.alg], ...claimChecks }) as Verify

  const verifiers = new Map<string, Verify>()
  for (const key of config.keys) verifiers.set(key.kid ?? '', verifierFor(key))
  // The single `secret`: one verifier, and no header to read.
  const only = config.keys.length === 1 && config.keys[0]?.kid === undefined ? verifiers.get('') : undefined

  const remote = config.remoteJwks === null
    ? null
    : new RemoteKeySet(config.remoteJwks, log, keys => {
      verifiers.clear()
      // A key that left the set must stop admitting the tokens it verified.
      cache?.clear()
      for (const key of keys) verifiers.set(key.kid as string, verifierFor(key))
    })

  /** Checks signature and claims; throws the plugin's errors. */
  function check (verify: Verify, token: string): AccessTokenPayload {
    let payload: AccessTokenPayload
    try {
      payload = verify(token)
    } catch (error) {
      throw (error as { code?: string }).code === 'FAST_JWT_EXPIRED'
        ? new FST_JWT_AUTH_TOKEN_EXPIRED()
        : notAnAccessToken(token)
    }
    // Only our signer makes tokens that pass the signature check, but claim types are
    // checked anyway: the revocation lookup keys on them.
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.jti !== 'string') {
      throw new FST_JWT_AUTH_TOKEN_INVALID()
    }
    cache?.set(token, payload)
    return payload
  }

  /** A kid the remote key set does not have yet: fetch it (rate-limited), then verify. */
  async function verifyAfterFetch (remoteKeys: RemoteKeySet, kid: string, token: string): Promise<AccessTokenPayload> {
    await remoteKeys.refreshForUnknownKid()
    const verifier = verifiers.get(kid)
    if (verifier === undefined) throw remoteKeys.failing ? new FST_JWT_AUTH_JWKS_UNAVAILABLE() : new FST_JWT_AUTH_TOKEN_INVALID()
    remoteKeys.refreshIfStale()
    return check(verifier, token)
  }

  const signing = config.signingKey
  const signer = signing === null
    ? undefined
    : createSigner({
      key: signing.signingKey as string | Buffer,
      algorithm: signing.alg,
      ...(signing.kid === undefined ? {} : { kid: signing.kid }),
      iss: config.issuer,
      aud: config.audience,
      header: { typ: accessTokenType }
    } as Parameters<typeof createSigner>[0] & { key: string | Buffer })

  return {
    sign: signer === undefined
      ? undefined
      : (claims, sessionId, notAfter) => {
          const now = Date.now()
          const iat = Math.floor(now / 1000)
          // A store's garbage end (NaN, null, a string) falls back to the full lifetime.
          const end = typeof notAfter === 'number' && notAfter < now + config.accessTtl ? notAfter : now + config.accessTtl
          const exp = Math.floor(end / 1000)
          return { token: signer({ ...claims, client_id: config.clientId, iat, exp, jti: randomUUID(), sid: sessionId }), expiresIn: Math.max(0, exp - iat) }
        },

    verify (token) {
      // A hit is a token that passed every check below, and has not expired since.
      const cached = cache?.get(token)
      if (cached !== undefined) {
        remote?.refreshIfStale()
        return cached
      }
      if (!canonicalSignature(token)) throw new FST_JWT_AUTH_TOKEN_INVALID()
      if (only !== undefined) return check(only, token)
      const kid = kidOf(token)
      if (kid === undefined) throw notAnAccessToken(token)
      const verifier = verifiers.get(kid)
      if (verifier === undefined) {
        if (remote === null) throw new FST_JWT_AUTH_TOKEN_INVALID()
        return verifyAfterFetch(remote, kid, token)
      }
      remote?.refreshIfStale()
      return check(verifier, token)
    },

    remembers (token) {
      return cache?.has(token) === true
    },

    publicJwks: config.keys.flatMap(key => key.publicJwk === undefined ? [] : [key.publicJwk]),

    async load () {
      await remote?.load()
    }
  }
}
