// The preHandler: extract -> verify -> revocation check -> request.user.
// Everything it needs is built at registration; per request it awaits one store call, or none
// when the revocation replica clears the token.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { storeUnavailable } from '../session/store-call.js'
import { withChallenge } from './challenge.js'
import type { AuthContext } from '../context.js'
import { matchesDigest } from '../tokens/binding.js'
import { isCrossOriginUnsafe, safeMethods, tokenCookie } from './cookies.js'
import { checkPossession, dpopAccessToken } from './dpop.js'
import {
  FST_JWT_AUTH_CROSS_ORIGIN,
  FST_JWT_AUTH_CSRF,
  FST_JWT_AUTH_FINGERPRINT_MISMATCH,
  FST_JWT_AUTH_INVALID_REQUEST,
  FST_JWT_AUTH_NO_TOKEN,
  FST_JWT_AUTH_TOKEN_REVOKED
} from '../errors.js'
import type { Store } from '../store/store.js'
import type { AccessTokenPayload, AuthenticateHook } from '../types.js'

// RFC 6750 §2.1: "Bearer" 1*SP b64token; the scheme name is case-insensitive.
const bearerPattern = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i
const bearerScheme = /^Bearer(?:\s|$)/i

/** The access token of a request, from the Bearer header or the access cookie. */
function extractAccessToken (request: FastifyRequest, context: AuthContext): string {
  const cookies = context.config.cookies
  const header = request.headers.authorization
  let token: string | undefined
  if (header !== undefined) {
    const match = bearerPattern.exec(header)
    if (match !== null) token = match[1]
    else if (bearerScheme.test(header)) throw new FST_JWT_AUTH_INVALID_REQUEST('Malformed Bearer authorization header')
    // RFC 9449 §7.1: with the dpop option, a DPoP-bound token comes in its own scheme.
    else if (context.config.dpop !== null) token = dpopAccessToken(header)
    // Any other scheme (Basic, ...) is not ours: as if no credentials were sent.
  }
  if (cookies !== null) {
    const cookieToken = tokenCookie(request, cookies.accessName)
    if (cookieToken !== undefined && cookieToken !== '') {
      if (token === undefined) {
        if (isCrossOriginUnsafe(request, cookies)) throw new FST_JWT_AUTH_CROSS_ORIGIN(request.method)
        return cookieToken
      }
      // RFC 6750 §2: one method per request. The same token in both places is tolerated,
      // since tools such as Postman replay the cookie next to the header.
      if (cookieToken !== token) throw new FST_JWT_AUTH_INVALID_REQUEST('Two different access tokens were sent')
    }
  }
  if (token === undefined) throw new FST_JWT_AUTH_NO_TOKEN()
  return token
}

/** Verifies a token and checks it against the store. */
export async function verifyAccessToken (token: string, context: AuthContext, log: FastifyBaseLogger): Promise<AccessTokenPayload> {
  return await checkRevocation(await context.access.verify(token), context, log)
}

// The hot path stays synchronous while it can (a single key, no store call needed): a request the
// revocation replica clears costs no promise and no microtask beyond the hook's own.
type Verified = AccessTokenPayload | Promise<AccessTokenPayload>

/** The per-request revocation check: one store call, or none (replica, or verify-only without a store). */
function checkRevocation (payload: AccessTokenPayload, context: AuthContext, log: FastifyBaseLogger): Verified {
  const store = context.config.store
  if (store === null) return payload // verify-only without the issuer's store: signature and claims only
  if (context.replica?.clears(payload) === true) return payload // no recent revocation for this user
  return askStore(store, payload, log)
}

async function askStore (store: Store, payload: AccessTokenPayload, log: FastifyBaseLogger): Promise<AccessTokenPayload> {
  let revoked: boolean
  try {
    revoked = await store.isRevoked(payload.sub, payload.sid, payload.jti)
  } catch (error) {
    throw storeUnavailable(log, 'isRevoked', error)
  }
  if (revoked) throw new FST_JWT_AUTH_TOKEN_REVOKED()
  return payload
}

/** True when the request's access token came from the cookie rather than a Bearer header. */
function sentByCookie (request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization
  return header === undefined || bearerPattern.exec(header)?.[1] !== token
}

/**
 * Everything app.authenticate checks; throws or rejects with the plugin's errors. The reply, when
 * given, gets the DPoP nonce; nothing else touches it.
 */
export type RequestVerifier = (request: FastifyRequest, reply?: FastifyReply) => Verified

export function createRequestVerifier (context: AuthContext): RequestVerifier {
  const { fingerprint, cookies } = context.config
  const csrfName = cookies?.csrfName ?? null

  function checkBindings (request: FastifyRequest, reply: FastifyReply | undefined, token: string, payload: AccessTokenPayload): Verified {
    // Binding checks come before the store call: a token without its browser costs no round trip.
    if (fingerprint !== null && !matchesDigest(request.cookies[fingerprint], payload.fgp)) {
      throw new FST_JWT_AUTH_FINGERPRINT_MISMATCH()
    }
    if (csrfName !== null && !safeMethods.has(request.method) && sentByCookie(request, token) &&
      !matchesDigest(request.headers['x-csrf-token'], payload.csrf)) {
      throw new FST_JWT_AUTH_CSRF()
    }
    // Proof of possession (DPoP): a bound token, or any token when DPoP is required. Its replay
    // check and the revocation check go to the store together.
    const proved = dpop || payload.cnf !== undefined ? checkPossession(context, request, reply, token, payload) : undefined
    if (proved === undefined) return checkRevocation(payload, context, request.log)
    return Promise.all([proved, checkRevocation(payload, context, request.log)]).then(checked => checked[1])
  }

  const dpop = context.config.dpop !== null
  return function verifyRequest (request, reply) {
    const token = extractAccessToken(request, context)
    const verified = context.access.verify(token)
    return verified instanceof Promise
      ? verified.then(payload => checkBindings(request, reply, token, payload))
      : checkBindings(request, reply, token, verified)
  }
}

export function createAuthenticate (context: AuthContext, verifyRequest: RequestVerifier): AuthenticateHook {
  const realm = context.config.realm
  const dpop = context.config.dpop
  return async function authenticate (request, reply) {
    try {
      const verified = verifyRequest(request, reply)
      request.user = verified instanceof Promise ? await verified : verified
    } catch (error) {
      throw withChallenge(reply, realm, error, undefined, dpop)
    }
  }
}
