// OpenAPI (@fastify/swagger), opt-in with the `openapi` option: the bearer security scheme, and
// the onRoute hook that names it on every route app.authenticate guards. Fastify ignores
// `schema.security`; swagger reads it, and throws on a scheme its document lacks.
import type { RouteOptions } from 'fastify'
import { authRequirements } from './guards.js'
import type { AuthenticateHook } from '../types.js'

/** The scheme name of `openapi: true`. */
export const defaultSecuritySchemeName = 'bearerAuth'

const bearerScheme = Object.freeze({
  type: 'http',
  scheme: 'bearer',
  bearerFormat: 'JWT',
  description: 'An access token (RFC 9068 at+jwt) from the login route or the refresh route. Browsers may send the access cookie instead.'
} as const)

/**
 * The `components.securitySchemes` entry for the scheme name given in the `openapi` option:
 * `openapi: { components: { securitySchemes: { ...openapiSecuritySchemesNamed('jwt') } } }`.
 */
export function openapiSecuritySchemesNamed<Name extends string> (name: Name): Readonly<Record<Name, typeof bearerScheme>> {
  return Object.freeze({ [name]: bearerScheme } as Record<Name, typeof bearerScheme>)
}

/** The entry for `openapi: true` (the scheme `bearerAuth`). */
export const openapiSecuritySchemes = openapiSecuritySchemesNamed(defaultSecuritySchemeName)

/** `security` of a route that needs an access token. */
function bearerRequired (name: string): Array<Record<string, string[]>> {
  return [{ [name]: [] }]
}

/** `security` of a route that takes an access token but also works without one. */
export function bearerOptional (name: string): Array<Record<string, string[]>> {
  return [{ [name]: [] }, {}]
}

const guardingHooks = ['onRequest', 'preValidation', 'preHandler'] as const

function runs (hooks: unknown, hook: AuthenticateHook): boolean {
  return hooks === hook || (Array.isArray(hooks) && hooks.includes(hook))
}

/**
 * onRoute hook: a route whose own onRequest, preValidation or preHandler runs `authenticate`
 * declares the bearer scheme `name`, unless its schema already says what its security is.
 */
export function declareBearerSecurity (authenticate: AuthenticateHook, name: string): (route: RouteOptions) => void {
  return function declareBearerSecurity (route) {
    if ((route.schema as { security?: unknown } | undefined)?.security !== undefined) return
    if (!guardingHooks.some(hook => runs(route[hook], authenticate))) return
    // A new object: the app's schema object may be shared with other routes.
    route.schema = { ...route.schema, security: bearerRequired(name) } as RouteOptions['schema']
  }
}

/**
 * onRoute hook: a route guarded by `app.requireAuth()` says in its OpenAPI description what
 * authentication it needs and how it refuses (RFC 9470), after the app's own description.
 */
export function describeAuthRequirements (route: RouteOptions): void {
  const needs: string[] = []
  for (const hook of guardingHooks) {
    for (const guard of [route[hook]].flat()) {
      const text = authRequirements.get(guard as AuthenticateHook)
      if (text !== undefined) needs.push(text)
    }
  }
  if (needs.length === 0) return
  const own = (route.schema as { description?: unknown } | undefined)?.description
  const description = [typeof own === 'string' ? own : '', ...needs].filter(part => part !== '').join('\n\n')
  route.schema = { ...route.schema, description } as RouteOptions['schema']
}
