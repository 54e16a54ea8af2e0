// Issuing a token pair at login, and rotating it on refresh.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { storeCall } from './challenge.js'
import type { AuthContext } from './context.js'
import { mintBinding } from './binding.js'
import { clearTokenCookies, setCsrfCookie, setFingerprintCookie, setTokenCookies } from './cookies.js'
import { FST_JWT_AUTH_INVALID_CLAIMS, FST_JWT_AUTH_INVALID_GRANT } from './errors.js'
import type { SessionRecord, Store } from './store/store.js'
import {
  digestRefreshToken,
  isFitSub,
  maxSubBytes,
  mintRefreshToken,
  mintSessionId,
  openSuccessor,
  parseRefreshToken,
  sealSuccessor
} from './tokens/refresh.js'
import type { IssueClaims, RegisteredClaims, TokenResponse } from './types.js'

// Set by the plugin from the signer's configuration; the app may not override them.
const reservedClaims = ['iss', 'aud', 'iat', 'exp', 'nbf', 'jti', 'sid', 'fgp', 'csrf']
const maxUserAgentLength = 256

/** Where the refresh cookie is sent: only to the auth routes. */
export function refreshCookiePath (context: AuthContext): string {
  const routes = context.config.routes
  return routes === null || routes.prefix === '' ? '/' : routes.prefix
}

function checkClaims (claims: IssueClaims): void {
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS('claims must be an object')
  }
  const sub: unknown = claims.sub
  if (typeof sub !== 'string' || sub === '' || Buffer.byteLength(sub) > maxSubBytes) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS(`sub must be a non-empty string of at most ${maxSubBytes} bytes`)
  }
  if (!isFitSub(sub)) throw new FST_JWT_AUTH_INVALID_CLAIMS('sub must hold no control characters and no unpaired surrogates')
  for (const name of reservedClaims) {
    if (name in claims) throw new FST_JWT_AUTH_INVALID_CLAIMS(`the ${name} claim is set by the plugin`)
  }
  const roles: unknown = claims.roles
  if (roles !== undefined && !(Array.isArray(roles) && roles.every(role => typeof role === 'string'))) {
    throw new FST_JWT_AUTH_INVALID_CLAIMS('roles must be an array of strings')
  }
  if (claims.scope !== undefined && typeof claims.scope !== 'string') {
    throw new FST_JWT_AUTH_INVALID_CLAIMS('scope must be a space-delimited string')
  }
}

/** Signs an access token for the session and sends the RFC 6749 §5.1 response parts. */
function respond (context: AuthContext, reply: FastifyReply, session: SessionRecord, refreshToken: string): TokenResponse {
  const { config, access } = context
  const cookies = config.cookies
  const refreshMaxAge = Math.max(0, Math.floor((session.expiresAt - Date.now()) / 1000))
  let claims = session.claims as unknown as IssueClaims
  // Each new access token gets new binding values: their digests in claims, the values in cookies.
  if (cookies !== null && (config.fingerprint !== null || cookies.csrfName !== null)) {
    claims = { ...claims }
    if (config.fingerprint !== null) {
      const fingerprint = mintBinding()
      setFingerprintCookie(reply, cookies, config.fingerprint, fingerprint.value, refreshMaxAge)
      ;(claims as RegisteredClaims).fgp = fingerprint.digest
    }
    if (cookies.csrfName !== null) {
      const csrf = mintBinding()
      setCsrfCookie(reply, cookies, cookies.csrfName, csrf.value, refreshMaxAge)
      ;(claims as RegisteredClaims).csrf = csrf.digest
    }
  }
  // Issuing is only decorated when there is a signing key.
  const { token: accessToken, expiresIn } = (access.sign as NonNullable<typeof access.sign>)(claims, session.id, session.expiresAt)
  // RFC 6749 §5.1: token responses must not be cached.
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  if (cookies !== null) {
    setTokenCookies(reply, cookies, refreshCookiePath(context), accessToken, expiresIn, refreshToken, refreshMaxAge)
  }
  return { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, refresh_token: refreshToken }
}

function clientDetails (request: FastifyRequest): { userAgent: string | undefined, ip: string } {
  return { userAgent: request.headers['user-agent']?.slice(0, maxUserAgentLength), ip: request.ip }
}

export async function issueTokens (
  context: AuthContext,
  request: FastifyRequest,
  reply: FastifyReply,
  claims: IssueClaims
): Promise<TokenResponse> {
  checkClaims(claims)
  const { config, emit } = context
  const sessionId = mintSessionId(claims.sub)
  const refreshToken = mintRefreshToken(sessionId)
  const client = clientDetails(request)
  const created = await storeCall(request.log, 'createSession', () => (config.store as Store).createSession({
    sub: claims.sub,
    sessionId,
    refreshDigest: digestRefreshToken(refreshToken),
    claims: { ...claims },
    lifetime: config.sessionLifetime,
    idleTimeout: config.idleTimeout,
    maxSessions: config.maxSessionsPerUser,
    ...client
  }))
  const time = Date.now()
  for (const evicted of created.evicted) {
    emit({ type: 'session-revoked', sub: claims.sub, sessionId: evicted, reason: 'evicted', time }, request.log)
  }
  emit({ type: 'issued', sub: claims.sub, sessionId, time, ...client }, request.log)
  return respond(context, reply, created.session, refreshToken)
}

/**
 * One refresh: the presented token is exchanged for a new pair, or the request fails with
 * invalid_grant. A refused token clears the cookies only when it came from the cookie.
 */
export async function rotateRefreshToken (
  context: AuthContext,
  request: FastifyRequest,
  reply: FastifyReply,
  refreshToken: string,
  fromCookie: boolean
): Promise<TokenResponse> {
  const { config, emit } = context
  const parsed = parseRefreshToken(refreshToken)
  if (parsed === null) {
    if (fromCookie && config.cookies !== null) clearTokenCookies(reply, config.cookies, refreshCookiePath(context), config.fingerprint)
    throw new FST_JWT_AUTH_INVALID_GRANT('The refresh token is invalid')
  }
  const successor = mintRefreshToken(parsed.sessionId)
  const result = await storeCall(request.log, 'rotateRefreshToken', () => (config.store as Store).rotateRefreshToken({
    sub: parsed.sub,
    sessionId: parsed.sessionId,
    presentedDigest: digestRefreshToken(refreshToken),
    successorDigest: digestRefreshToken(successor),
    sealedSuccessor: sealSuccessor(refreshToken, successor),
    idleTimeout: config.idleTimeout,
    reuseGrace: config.reuseGrace
  }))

  const event = { sub: parsed.sub, sessionId: parsed.sessionId, time: Date.now(), ...clientDetails(request) }
  if (result.status === 'rotated') {
    emit({ type: 'refreshed', ...event }, request.log)
    return respond(context, reply, result.session, successor)
  }
  if (result.status === 'grace') {
    const same = openSuccessor(refreshToken, result.sealedSuccessor)
    if (same !== null) return respond(context, reply, result.session, same)
  } else if (result.status === 'reused') {
    emit({ type: 'reuse-detected', ...event }, request.log)
  }
  if (fromCookie && config.cookies !== null) clearTokenCookies(reply, config.cookies, refreshCookiePath(context), config.fingerprint)
  throw new FST_JWT_AUTH_INVALID_GRANT(
    result.status === 'reused'
      ? 'The refresh token was already used: the session is revoked'
      : 'The refresh token is invalid or expired'
  )
}
