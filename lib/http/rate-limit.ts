// Limits of the token endpoints (/refresh, /revoke, /logout) through @fastify/rate-limit, when
// the app registered it before this plugin; inert without it.
// Keyed by session, not by address: behind a carrier NAT, a corporate proxy or a
// backend-for-frontend every user shares one address. The session id is read from the token,
// not verified (the limit comes before any store call), so a made-up id gets a bucket of its
// own: every request also counts against a much higher per-address ceiling, checked in
// onRequest, before the body is parsed. Every key carries the plugin's namespace, so no bucket
// is shared with the app's own limited routes, whatever store @fastify/rate-limit uses.
import { isIPv6 } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CookieConfig, RateLimitConfig } from '../options.js'
import { parseRefreshToken, subOfSessionId } from '../tokens/refresh.js'

export type LimitedRoute = 'refresh' | 'revoke' | 'logout'

/** What a route spreads into its options: the per-session limit and the ceiling hook. */
export interface LimitedRouteOptions {
  config?: { rateLimit: SessionLimit }
  onRequest?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

interface SessionLimit {
  hook: 'preValidation'
  max: number
  timeWindow: number
  keyGenerator: (request: FastifyRequest) => string
}

/** The part of @fastify/rate-limit's `fastify.createRateLimit` used here (typed locally: the plugin is optional). */
type CreateRateLimit = (options: { max: number, timeWindow: number, keyGenerator: (request: FastifyRequest) => string }) =>
(request: FastifyRequest) => Promise<{ isExceeded?: boolean, ttlInSeconds?: number }>

const namespace = 'fastify-jwt-auth'
const bearerToken = /^Bearer +(\S+)$/i

/** The client's address as a bucket name: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by its /64 (one subscriber's block). */
export function addressKey (ip: string): string {
  if (!isIPv6(ip)) return ip
  const address = ip.toLowerCase().replace(/%.*$/, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  if (mapped !== null) return mapped[1] as string
  const [head = '', tail] = address.split('::')
  const groups = head === '' ? [] : head.split(':')
  // Groups that '::' stands for; an embedded dotted IPv4 tail fills two.
  if (tail !== undefined) {
    const tailGroups = tail === '' ? [] : tail.split(':')
    const tailWidth = tailGroups.length + (tail.includes('.') ? 1 : 0)
    groups.push(...Array<string>(8 - groups.length - tailWidth).fill('0'), ...tailGroups)
  }
  return `${groups.slice(0, 4).map(group => parseInt(group, 16).toString(16)).join(':')}::/64`
}

/** The session a token names, read without verifying it: a refresh token's, or a JWT's sid claim; null when it names none. */
function sessionOfToken (token: unknown): string | null {
  if (typeof token !== 'string') return null
  return parseRefreshToken(token)?.sessionId ?? sidClaimOf(token)
}

function sidClaimOf (token: string): string | null {
  let sid: unknown
  try {
    sid = (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { sid?: unknown }).sid
  } catch {
    return null
  }
  // Only a well-formed session id names a bucket: bounded in length, one spelling per session.
  return typeof sid === 'string' && subOfSessionId(sid) !== null ? sid : null
}

function bodyField (request: FastifyRequest, name: string): unknown {
  return (Object(request.body) as Record<string, unknown>)[name]
}

/** Where each limited route finds the session a request speaks for. */
function sessionReaders (cookies: CookieConfig | null): Record<LimitedRoute, (request: FastifyRequest) => string | null> {
  const refreshSession = (request: FastifyRequest): string | null =>
    sessionOfToken(bodyField(request, 'refresh_token') ?? (cookies === null ? undefined : request.cookies[cookies.refreshName]))
  return {
    refresh: refreshSession,
    revoke: request => sessionOfToken(bodyField(request, 'token')),
    // The refresh token, else the Bearer access token (a cookie client sends the refresh cookie here).
    logout: request => refreshSession(request) ?? sessionOfToken(bearerToken.exec(request.headers.authorization ?? '')?.[1])
  }
}

/** A 429 in @fastify/rate-limit's own shape, for the ceiling (which runs outside its route hook). */
function overCeiling (retryAfterSeconds: number): Error {
  return Object.assign(new Error(`Rate limit exceeded, retry in ${retryAfterSeconds} seconds`), { statusCode: 429 })
}

/**
 * The route options of each limited route for one registration: empty without limits. Without
 * @fastify/rate-limit the route config is inert, and there is no ceiling hook.
 */
export function tokenEndpointLimits (instance: FastifyInstance, limit: RateLimitConfig | null, cookies: CookieConfig | null): Record<LimitedRoute, LimitedRouteOptions> {
  if (limit === null) return { refresh: {}, revoke: {}, logout: {} }
  const { max, timeWindow, ipMax } = limit
  const createRateLimit = (instance as unknown as { createRateLimit?: CreateRateLimit }).createRateLimit
  const checkCeiling = createRateLimit?.({ max: ipMax, timeWindow, keyGenerator: request => `${namespace}:ceiling:${addressKey(request.ip)}` })
  const onRequest = checkCeiling === undefined
    ? undefined
    : async function rateLimitCeiling (request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const ceiling = await checkCeiling(request)
      if (ceiling.isExceeded !== true) return // under it, or on the app's allowList
      const retryAfter = ceiling.ttlInSeconds as number
      reply.header('retry-after', retryAfter)
      throw overCeiling(retryAfter)
    }
  const readers = sessionReaders(cookies)
  const limited = (route: LimitedRoute): LimitedRouteOptions => ({
    config: {
      rateLimit: {
        // After body parsing: the refresh token may be in the body.
        hook: 'preValidation',
        max,
        timeWindow,
        keyGenerator: request => {
          const sessionId = readers[route](request)
          return sessionId === null ? `${namespace}:address:${addressKey(request.ip)}` : `${namespace}:session:${sessionId}`
        }
      }
    },
    ...(onRequest === undefined ? {} : { onRequest })
  })
  return { refresh: limited('refresh'), revoke: limited('revoke'), logout: limited('logout') }
}
