// What the parts of the plugin share, built once at registration.
import type { FastifyBaseLogger } from 'fastify'
import { publishEvent } from './session/diagnostics.js'
import type { Config } from './options.js'
import type { RevocationReplica } from './session/replica.js'
import type { AccessTokens } from './tokens/access.js'
import type { AuthEvent } from './types.js'

export interface AuthContext {
  readonly config: Readonly<Config>
  readonly access: AccessTokens
  /** With `revocation.replica`: answers for most tokens without a store call. */
  readonly replica: RevocationReplica | null
  /** Publishes a security event (log, diagnostics channel, onEvent); never throws. */
  emit (event: AuthEvent, log: FastifyBaseLogger): void
}

export function createEmitter (config: Readonly<Config>): AuthContext['emit'] {
  const onEvent = config.onEvent
  return function emit (event, log) {
    // Subscribers and onEvent get this one object: none may change what the others see.
    Object.freeze(event)
    publishEvent(event)
    if (event.type === 'reuse-detected') log.warn({ sub: event.sub, sessionId: event.sessionId }, 'refresh token reuse detected: session revoked')
    if (onEvent === null) return
    const failed = (error: unknown): void => {
      log.error({ eventType: event.type, error: (error as Error)?.message }, 'fastify-jwt-auth onEvent handler failed')
    }
    try {
      // An async handler's rejection is logged like a throw: it must not become an unhandled rejection.
      const returned = onEvent(event)
      if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') Promise.resolve(returned).catch(failed)
    } catch (error) {
      failed(error)
    }
  }
}
