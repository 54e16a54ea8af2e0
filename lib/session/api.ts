// app.jwtAuth: revocation and session listing for the app's own code.
import type { FastifyBaseLogger } from 'fastify'
import { verifyAccessToken } from '../http/authenticate.js'
import { storeCall } from './store-call.js'
import { claimsOf } from './claims.js'
import type { AuthContext } from '../context.js'
import { FST_JWT_AUTH_INVALID_OPTION, FST_JWT_AUTH_NO_STORE } from '../errors.js'
import type { Store } from '../store/store.js'
import { subOfSessionId } from '../tokens/refresh.js'
import type { AccessTokenPayload, JwtAuthApi, RegisteredClaims } from '../types.js'

function checkSub (sub: unknown): asserts sub is string {
  if (typeof sub !== 'string' || sub === '') throw new FST_JWT_AUTH_INVALID_OPTION('sub', 'must be a non-empty string')
}

/**
 * Ends one session (only if `refreshDigest`, when given, is its current token or a spent one it remembers)
 * and reports it; resolves to whether there was a session to end.
 */
export async function endSession (
  context: AuthContext,
  store: Store,
  log: FastifyBaseLogger,
  sub: string,
  sessionId: string,
  reason: string,
  refreshDigest?: string
): Promise<boolean> {
  const revoked = await storeCall(log, 'revokeSession', () => store.revokeSession(sub, sessionId, refreshDigest))
  if (revoked === null) return false
  context.emit({ type: 'session-revoked', sub, sessionId, reason, time: Date.now() }, log)
  return true
}

export function createApi (context: AuthContext, log: FastifyBaseLogger): JwtAuthApi {
  const { config, access, emit } = context

  /** Revocation needs a store; a verify-only registration may have none. */
  function requireStore (): Store {
    if (config.store === null) throw new FST_JWT_AUTH_NO_STORE()
    return config.store
  }

  async function decodeForRevocation (token: string): Promise<AccessTokenPayload | null> {
    try {
      return await access.verify(token)
    } catch {
      return null // expired tokens need no revocation; invalid ones cannot be ours
    }
  }

  return {
    store: config.store,

    async revokeToken (token) {
      const store = requireStore()
      const claims: Pick<RegisteredClaims, 'sub' | 'jti' | 'exp'> | null =
        typeof token === 'string' ? await decodeForRevocation(token) : token
      if (claims === null || typeof claims.jti !== 'string' || typeof claims.exp !== 'number') return false
      checkSub(claims.sub)
      // Kept until the token would have expired anyway, clock tolerance included, and never
      // longer than an access token can live (a made-up exp cannot pin an entry forever).
      const ttl = Math.min(claims.exp * 1000 + config.clockTolerance - Date.now(), config.accessTtl + config.clockTolerance)
      if (!(ttl > 0)) return false
      await storeCall(log, 'revokeToken', () => store.revokeToken(claims.sub, claims.jti, Math.ceil(ttl)))
      emit({ type: 'token-revoked', sub: claims.sub, time: Date.now() }, log)
      return true
    },

    async revokeSession (sessionId) {
      const store = requireStore()
      const sub = typeof sessionId === 'string' ? subOfSessionId(sessionId) : null
      if (sub === null) return false
      return await endSession(context, store, log, sub, sessionId, 'api')
    },

    async revokeUser (sub) {
      const store = requireStore()
      checkSub(sub)
      const count = await storeCall(log, 'revokeUser', () => store.revokeUser(sub))
      emit({ type: 'user-revoked', sub, time: Date.now() }, log)
      return count
    },

    async listSessions (sub) {
      const store = requireStore()
      checkSub(sub)
      return await storeCall(log, 'listSessions', () => store.listSessions(sub))
    },

    async updateClaims (sub, update) {
      const store = requireStore()
      checkSub(sub)
      const claims = claimsOf(sub, update, 'updateClaims')
      return await storeCall(log, 'updateClaims', () => store.updateClaims(sub, claims))
    },

    async verifyAccessToken (token) {
      return await verifyAccessToken(token, context, log)
    }
  }
}
