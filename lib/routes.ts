// The optional built-in routes, registered under the prefix in their own encapsulated context.
// Token endpoints (/refresh, /revoke) answer errors in the RFC 6749 §5.2 shape; the others use
// Fastify's usual error body plus the RFC 6750 challenge.
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { RequestVerifier } from './authenticate.js'
import { createApi, endSession } from './api.js'
import { oauthDescription, withChallenge } from './challenge.js'
import { publishRefusal } from './diagnostics.js'
import type { AuthContext } from './context.js'
import { sameValue } from './binding.js'
import { clearTokenCookies, isCrossOriginUnsafe, tokenCookie } from './cookies.js'
import {
  FST_JWT_AUTH_CROSS_ORIGIN,
  FST_JWT_AUTH_CSRF,
  FST_JWT_AUTH_INVALID_REQUEST,
  FST_JWT_AUTH_SESSION_NOT_FOUND,
  FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE,
  oauthErrors
} from './errors.js'
import { refreshCookiePath, rotateRefreshToken } from './issue.js'
import { tokenEndpointLimits } from './rate-limit.js'
import type { LimitedRouteOptions } from './rate-limit.js'
import { builtInRouteBodyLimits, builtInRouteSchemas, ownSwaggerTransform, ownValidatorCompiler, serializeAsIs } from './route-schemas.js'
import type { BuiltInRoute } from './route-schemas.js'
import { digestRefreshToken, parseRefreshToken } from './tokens/refresh.js'
import { useStrictTokenBodies } from './token-body.js'
import type { CookieConfig } from './options.js'
import type { Store } from './store/store.js'
import type { AccessTokenPayload, AuthenticateHook, JwtAuthApi } from './types.js'

/** A POST with no body (the refresh cookie alone) validates as an empty object. */
async function emptyBodyAsObject (request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

/**
 * onError hook of the session routes: Fastify's own 400 (schema, unparsable body) and 413 (over
 * the route's body limit) are refusals too, as on the token endpoints; the plugin's own errors
 * were published where thrown.
 */
async function publishMalformedRequest (request: FastifyRequest, _reply: FastifyReply, error: FastifyError): Promise<void> {
  const statusCode = error.statusCode as number
  if ((statusCode === 400 || statusCode === 413) && String(error.code).startsWith('FST_ERR_')) publishRefusal(request, error.code, statusCode)
}

type RouteLimits = Partial<Record<BuiltInRoute, LimitedRouteOptions>>

interface RefreshBody { refresh_token?: string, grant_type?: string }
interface RevokeBody { token: string, token_type_hint?: string }

export function createRoutes (context: AuthContext, authenticate: AuthenticateHook, verifyRequest: RequestVerifier): FastifyPluginAsync {
  const { config } = context
  const cookies = config.cookies
  const routes = config.routes!
  const store = config.store as Store // the session routes exist only when issuing, which always has a store
  const cookiePath = refreshCookiePath(context)

  /** app.jwtAuth with the request's logger, so that a store failure is logged with the request id. */
  function apiOf (request: FastifyRequest): JwtAuthApi {
    return createApi(context, request.log)
  }

  /** The refresh token of a request: from the body, else from the refresh cookie. */
  function presentedRefreshToken (request: FastifyRequest<{ Body: RefreshBody }>): string | undefined {
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
  async function optionalAccessToken (request: FastifyRequest): Promise<AccessTokenPayload | null> {
    try {
      return await verifyRequest(request)
    } catch (error) {
      if ((error as { code?: string }).code === 'FST_JWT_AUTH_STORE_UNAVAILABLE') throw error
      return null
    }
  }

  function clearCookies (reply: FastifyReply): void {
    if (cookies !== null) clearTokenCookies(reply, cookies, cookiePath, config.fingerprint)
  }

  /**
   * Each route's schemas, compilers (their own: the app's, a Zod one say, would not read these
   * schemas), body limit (never above the app's own) and rate limits; a 429 is documented only
   * where @fastify/rate-limit runs.
   */
  function describedRoutes (instance: FastifyInstance, limits: RouteLimits): (route: BuiltInRoute) => Record<string, unknown> {
    const schemas = builtInRouteSchemas({
      cookies,
      rateLimited: routes.rateLimit !== null && instance.hasDecorator('rateLimit'),
      securityScheme: config.openapiSecurityScheme
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

  async function tokenEndpoints (instance: FastifyInstance, { limits }: { limits: RouteLimits }): Promise<void> {
    const described = describedRoutes(instance, limits)
    instance.addHook('preValidation', emptyBodyAsObject)
    // RFC 6749 and RFC 7009 clients send forms; JSON is accepted too. Neither may repeat a parameter.
    useStrictTokenBodies(instance)
    instance.setErrorHandler(function tokenEndpointError (error: FastifyError, request, reply) {
      // Any other 400 (schema, unparsable body) is an RFC 6749 invalid_request too.
      const coded = error.statusCode === 400 && oauthErrors[error.code] === undefined
        ? new FST_JWT_AUTH_INVALID_REQUEST(error.message)
        : error
      // A body over the route's limit keeps its 413 and Fastify's code, in the RFC 6749 shape.
      const name = coded.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'invalid_request' : oauthErrors[coded.code]
      if (name === undefined) throw withChallenge(reply, config.realm, coded)
      request.log.info({ code: coded.code }, 'token endpoint refused the request')
      const statusCode = coded.statusCode as number // every OAuth-named error (and the 413) is a 4xx
      publishRefusal(request, coded.code, statusCode)
      return reply.code(statusCode).header('cache-control', 'no-store').send({
        statusCode,
        code: coded.code,
        error: name,
        error_description: oauthDescription(coded.message),
        message: coded.message
      })
    })

    if (routes.refresh) {
      instance.post<{ Body: RefreshBody }>('/refresh', described('refresh'), async (request, reply) => {
        const grantType = request.body.grant_type
        if (grantType !== undefined && grantType !== 'refresh_token') throw new FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE()
        const token = presentedRefreshToken(request)
        if (token === undefined) throw new FST_JWT_AUTH_INVALID_REQUEST('No refresh token was presented')
        return await rotateRefreshToken(context, request, reply, token, cookies !== null && request.cookies[cookies.refreshName] === token)
      })
    }

    if (routes.revoke) {
      // RFC 7009: 200 whether or not the token was known or still valid.
      instance.post<{ Body: RevokeBody }>('/revoke', described('revoke'), async (request, reply) => {
        const { token } = request.body
        const refresh = parseRefreshToken(token)
        if (refresh !== null) {
          await endSession(context, store, request.log, refresh.sub, refresh.sessionId, 'revoke-endpoint', digestRefreshToken(token))
        } else {
          await apiOf(request).revokeToken(token)
        }
        return reply.header('cache-control', 'no-store').send()
      })
    }
  }

  async function sessionRoutes (instance: FastifyInstance, { limits }: { limits: RouteLimits }): Promise<void> {
    const described = describedRoutes(instance, limits)
    instance.addHook('preValidation', emptyBodyAsObject)
    instance.addHook('onError', publishMalformedRequest)
    if (routes.logout) {
      // Ends every session whose credential the request carries: the refresh token's (which
      // still works after the access token expired) and the access token's. Idempotent: an
      // unknown refresh token still clears the cookies.
      instance.post<{ Body: RefreshBody }>('/logout', described('logout'), async (request, reply) => {
        let refreshToken: string | undefined
        try {
          refreshToken = presentedRefreshToken(request)
        } catch (error) {
          throw withChallenge(reply, config.realm, error)
        }
        const sessions: Array<{ sub: string, sessionId: string, digest?: string }> = []
        if (refreshToken === undefined) {
          await authenticate(request, reply)
          const user = request.user as AccessTokenPayload
          sessions.push({ sub: user.sub, sessionId: user.sid })
        } else {
          const parsed = parseRefreshToken(refreshToken)
          if (parsed !== null) sessions.push({ ...parsed, digest: digestRefreshToken(refreshToken) })
          const user = await optionalAccessToken(request)
          if (user !== null) sessions.push({ sub: user.sub, sessionId: user.sid })
        }
        for (const { sub, sessionId, digest } of sessions) {
          await endSession(context, store, request.log, sub, sessionId, 'logout', digest)
        }
        clearCookies(reply)
        return reply.code(204).send()
      })
    }

    if (routes.logoutAll) {
      instance.post('/logout-all', { preHandler: authenticate, ...described('logoutAll') }, async (request, reply) => {
        await apiOf(request).revokeUser((request.user as AccessTokenPayload).sub)
        clearCookies(reply)
        return reply.code(204).send()
      })
    }

    if (routes.sessions) {
      instance.get('/sessions', { preHandler: authenticate, ...described('sessions') }, async (request) => {
        const user = request.user as AccessTokenPayload
        const sessions = await apiOf(request).listSessions(user.sub)
        return sessions.map(session => ({ ...session, current: session.id === user.sid }))
      })

      instance.delete<{ Params: { '*': string } }>('/sessions/*', { preHandler: authenticate, ...described('deleteSession') }, async (request, reply) => {
        const user = request.user as AccessTokenPayload
        const id = request.params['*']
        // Only the caller's own sessions: another user's id is as unknown as a made-up one.
        if (!await endSession(context, store, request.log, user.sub, id, 'api')) throw withChallenge(reply, config.realm, new FST_JWT_AUTH_SESSION_NOT_FOUND())
        if (id === user.sid) clearCookies(reply)
        return reply.code(204).send()
      })
    }
  }

  return async function builtInRoutes (instance) {
    // One set of limits for the three routes: they share the per-address ceiling.
    const limits = tokenEndpointLimits(instance, routes.rateLimit, cookies)
    await instance.register(tokenEndpoints, { limits })
    await instance.register(sessionRoutes, { limits })
  }
}
