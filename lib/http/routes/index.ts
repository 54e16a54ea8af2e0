// The optional built-in routes, registered under the prefix in their own encapsulated context:
// the token endpoints (token-endpoints.ts) and the session routes (sessions.ts).
import type { FastifyPluginAsync } from 'fastify'
import type { AuthContext } from '../../context.js'
import { refreshCookiePath } from '../../session/issue.js'
import type { Store } from '../../store/store.js'
import type { AuthenticateHook } from '../../types.js'
import type { RequestVerifier } from '../authenticate.js'
import { tokenEndpointLimits } from '../rate-limit.js'
import { sessionRoutes } from './sessions.js'
import type { RouteParts } from './shared.js'
import { tokenEndpoints } from './token-endpoints.js'

export function createRoutes (context: AuthContext, authenticate: AuthenticateHook, verifyRequest: RequestVerifier): FastifyPluginAsync {
  const { config } = context
  const parts: RouteParts = {
    context,
    routes: config.routes!,
    cookies: config.cookies,
    store: config.store as Store,
    cookiePath: refreshCookiePath(context),
    authenticate,
    verifyRequest
  }
  return async function builtInRoutes (instance) {
    // One set of limits for the three limited routes: they share the per-address ceiling.
    const limits = tokenEndpointLimits(instance, parts.routes.rateLimit, parts.cookies)
    await instance.register(tokenEndpoints, { parts, limits })
    await instance.register(sessionRoutes, { parts, limits })
  }
}
