// What the built-in route groups share: the parts they are built from, how a request's refresh
// token is found, and each route's schemas, compilers, body limit and rate limits.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AuthContext } from '../../context.js'
import { FST_JWT_AUTH_CROSS_ORIGIN, FST_JWT_AUTH_CSRF, FST_JWT_AUTH_INVALID_REQUEST } from '../../errors.js'
import type { CookieConfig, RoutesConfig } from '../../options.js'
import { createApi } from '../../session/api.js'
import { publishRefusal } from '../../session/diagnostics.js'
import type { Store } from '../../store/store.js'
import { sameValue } from '../../tokens/binding.js'
import type { AccessTokenPayload, AuthenticateHook, JwtAuthApi } from '../../types.js'
import type { RequestVerifier } from '../authenticate.js'
import { clearTokenCookies, isCrossOriginUnsafe, tokenCookie } from '../cookies.js'
import type { LimitedRouteOptions } from '../rate-limit.js'
import { builtInRouteBodyLimits, builtInRouteSchemas, ownSwaggerTransform, ownValidatorCompiler, serializeAsIs } from './schemas.js'
import type { BuiltInRoute } from './schemas.js'

export type RouteLimits = Partial<Record<BuiltInRoute, LimitedRouteOptions>>

/** Built once at registration and handed to each route group. */
export interface RouteParts {
  readonly context: AuthContext
  readonly routes: RoutesConfig
  readonly cookies: CookieConfig | null
  /** The session routes exist only when issuing, which always has a store. */
  readonly store: Store
  readonly cookiePath: string
  readonly authenticate: AuthenticateHook
  readonly verifyRequest: RequestVerifier
}

/** The options each route group is registered with. */
export interface RouteGroupOptions {
  parts: RouteParts
  limits: RouteLimits
}

export interface RefreshBody { refresh_token?: string, grant_type?: string }

/** A POST with no body (the refresh cookie alone) validates as an empty object. */
export async function emptyBodyAsObject (request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

/**
 * onError hook of the session routes: Fastify's own 400 (schema, unparsable body) and 413 (over
 * the route's body limit) are refusals too, as on the token endpoints; the plugin's own errors
 * were published where thrown.
 */
export async function publishMalformedRequest (request: FastifyRequest, _reply: FastifyReply, error: FastifyError): Promise<void> {
  const statusCode = error.statusCode as number
  if ((statusCode === 400 || statusCode === 413) && String(error.code).startsWith('FST_ERR_')) publishRefusal(request, error.code, statusCode)
}

/** app.jwtAuth with the request's logger, so that a store failure is logged with the request id. */
export function apiOf ({ context }: RouteParts, request: FastifyRequest): JwtAuthApi {
  return createApi(context, request.log)
}

/** The refresh token of a request: from the body, else from the refresh cookie. */
export function presentedRefreshToken ({ cookies }: RouteParts, request: FastifyRequest<{ Body: RefreshBody }>): string | undefined {
  const fromBody = request.body.refresh_token
  // An empty cookie is a cleared one: as if absent.
  const fromCookie = cookies === null ? undefined : tokenCookie(request, cookies.refreshName) || undefined
  if (fromBody !== undefined) {
    if (fromCookie !== undefined && fromCookie !== fromBody) {
      throw new FST_JWT_AUTH_INVALID_REQUEST('Two different refresh tokens were sent')
    }
    return fromBody
  }
  if (fromCookie === undefined) return undefined
  const cookieConfig = cookies as CookieConfig
  if (isCrossOriginUnsafe(request, cookieConfig)) throw new FST_JWT_AUTH_CROSS_ORIGIN(request.method)
  // Anti-CSRF mode: a refresh cookie counts only with the csrf cookie echoed in the header.
  if (cookieConfig.csrfName !== null && !sameValue(request.headers['x-csrf-token'], request.cookies[cookieConfig.csrfName])) {
    throw new FST_JWT_AUTH_CSRF()
  }
  return fromCookie
}

/** The verified access token of a request (bindings included), or null when it has none or a bad one. */
export async function optionalAccessToken ({ verifyRequest }: RouteParts, request: FastifyRequest): Promise<AccessTokenPayload | null> {
  try {
    return await verifyRequest(request)
  } catch (error) {
    if ((error as { code?: string }).code === 'FST_JWT_AUTH_STORE_UNAVAILABLE') throw error
    return null
  }
}

export function clearCookies ({ cookies, cookiePath, context }: RouteParts, reply: FastifyReply): void {
  if (cookies !== null) clearTokenCookies(reply, cookies, cookiePath, context.config.fingerprint)
}

/**
 * Each route's schemas, compilers (their own: the app's, a Zod one say, would not read these
 * schemas), body limit (never above the app's own) and rate limits; a 429 is documented only
 * where @fastify/rate-limit runs.
 */
export function describedRoutes (instance: FastifyInstance, { parts, limits }: RouteGroupOptions): (route: BuiltInRoute) => Record<string, unknown> {
  const schemas = builtInRouteSchemas({
    cookies: parts.cookies,
    rateLimited: parts.routes.rateLimit !== null && instance.hasDecorator('rateLimit'),
    securityScheme: parts.context.config.openapiSecurityScheme
  })
  const appBodyLimit = instance.initialConfig.bodyLimit as number
  const validatorCompiler = ownValidatorCompiler()
  return route => ({
    schema: schemas[route],
    validatorCompiler,
    serializerCompiler: serializeAsIs,
    bodyLimit: Math.min(builtInRouteBodyLimits[route], appBodyLimit),
    ...limits[route],
    config: { ...limits[route]?.config, ...ownSwaggerTransform }
  })
}
