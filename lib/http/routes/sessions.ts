// The session routes: POST /logout, POST /logout-all, GET /sessions, DELETE /sessions/<id>.
// Errors keep Fastify's usual body plus the RFC 6750 challenge.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { FST_JWT_AUTH_SESSION_NOT_FOUND } from '../../errors.js'
import { endSession } from '../../session/api.js'
import { digestRefreshToken, parseRefreshToken } from '../../tokens/refresh.js'
import type { AccessTokenPayload } from '../../types.js'
import { withChallenge } from '../challenge.js'
import { apiOf, clearCookies, describedRoutes, emptyBodyAsObject, optionalAccessToken, presentedRefreshToken, publishMalformedRequest } from './shared.js'
import type { RefreshBody, RouteGroupOptions, RouteParts } from './shared.js'

export async function sessionRoutes (instance: FastifyInstance, options: RouteGroupOptions): Promise<void> {
  const { parts } = options
  const { routes, authenticate } = parts
  const described = describedRoutes(instance, options)
  instance.addHook('preValidation', emptyBodyAsObject)
  instance.addHook('onError', publishMalformedRequest)
  if (routes.logout) instance.post<{ Body: RefreshBody }>('/logout', described('logout'), logoutHandler(parts))
  if (routes.logoutAll) instance.post('/logout-all', { preHandler: authenticate, ...described('logoutAll') }, logoutAllHandler(parts))
  if (routes.sessions) {
    instance.get('/sessions', { preHandler: authenticate, ...described('sessions') }, listSessionsHandler(parts))
    // A wildcard, not a parameter: session ids can be longer than Fastify's maxParamLength.
    instance.delete<{ Params: { '*': string } }>('/sessions/*', { preHandler: authenticate, ...described('deleteSession') }, deleteSessionHandler(parts))
  }
}

// Ends every session whose credential the request carries: the refresh token's (which still
// works after the access token expired) and the access token's. Idempotent: an unknown refresh
// token still clears the cookies.
function logoutHandler (parts: RouteParts) {
  const { context, store, authenticate } = parts
  const realm = context.config.realm
  return async function logout (request: FastifyRequest<{ Body: RefreshBody }>, reply: FastifyReply) {
    let refreshToken: string | undefined
    try {
      refreshToken = presentedRefreshToken(parts, request)
    } catch (error) {
      throw withChallenge(reply, realm, error)
    }
    const sessions: Array<{ sub: string, sessionId: string, digest?: string }> = []
    if (refreshToken === undefined) {
      await authenticate(request, reply)
      const user = request.user as AccessTokenPayload
      sessions.push({ sub: user.sub, sessionId: user.sid })
    } else {
      const parsed = parseRefreshToken(refreshToken)
      if (parsed !== null) sessions.push({ ...parsed, digest: digestRefreshToken(refreshToken) })
      const user = await optionalAccessToken(parts, request)
      if (user !== null) sessions.push({ sub: user.sub, sessionId: user.sid })
    }
    for (const { sub, sessionId, digest } of sessions) {
      await endSession(context, store, request.log, sub, sessionId, 'logout', digest)
    }
    clearCookies(parts, reply)
    return reply.code(204).send()
  }
}

function logoutAllHandler (parts: RouteParts) {
  return async function logoutAll (request: FastifyRequest, reply: FastifyReply) {
    await apiOf(parts, request).revokeUser((request.user as AccessTokenPayload).sub)
    clearCookies(parts, reply)
    return reply.code(204).send()
  }
}

function listSessionsHandler (parts: RouteParts) {
  return async function listSessions (request: FastifyRequest) {
    const user = request.user as AccessTokenPayload
    const sessions = await apiOf(parts, request).listSessions(user.sub)
    return sessions.map(session => ({ ...session, current: session.id === user.sid }))
  }
}

function deleteSessionHandler (parts: RouteParts) {
  const { context, store } = parts
  return async function deleteSession (request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) {
    const user = request.user as AccessTokenPayload
    const id = request.params['*']
    // Only the caller's own sessions: another user's id is as unknown as a made-up one.
    if (!await endSession(context, store, request.log, user.sub, id, 'api')) throw withChallenge(reply, context.config.realm, new FST_JWT_AUTH_SESSION_NOT_FOUND())
    if (id === user.sid) clearCookies(parts, reply)
    return reply.code(204).send()
  }
}
