// OpenAPI (@fastify/swagger): the bearer security scheme, and the onRoute hook that declares it
// on every route app.authenticate guards. Fastify ignores `schema.security`; swagger reads it.
import type { RouteOptions } from 'fastify'
import type { AuthenticateHook } from './types.js'

/** The name under which routes refer to the scheme in `security`. */
const securitySchemeName = 'bearerAuth'

/**
 * The `components.securitySchemes` entry to give @fastify/swagger:
 * `openapi: { components: { securitySchemes: { ...openapiSecuritySchemes } } }`.
 */
export const openapiSecuritySchemes = Object.freeze({
  [securitySchemeName]: Object.freeze({
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token (RFC 9068 at+jwt) from the login route or the refresh route. Browsers may send the access cookie instead.'
  })
} as const)

/** `security` of a route that needs an access token. */
function bearerRequired (): Array<Record<string, string[]>> {
  return [{ [securitySchemeName]: [] }]
}

/** `security` of a route that takes an access token but also works without one. */
export function bearerOptional (): Array<Record<string, string[]>> {
  return [{ [securitySchemeName]: [] }, {}]
}

const guardingHooks = ['onRequest', 'preValidation', 'preHandler'] as const

function runs (hooks: unknown, hook: AuthenticateHook): boolean {
  return hooks === hook || (Array.isArray(hooks) && hooks.includes(hook))
}

/**
 * onRoute hook: a route whose own onRequest, preValidation or preHandler runs `authenticate`
 * declares the bearer scheme, unless its schema already says what its security is.
 */
export function declareBearerSecurity (authenticate: AuthenticateHook): (route: RouteOptions) => void {
  return function declareBearerSecurity (route) {
    if ((route.schema as { security?: unknown } | undefined)?.security !== undefined) return
    if (!guardingHooks.some(name => runs(route[name], authenticate))) return
    // A new object: the app's schema object may be shared with other routes.
    route.schema = { ...route.schema, security: bearerRequired() } as RouteOptions['schema']
  }
}
