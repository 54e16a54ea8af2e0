// POST /refresh (RFC 6749 §6) and POST /revoke (RFC 7009). Errors answer in the RFC 6749 §5.2
// shape, with Cache-Control: no-store as on every token response.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { FST_JWT_AUTH_INVALID_REQUEST, FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE, oauthErrors } from '../../errors.js'
import { endSession } from '../../session/api.js'
import { publishRefusal } from '../../session/diagnostics.js'
import { rotateRefreshToken } from '../../session/issue.js'
import { digestRefreshToken, parseRefreshToken } from '../../tokens/refresh.js'
import { oauthDescription, withChallenge } from '../challenge.js'
import { useStrictTokenBodies } from '../token-body.js'
import { apiOf, describedRoutes, emptyBodyAsObject, presentedRefreshToken } from './shared.js'
import type { RefreshBody, RouteGroupOptions, RouteParts } from './shared.js'

interface RevokeBody { token: string, token_type_hint?: string }

export async function tokenEndpoints (instance: FastifyInstance, options: RouteGroupOptions): Promise<void> {
  const { parts } = options
  const described = describedRoutes(instance, options)
  instance.addHook('preValidation', emptyBodyAsObject)
  // RFC 6749 and RFC 7009 clients send forms; JSON is accepted too. Neither may repeat a parameter.
  useStrictTokenBodies(instance)
  instance.setErrorHandler(tokenEndpointError(parts))
  if (parts.routes.refresh) instance.post<{ Body: RefreshBody }>('/refresh', described('refresh'), refreshHandler(parts))
  if (parts.routes.revoke) instance.post<{ Body: RevokeBody }>('/revoke', described('revoke'), revokeHandler(parts))
}

function tokenEndpointError ({ context }: RouteParts) {
  const realm = context.config.realm
  return function tokenEndpointError (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    // Any other 400 (schema, unparsable body) is an RFC 6749 invalid_request too.
    const coded = error.statusCode === 400 && oauthErrors[error.code] === undefined
      ? new FST_JWT_AUTH_INVALID_REQUEST(error.message)
      : error
    // A body over the route's limit keeps its 413 and Fastify's code, in the RFC 6749 shape.
    const name = coded.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'invalid_request' : oauthErrors[coded.code]
    if (name === undefined) throw withChallenge(reply, realm, coded)
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
  }
}

function refreshHandler (parts: RouteParts) {
  const { context, cookies } = parts
  return async function refresh (request: FastifyRequest<{ Body: RefreshBody }>, reply: FastifyReply) {
    const grantType = request.body.grant_type
    if (grantType !== undefined && grantType !== 'refresh_token') throw new FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE()
    const token = presentedRefreshToken(parts, request)
    if (token === undefined) throw new FST_JWT_AUTH_INVALID_REQUEST('No refresh token was presented')
    return await rotateRefreshToken(context, request, reply, token, cookies !== null && request.cookies[cookies.refreshName] === token)
  }
}

// RFC 7009: 200 whether or not the token was known or still valid.
function revokeHandler (parts: RouteParts) {
  const { context, store } = parts
  return async function revoke (request: FastifyRequest<{ Body: RevokeBody }>, reply: FastifyReply) {
    const { token } = request.body
    const refresh = parseRefreshToken(token)
    if (refresh !== null) {
      await endSession(context, store, request.log, refresh.sub, refresh.sessionId, 'revoke-endpoint', digestRefreshToken(token))
    } else {
      await apiOf(parts, request).revokeToken(token)
    }
    return reply.header('cache-control', 'no-store').send()
  }
}
