// Security events and refused requests on node:diagnostics_channel, for metrics and tracing.
// The channels are made once; publishing costs one property read while nobody subscribes.
import diagnosticsChannel from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'
import { oauthErrors } from '../errors.js'
import type { AuthEvent } from '../types.js'

/** The channel names, for `diagnostics_channel.subscribe(name, listener)`. */
export const diagnosticsChannels = Object.freeze({
  /** Every security event, as `onEvent` receives it (an `AuthEvent`). */
  event: 'fastify-jwt-auth:event',
  /** Every request the plugin refuses with a 4xx of its own (an `AuthRefusal`). */
  refusal: 'fastify-jwt-auth:refusal'
} as const)

/** A refused request: what was refused and why, never the credentials. */
export interface AuthRefusal {
  /** The error code, e.g. 'FST_JWT_AUTH_TOKEN_EXPIRED'. */
  code: string
  statusCode: number
  /** The RFC 6750 / RFC 6749 error name, when the code has one ('invalid_token', ...). */
  error?: string
  method: string
  /** The route pattern (e.g. '/auth/sessions/*'), not the URL; undefined in a not-found handler. */
  route: string | undefined
}

const eventChannel = diagnosticsChannel.channel(diagnosticsChannels.event)
const refusalChannel = diagnosticsChannel.channel(diagnosticsChannels.refusal)

export function publishEvent (event: AuthEvent): void {
  if (eventChannel.hasSubscribers) eventChannel.publish(event)
}

export function publishRefusal (request: FastifyRequest, code: string, statusCode: number): void {
  if (!refusalChannel.hasSubscribers) return
  const refusal: AuthRefusal = { code, statusCode, method: request.method, route: request.routeOptions.url }
  const error = oauthErrors[code]
  if (error !== undefined) refusal.error = error
  refusalChannel.publish(refusal)
}
