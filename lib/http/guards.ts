// requireRoles / requireScopes: preHandler factories that run after app.authenticate.
// Roles: the user needs at least one of them. Scopes: the user needs every one (RFC 6750 §3.1).
import { withChallenge } from './challenge.js'
import { FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE, FST_JWT_AUTH_INSUFFICIENT_SCOPE, FST_JWT_AUTH_INVALID_GUARD, FST_JWT_AUTH_INVALID_OPTION } from '../errors.js'
import type { DpopConfig } from '../tokens/dpop.js'
import type { AccessTokenPayload, AuthenticateHook, GuardFactory } from '../types.js'

function checkRequired (name: string, required: string[]): void {
  if (required.length === 0 || !required.every(value => typeof value === 'string' && value !== '')) {
    throw new FST_JWT_AUTH_INVALID_GUARD(name)
  }
}

type Check = (user: AccessTokenPayload) => boolean

function guard (name: string, realm: string, dpop: DpopConfig | null, check: Check, message: string, scope?: string): AuthenticateHook {
  return async function requireClaims (request, reply) {
    const user = request.user as AccessTokenPayload | null
    // app.authenticate sets the user or refuses the request: without a user it did not run. Still
    // a 401 (fail closed, no 5xx from a request), with the fix in the message.
    if (user === null || typeof user !== 'object') throw withChallenge(reply, realm, new FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE(name, name), undefined, dpop)
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
