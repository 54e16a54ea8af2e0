// The app's claims, checked wherever they enter the plugin: login, the claims hook, updateClaims.
import { FST_JWT_AUTH_INVALID_CLAIMS } from '../errors.js'
import { isFitSub, maxSubBytes } from '../tokens/refresh.js'
import type { ClaimsUpdate, IssueClaims } from '../types.js'

/** Claims as a session stores them: checked plain JSON with the session's sub. */
export type StoredClaims = Record<string, unknown> & { sub: string }

// Set by the plugin from the signer's configuration; the app may not override them.
const reservedClaims = ['iss', 'aud', 'iat', 'exp', 'nbf', 'jti', 'sid', 'client_id', 'fgp', 'csrf', 'cnf']

/**
 * The claims as they will be stored and signed: a JSON copy, so that what is checked is what is
 * signed (no toJSON, getters or values JSON drops or cannot hold), and no object is shared.
 */
function plainJson (value: unknown, source: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'claims must be an object')
  }
  let text: string
  try {
    // JSON.stringify would sign what toJSON returns instead, reserved claims and all.
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'claims must be a plain object without a toJSON method')
    }
    text = JSON.stringify(value)
  } catch (error) {
    if ((error as { code?: unknown }).code === 'FST_JWT_AUTH_INVALID_CLAIMS') throw error
    // A BigInt, a cycle or a throwing getter: the app's own message stays out of the answer.
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'claims must be plain JSON data')
  }
  return JSON.parse(text) as Record<string, unknown>
}

/** Refuses claims the plugin could not sign as given; `source` names the caller in the error. */
function checkClaims (claims: Record<string, unknown>, source: string): StoredClaims {
  // An own __proto__ key (from JSON.parse) becomes the prototype of whatever copies the claims.
  if (Object.hasOwn(claims, '__proto__')) throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'claims must not have a __proto__ key')
  const sub: unknown = claims.sub
  if (typeof sub !== 'string' || sub === '' || Buffer.byteLength(sub) > maxSubBytes) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, `sub must be a non-empty string of at most ${maxSubBytes} bytes`)
  }
  if (!isFitSub(sub)) throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'sub must hold no control characters and no unpaired surrogates')
  for (const name of reservedClaims) {
    if (name in claims) throw new FST_JWT_AUTH_INVALID_CLAIMS(source, `the ${name} claim is set by the plugin`)
  }
  const roles: unknown = claims.roles
  if (roles !== undefined && !(Array.isArray(roles) && roles.every(role => typeof role === 'string'))) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'roles must be an array of strings')
  }
  if (claims.scope !== undefined && typeof claims.scope !== 'string') {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'scope must be a space-delimited string')
  }
  return claims as StoredClaims
}

/** Login claims as the session stores them (a checked JSON copy). */
export function storableClaims (claims: IssueClaims, source: string): StoredClaims {
  return checkClaims(plainJson(claims, source), source)
}

/**
 * The claims of `sub` from a claims update (the claims hook, updateClaims): the sub is the
 * session's, and may be left out; any other sub is refused.
 */
export function claimsOf (sub: string, update: ClaimsUpdate, source: string): StoredClaims {
  const claims = plainJson(update, source)
  if ('sub' in claims && claims.sub !== sub) throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'the sub of a session cannot change')
  return checkClaims({ ...claims, sub }, source)
}
