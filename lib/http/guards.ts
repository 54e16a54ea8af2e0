// requireRoles / requireScopes / requireAuth: preHandler factories that run after app.authenticate.
// Roles: the user needs at least one of them. Scopes: the user needs every one (RFC 6750 §3.1).
// Authentication: recent and strong enough (RFC 9470 step-up challenges).
import { withChallenge } from './challenge.js'
import type { StepUpChallenge } from './challenge.js'
import { parseDuration } from '../duration.js'
import {
  FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE,
  FST_JWT_AUTH_INSUFFICIENT_SCOPE,
  FST_JWT_AUTH_INSUFFICIENT_USER_AUTHENTICATION,
  FST_JWT_AUTH_INVALID_GUARD,
  FST_JWT_AUTH_INVALID_OPTION
} from '../errors.js'
import type { DpopConfig } from '../tokens/dpop.js'
import type { AccessTokenPayload, AuthenticateHook, GuardFactory, RequireAuthFactory } from '../types.js'

function checkRequired (name: string, required: string[]): void {
  if (required.length === 0 || !required.every(value => typeof value === 'string' && value !== '')) {
    throw new FST_JWT_AUTH_INVALID_GUARD(name)
  }
}

type Check = (user: AccessTokenPayload) => boolean

/** The verified user, or a 401 when app.authenticate did not run before the guard `name`. */
function authenticatedUser (name: string, realm: string, dpop: DpopConfig | null, request: { user: unknown }, reply: Parameters<AuthenticateHook>[1]): AccessTokenPayload {
  const user = request.user as AccessTokenPayload | null
  // app.authenticate sets the user or refuses the request: without a user it did not run. Still
  // a 401 (fail closed, no 5xx from a request), with the fix in the message.
  if (user === null || typeof user !== 'object') throw withChallenge(reply, realm, new FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE(name, name), undefined, dpop)
  return user
}

function guard (name: string, realm: string, dpop: DpopConfig | null, check: Check, message: string, scope?: string): AuthenticateHook {
  return async function requireClaims (request, reply) {
    const user = authenticatedUser(name, realm, dpop, request, reply)
    if (!check(user)) throw withChallenge(reply, realm, new FST_JWT_AUTH_INSUFFICIENT_SCOPE(message), scope, dpop)
  }
}

export function createRequireRoles (realm: string, dpop: DpopConfig | null = null): GuardFactory {
  return function requireRoles (...roles) {
    checkRequired('requireRoles', roles)
    const wanted = new Set(roles)
    const check: Check = user => Array.isArray(user.roles) && user.roles.some(role => wanted.has(role))
    return guard('requireRoles', realm, dpop, check, `One of these roles is required: ${roles.join(', ')}`)
  }
}

export function createRequireScopes (realm: string, dpop: DpopConfig | null = null): GuardFactory {
  return function requireScopes (...scopes) {
    checkRequired('requireScopes', scopes)
    // RFC 6749 §3.3: a scope token is printable ASCII without space, '"' and '\\'.
    if (!scopes.every(scope => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))) throw new FST_JWT_AUTH_INVALID_OPTION('requireScopes', 'takes scope tokens of printable ASCII without space, " and \\ (RFC 6749 §3.3)')
    const check: Check = user => {
      if (typeof user.scope !== 'string') return false
      const granted = user.scope.split(' ')
      return scopes.every(scope => granted.includes(scope))
    }
    const scope = scopes.join(' ')
    return guard('requireScopes', realm, dpop, check, `These scopes are required: ${scope}`, scope)
  }
}

// RFC 9470 §3: an acr value in acr_values is space-delimited and quoted, so printable ASCII without
// space, '"' and '\\' (the same set as a scope token).
const acrValue = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** What each requireAuth guard needs, in words, for the OpenAPI description of its routes. */
export const authRequirements = new WeakMap<AuthenticateHook, string>()

export function createRequireAuth (realm: string, dpop: DpopConfig | null): RequireAuthFactory {
  return function requireAuth (options) {
    if (options === null || typeof options !== 'object' || (options.maxAge === undefined && options.acr === undefined)) {
      throw new FST_JWT_AUTH_INVALID_OPTION('requireAuth', 'needs maxAge, acr or both, e.g. requireAuth({ maxAge: \'5m\' })')
    }
    const challenge: StepUpChallenge = {}
    let maxAge: number | undefined
    if (options.maxAge !== undefined) {
      // RFC 9470 max_age is whole seconds (OpenID Connect's max_age): round down, never up.
      maxAge = Math.floor(parseDuration(options.maxAge, 'requireAuth maxAge') / 1000)
      if (maxAge < 1) throw new FST_JWT_AUTH_INVALID_OPTION('requireAuth maxAge', 'must be at least one second')
      challenge.maxAge = maxAge
    }
    let accepted: ReadonlySet<string> | undefined
    if (options.acr !== undefined) {
      if (!Array.isArray(options.acr) || options.acr.length === 0 || !options.acr.every(value => typeof value === 'string' && acrValue.test(value))) {
        throw new FST_JWT_AUTH_INVALID_OPTION('requireAuth acr', 'takes a non-empty array of acr values of printable ASCII without space, " and \\ (RFC 9470 acr_values)')
      }
      accepted = new Set(options.acr)
      challenge.acrValues = options.acr.join(' ')
    }
    const maxAgeMessage = `The authentication is too old for this request: authenticate again (at most ${challenge.maxAge ?? 0} s ago)`
    const acrMessage = `A stronger authentication is required: ${challenge.acrValues ?? ''}`
    const hook: AuthenticateHook = async function requireAuthentication (request, reply) {
      const user = authenticatedUser('requireAuth', realm, dpop, request, reply)
      let refusal: string | undefined
      if (accepted !== undefined && !(typeof user.acr === 'string' && accepted.has(user.acr))) refusal = acrMessage
      // A token without auth_time (issued before it existed) fails closed. Compared in whole
      // seconds, as auth_time and max_age are (OpenID Connect Core §3.1.2.1); no clock tolerance:
      // an authentication must be fresh by the server's clock.
      else if (maxAge !== undefined && !(typeof user.auth_time === 'number' && Math.floor(Date.now() / 1000) - user.auth_time <= maxAge)) refusal = maxAgeMessage
      if (refusal !== undefined) throw withChallenge(reply, realm, new FST_JWT_AUTH_INSUFFICIENT_USER_AUTHENTICATION(refusal), challenge, dpop)
    }
    const needs = [
      challenge.maxAge === undefined ? '' : `an authentication at most ${challenge.maxAge} s old (auth_time)`,
      challenge.acrValues === undefined ? '' : `an acr of ${challenge.acrValues.split(' ').join(', ')}`
    ].filter(part => part !== '').join(' and ')
    authRequirements.set(hook, `Needs ${needs}; otherwise 401 with WWW-Authenticate: Bearer error="insufficient_user_authentication"${challenge.maxAge === undefined ? '' : ', max_age'}${challenge.acrValues === undefined ? '' : ', acr_values'} (RFC 9470): authenticate again or step up.`)
    return hook
  }
}
