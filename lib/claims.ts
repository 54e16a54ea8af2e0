// The app's claims, checked wherever they enter the plugin: login, the claims hook, updateClaims.
import { FST_JWT_AUTH_INVALID_CLAIMS } from './errors.js'
import { isFitSub, maxSubBytes } from './tokens/refresh.js'
import type { ClaimsUpdate, IssueClaims } from './types.js'

// Set by the plugin from the signer's configuration; the app may not override them.
const reservedClaims = ['iss', 'aud', 'iat', 'exp', 'nbf', 'jti', 'sid', 'client_id', 'fgp', 'csrf']

/** Refuses claims the plugin could not sign as given; `source` names the caller in the error. */
export function checkClaims (claims: IssueClaims, source: string): void {
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'claims must be an object')
  }
  // JSON.stringify would sign what toJSON returns instead, reserved claims and all.
  if (typeof (claims as { toJSON?: unknown }).toJSON === 'function') {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'claims must be a plain object without a toJSON method')
  }
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
}

/**
 * The claims of `sub` from a claims update (the claims hook, updateClaims): the sub is the
 * session's, and may be left out; any other sub is refused.
 */
export function claimsOf (sub: string, update: ClaimsUpdate, source: string): IssueClaims {
  if (update !== null && typeof update === 'object' && 'sub' in update && update.sub !== sub) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(source, 'the sub of a session cannot change')
  }
  const claims = { ...update, sub } as IssueClaims
  checkClaims(claims, source)
  return claims
}
