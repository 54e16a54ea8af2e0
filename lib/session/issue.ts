// Issuing a token pair at login, and rotating it on refresh.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { storeCall } from './store-call.js'
import type { AuthContext } from '../context.js'
import { mintBinding } from '../tokens/binding.js'
import { clearTokenCookies, setCsrfCookie, setFingerprintCookie, setTokenCookies } from '../http/cookies.js'
import { tokenRequestKey } from '../http/dpop.js'
import { endSession } from './api.js'
import { claimsOf, storableClaims } from './claims.js'
import type { StoredClaims } from './claims.js'
import { FST_JWT_AUTH_CLAIMS_UNAVAILABLE, FST_JWT_AUTH_INVALID_GRANT, FST_JWT_AUTH_INVALID_OPTION } from '../errors.js'
import type { RotateInput, SessionRecord, Store } from '../store/store.js'
import {
  digestRefreshToken,
  mintRefreshToken,
  mintSessionId,
  openSuccessor,
  parseRefreshToken,
  sealSuccessor
} from '../tokens/refresh.js'
import type { ClaimsHook, ClaimsUpdate, CookieTokenResponse, IssueClaims, IssueTokensOptions, RegisteredClaims, TokenResponse } from '../types.js'

const maxUserAgentLength = 256

/** Where the refresh cookie is sent: only to the auth routes. */
export function refreshCookiePath (context: AuthContext): string {
  const routes = context.config.routes
  return routes === null || routes.prefix === '' ? '/' : routes.prefix
}

/**
 * Signs an access token for the session and sends the token cookies; the body carries the
 * tokens too unless `cookiesOnly` (a cookie client: page scripts never see token text). A
 * session bound to a DPoP key gets a bound token (`cnf.jkt`, RFC 9449 §6.1), in the body only:
 * a cookie could not carry its proof.
 */
function respond (context: AuthContext, reply: FastifyReply, session: SessionRecord, refreshToken: string, cookiesOnly: boolean): TokenResponse | CookieTokenResponse {
  const { config, access } = context
  if (session.jkt !== undefined) return respondBound(context, reply, session, refreshToken, session.jkt)
  const cookies = config.cookies
  const refreshMaxAge = Math.max(0, Math.floor((session.expiresAt - Date.now()) / 1000))
  let claims = session.claims as unknown as IssueClaims
  let csrfValue: string | undefined
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
      csrfValue = csrf.value
    }
  }
  // Issuing is only decorated when there is a signing key.
  const { token: accessToken, expiresIn } = (access.sign as NonNullable<typeof access.sign>)(claims, session.id, session.expiresAt)
  // RFC 6749 §5.1: token responses must not be cached.
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  if (cookies !== null) {
    setTokenCookies(reply, cookies, refreshCookiePath(context), accessToken, expiresIn, refreshToken, refreshMaxAge)
  }
  const body: TokenResponse | CookieTokenResponse = cookiesOnly
    ? { token_type: 'Bearer', expires_in: expiresIn }
    : { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, refresh_token: refreshToken }
  if (csrfValue !== undefined) {
    // A page on another site cannot read the API's csrf cookie: it gets the value here instead.
    reply.header('x-csrf-token', csrfValue)
    body.csrf_token = csrfValue
  }
  return body
}

function respondBound (context: AuthContext, reply: FastifyReply, session: SessionRecord, refreshToken: string, jkt: string): TokenResponse {
  const claims = { ...(session.claims as unknown as IssueClaims), cnf: { jkt } }
  const { token: accessToken, expiresIn } = (context.access.sign as NonNullable<AuthContext['access']['sign']>)(claims, session.id, session.expiresAt)
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  return { access_token: accessToken, token_type: 'DPoP', expires_in: expiresIn, refresh_token: refreshToken }
}

function clientDetails (request: FastifyRequest): { userAgent: string | undefined, ip: string } {
  return { userAgent: request.headers['user-agent']?.slice(0, maxUserAgentLength), ip: request.ip }
}

export async function issueTokens (
  context: AuthContext,
  request: FastifyRequest,
  reply: FastifyReply,
  claims: IssueClaims,
  options: IssueTokensOptions = {}
): Promise<TokenResponse | CookieTokenResponse> {
  const stored = storableClaims(claims, 'issueTokens')
  const { config, emit } = context
  const cookiesOnly = cookiesOnlyOption(options, config.cookies !== null)
  // A login with a DPoP proof binds the session to its key. Cookie-only logins are never bound
  // (their tokens live in cookies, which cannot carry a proof): a proof sent to one is ignored.
  if (cookiesOnly && config.dpop?.required === true) {
    throw new FST_JWT_AUTH_INVALID_OPTION('issueTokens cookiesOnly', 'cannot be used with dpop.required: DPoP-bound tokens go in the body')
  }
  const jkt = cookiesOnly ? undefined : await tokenRequestKey(context, request, reply)
  const sessionId = mintSessionId(claims.sub)
  const refreshToken = mintRefreshToken(sessionId)
  const client = clientDetails(request)
  const created = await storeCall(request.log, 'createSession', () => (config.store as Store).createSession({
    sub: claims.sub,
    sessionId,
    refreshDigest: digestRefreshToken(refreshToken),
    claims: stored,
    lifetime: config.sessionLifetime,
    idleTimeout: config.idleTimeout,
    maxSessions: config.maxSessionsPerUser,
    ...client,
    ...(jkt === undefined ? {} : { jkt })
  }))
  const time = Date.now()
  for (const evicted of created.evicted) {
    emit({ type: 'session-revoked', sub: claims.sub, sessionId: evicted, reason: 'evicted', time }, request.log)
  }
  emit({ type: 'issued', sub: claims.sub, sessionId, time, ...client }, request.log)
  return respond(context, reply, created.session, refreshToken, cookiesOnly)
}

function cookiesOnlyOption (options: IssueTokensOptions, cookies: boolean): boolean {
  if (options === null || typeof options !== 'object') throw new FST_JWT_AUTH_INVALID_OPTION('issueTokens options', 'must be an object')
  const { cookiesOnly = false } = options
  if (typeof cookiesOnly !== 'boolean') throw new FST_JWT_AUTH_INVALID_OPTION('issueTokens cookiesOnly', 'must be a boolean')
  if (cookiesOnly && !cookies) throw new FST_JWT_AUTH_INVALID_OPTION('issueTokens cookiesOnly', 'needs cookies: with cookies: false the tokens can only go in the body')
  return cookiesOnly
}

/** The longest the claims hook may take, so that a refresh never hangs on the app's own store. */
const maxClaimsHookTime = 5000

/**
 * How long the claims hook may take: at most the grace, so that the rotation that follows still
 * finds a token another tab rotated meanwhile within (extended) grace, with its seal kept.
 */
export function claimsHookTimeout (reuseGrace: number): number {
  return reuseGrace > 0 ? Math.min(reuseGrace, maxClaimsHookTime) : maxClaimsHookTime
}

/**
 * The refreshToken.claims hook's answer for a session about to rotate: its new claims, or null
 * when the session must end. A failing or late hook is an outage of the app's own store (503),
 * never a logout.
 */
async function refreshedClaims (
  hook: ClaimsHook,
  request: FastifyRequest,
  session: SessionRecord,
  timeout: number
): Promise<StoredClaims | null> {
  let update: ClaimsUpdate | null
  let timer: NodeJS.Timeout | undefined
  try {
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`the hook did not answer within ${timeout} ms`)) }, timeout)
    })
    update = await Promise.race([hook({ sub: session.sub, sessionId: session.id, claims: session.claims as unknown as IssueClaims }, request), late])
  } catch (error) {
    request.log.error({ error: (error as Error)?.message }, 'fastify-jwt-auth refreshToken.claims hook failed')
    throw new FST_JWT_AUTH_CLAIMS_UNAVAILABLE({ cause: error })
  } finally {
    clearTimeout(timer)
  }
  return update === null ? null : claimsOf(session.sub, update, 'refreshToken.claims')
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
): Promise<TokenResponse | CookieTokenResponse> {
  const { config, emit } = context
  const clear = (): void => {
    if (fromCookie && config.cookies !== null) clearTokenCookies(reply, config.cookies, refreshCookiePath(context), config.fingerprint)
  }
  const parsed = parseRefreshToken(refreshToken)
  if (parsed === null) {
    clear()
    // A JWT here is an access token sent by mistake: say so (RFC 6749 §5.2 description).
    throw new FST_JWT_AUTH_INVALID_GRANT(refreshToken.split('.').length === 3
      ? 'This is an access token (a JWT), not a refresh token: send the refresh_token of the token response'
      : 'The refresh token is invalid')
  }
  const store = config.store as Store
  // A session bound to a DPoP key rotates only with a proof of that key (RFC 9449 §5); the
  // store checks it in the same step as the rotation.
  const jkt = await tokenRequestKey(context, request, reply)
  const successor = mintRefreshToken(parsed.sessionId)
  const rotation: RotateInput = {
    sub: parsed.sub,
    sessionId: parsed.sessionId,
    presentedDigest: digestRefreshToken(refreshToken),
    successorDigest: digestRefreshToken(successor),
    sealedSuccessor: sealSuccessor(refreshToken, successor),
    idleTimeout: config.idleTimeout,
    reuseGrace: config.reuseGrace,
    ...(jkt === undefined ? {} : { jkt })
  }
  const hook = config.claimsHook
  // With a claims hook the store is asked twice: first whether the token is current (the hook
  // runs only for a real rotation), then to rotate with the hook's claims.
  let result = await storeCall(request.log, 'rotateRefreshToken', () => store.rotateRefreshToken(hook === null ? rotation : { ...rotation, peek: true }))
  if (result.status === 'current') {
    const peeked = result.session
    const asked = Date.now()
    const claims = await refreshedClaims(hook as ClaimsHook, request, peeked, claimsHookTimeout(config.reuseGrace))
    if (claims === null) {
      await endSession(context, store, request.log, parsed.sub, parsed.sessionId, 'claims-hook', rotation.presentedDigest)
      clear()
      throw new FST_JWT_AUTH_INVALID_GRANT('The session has ended')
    }
    result = await storeCall(request.log, 'rotateRefreshToken', () => store.rotateRefreshToken({
      ...rotation,
      claims,
      // An updateClaims that came while the hook ran wins over what the hook read before it.
      claimsFrom: peeked.claims,
      // The token was current at the peek: a tab that rotated it while the hook ran is no thief.
      reuseGrace: config.reuseGrace + (Date.now() - asked)
    }))
  }

  const event = { sub: parsed.sub, sessionId: parsed.sessionId, time: Date.now(), ...clientDetails(request) }
  if ((result.status === 'rotated' || result.status === 'grace') && !keyMatches(context, result.session, jkt)) {
    throw new FST_JWT_AUTH_INVALID_GRANT(result.session.jkt === undefined
      ? 'This server accepts only DPoP-bound sessions: log in again with a DPoP proof'
      : 'The refresh token is bound to another DPoP key')
  }
  if (result.status === 'rotated') {
    emit({ type: 'refreshed', ...event }, request.log)
    return respond(context, reply, result.session, successor, fromCookie)
  }
  if (result.status === 'grace') {
    // Each link opens with the token before it: the last one is the live chain's current token.
    let live: string | null = refreshToken
    for (const sealed of result.sealedSuccessors) {
      live = openSuccessor(live, sealed)
      if (live === null) break
    }
    if (live !== null) return respond(context, reply, result.session, live, fromCookie)
  } else if (result.status === 'reused') {
    emit({ type: 'reuse-detected', ...event }, request.log)
  }
  clear()
  throw new FST_JWT_AUTH_INVALID_GRANT(
    result.status === 'reused'
      ? 'The refresh token was already used: the session is revoked'
      : 'The refresh token is invalid or expired'
  )
}

/**
 * After a rotation: the session's key is the proof's (a store that ignored `jkt` fails closed
 * here), and with `dpop.required` the session is bound at all.
 */
function keyMatches (context: AuthContext, session: SessionRecord, jkt: string | undefined): boolean {
  if (session.jkt === undefined) return context.config.dpop?.required !== true
  return session.jkt === jkt
}
