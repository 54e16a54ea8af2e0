// The preHandler: extract -> verify -> revocation check -> request.user.
// Everything it needs is built at registration. Per request: no closures, no spreads, no regex
// on the way of a valid token; no promise at all when the answer is synchronous (the verified
// token cache or fast-jwt, then the replica or a store whose isRevoked answers a boolean, such
// as MemoryStore), one when the store must be awaited.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { storeUnavailable } from '../session/store-call.js'
import { withChallenge } from './challenge.js'
import type { AuthContext } from '../context.js'
import type { AccessTokens } from '../tokens/access.js'
import type { DpopConfig } from '../tokens/dpop.js'
import { matchesDigest } from '../tokens/binding.js'
import { isCrossOriginUnsafe, safeMethods, tokenCookie } from './cookies.js'
import { checkPossession, dpopAccessToken } from './dpop.js'
import {
  FST_JWT_AUTH_CROSS_ORIGIN,
  FST_JWT_AUTH_DPOP_BOUND,
  FST_JWT_AUTH_CSRF,
  FST_JWT_AUTH_FINGERPRINT_MISMATCH,
  FST_JWT_AUTH_INVALID_REQUEST,
  FST_JWT_AUTH_NO_TOKEN,
  FST_JWT_AUTH_TOKEN_REVOKED
} from '../errors.js'
import type { AccessTokenPayload, AuthenticateHook } from '../types.js'

// RFC 6750 §2.1: "Bearer" 1*SP b64token; the scheme name is case-insensitive.
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const b64tokenChars = new Uint8Array(128)
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/') b64tokenChars[char.charCodeAt(0)] = 1
const space = 32
const equals = 61

/** True when `header` starts with the scheme name "Bearer" (any case) followed by whitespace or nothing. */
function isBearerScheme (header: string): boolean {
  if (header.length < 6) return false
  // | 32 lower-cases ASCII letters: B e a r e r.
  if ((header.charCodeAt(0) | 32) !== 98 || (header.charCodeAt(1) | 32) !== 101 || (header.charCodeAt(2) | 32) !== 97 ||
    (header.charCodeAt(3) | 32) !== 114 || (header.charCodeAt(4) | 32) !== 101 || (header.charCodeAt(5) | 32) !== 114) return false
  if (header.length === 6) return true
  const next = header.charCodeAt(6)
  // \s of the former pattern: space, tab, line breaks and the other whitespace JavaScript knows.
  return next === space || (next >= 9 && next <= 13) || /\s/.test(header.charAt(6))
}

/** True when `text` from `from` on is one b64token: 1*b64token-char *"=". */
function isB64token (text: string, from: number): boolean {
  let i = from
  while (i < text.length) {
    const code = text.charCodeAt(i)
    if (code >= 128 || b64tokenChars[code] !== 1) break
    i++
  }
  if (i === from) return false
  while (i < text.length && text.charCodeAt(i) === equals) i++
  return i === text.length
}

/**
 * The token of a Bearer authorization header; undefined for another scheme (Basic, ...), which
 * is not ours: as if no credentials were sent. Throws on a malformed Bearer header.
 */
function bearerToken (header: string, access: AccessTokens): string | undefined {
  if (!isBearerScheme(header)) return undefined
  let start = 6
  while (header.charCodeAt(start) === space) start++
  const token = header.slice(start)
  // A token verified before passed this scan then (a JWT is b64token characters and dots): the
  // scan of a whole token costs more than the cache hit it would precede.
  if (start === 6 || (!access.remembers(token) && !isB64token(header, start))) throw new FST_JWT_AUTH_INVALID_REQUEST('Malformed Bearer authorization header')
  return token
}

/** The access token of a request, from the Bearer header or the access cookie. */
function extractAccessToken (request: FastifyRequest, context: AuthContext): string {
  const cookies = context.config.cookies
  const header = request.headers.authorization
  let token = header === undefined ? undefined : bearerToken(header, context.access)
  // RFC 9449 §7.1: with the dpop option, a DPoP-bound token comes in its own scheme.
  if (token === undefined && header !== undefined && context.config.dpop !== null) token = dpopAccessToken(header)
  // Any other scheme (Basic, ...) is not ours: as if no credentials were sent.
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

/**
 * Verifies a token and checks it against the store. A DPoP-bound token is refused: without the
 * request there is no proof to check, and a bound token alone is never enough.
 */
export async function verifyAccessToken (token: string, context: AuthContext, log: FastifyBaseLogger): Promise<AccessTokenPayload> {
  const payload = await context.access.verify(token)
  if (payload.cnf !== undefined) throw new FST_JWT_AUTH_DPOP_BOUND()
  const revoked = askStore(payload, context, log)
  if (revoked === true || (revoked !== false && await revoked)) throw new FST_JWT_AUTH_TOKEN_REVOKED()
  return payload
}

type Verified = AccessTokenPayload | Promise<AccessTokenPayload>

/**
 * The per-request revocation check: false without asking the store (verify-only without a store,
 * or the replica clears the token), else the store's own answer, a boolean or a promise of one
 * (whose rejection the caller turns into the 503). A store that throws is a 503 at once.
 */
function storeAnswer (payload: AccessTokenPayload, context: AuthContext, log: FastifyBaseLogger): boolean | Promise<boolean> {
  const store = context.config.store
  if (store === null) return false // verify-only without the issuer's store: signature and claims only
  if (context.replica?.clears(payload) === true) return false // no recent revocation for this user
  let answer: boolean | Promise<boolean>
  try {
    answer = store.isRevoked(payload.sub, payload.sid, payload.jti)
  } catch (error) {
    throw storeUnavailable(log, 'isRevoked', error)
  }
  return answer
}

/** As storeAnswer, a pending answer's failure already turned into the 503. */
function askStore (payload: AccessTokenPayload, context: AuthContext, log: FastifyBaseLogger): boolean | Promise<boolean> {
  const answer = storeAnswer(payload, context, log)
  return typeof answer === 'boolean' ? answer : settledAnswer(answer, log)
}

/** A store's pending answer, its failure turned into the plugin's 503 (logged once). */
async function settledAnswer (answer: Promise<boolean>, log: FastifyBaseLogger): Promise<boolean> {
  try {
    return await answer
  } catch (error) {
    throw storeUnavailable(log, 'isRevoked', error)
  }
}

/** True when the request's access token came from the cookie rather than a Bearer header. */
function sentByCookie (request: FastifyRequest, token: string, access: AccessTokens): boolean {
  const header = request.headers.authorization
  // extractAccessToken read this header already: a malformed Bearer header never gets here.
  return header === undefined || bearerToken(header, access) !== token
}

/**
 * Everything app.authenticate checks; throws or rejects with the plugin's errors. The reply, when
 * given, gets the DPoP nonce; nothing else touches it.
 */
export type RequestVerifier = (request: FastifyRequest, reply?: FastifyReply) => Verified

/** The checks of a request, each decided at registration. */
class RequestChecks {
  readonly context: AuthContext
  readonly #fingerprint: string | null
  readonly #csrfName: string | null
  readonly #dpop: boolean

  constructor (context: AuthContext) {
    this.context = context
    this.#fingerprint = context.config.fingerprint
    this.#csrfName = context.config.cookies?.csrfName ?? null
    this.#dpop = context.config.dpop !== null
  }

  /**
   * Binding checks come before the store call: a token without its browser costs no round trip.
   * A DPoP-bound token has neither fingerprint nor CSRF value: its proof binds it (checked next),
   * and it never travels in a cookie.
   */
  bindings (request: FastifyRequest, token: string, payload: AccessTokenPayload): void {
    if (payload.cnf !== undefined) return
    const fingerprint = this.#fingerprint
    if (fingerprint !== null && !matchesDigest(request.cookies[fingerprint], payload.fgp)) {
      throw new FST_JWT_AUTH_FINGERPRINT_MISMATCH()
    }
    if (this.#csrfName !== null && !safeMethods.has(request.method) && sentByCookie(request, token, this.context.access) &&
      !matchesDigest(request.headers['x-csrf-token'], payload.csrf)) {
      throw new FST_JWT_AUTH_CSRF()
    }
  }

  /** True when the token needs its proof of possession checked (DPoP): a bound token, or any when DPoP is on. */
  needsPossession (payload: AccessTokenPayload): boolean {
    return this.#dpop || payload.cnf !== undefined
  }

  /** Bindings and revocation of a verified payload: the payload, or a promise of it while the store answers. */
  afterVerify (request: FastifyRequest, reply: FastifyReply | undefined, token: string, payload: AccessTokenPayload): Verified {
    this.bindings(request, token, payload)
    // Proof of possession (DPoP): its replay check and the revocation check go to the store together.
    const proved = this.needsPossession(payload) ? checkPossession(this.context, request, reply, token, payload) : undefined
    let revoked: boolean | Promise<boolean>
    try {
      revoked = askStore(payload, this.context, request.log)
    } catch (error) {
      // A store that throws at once (a 503): the replay check already sent must not reject unheard.
      proved?.catch(() => {})
      throw error
    }
    if (proved !== undefined) return bothChecked(proved, revoked, payload)
    if (revoked === false) return payload
    if (revoked === true) throw new FST_JWT_AUTH_TOKEN_REVOKED()
    return unlessRevoked(revoked, payload)
  }

  /** The slow path of a token whose key must be fetched first (remote JWKS). */
  async afterFetch (request: FastifyRequest, reply: FastifyReply | undefined, token: string, pending: Promise<AccessTokenPayload>): Promise<AccessTokenPayload> {
    return await this.afterVerify(request, reply, token, await pending)
  }

  /**
   * The hook's path: extraction, verification and bindings, then the store's own answer (or
   * false when it was not asked); a promise of the payload while a remote key is fetched or a
   * DPoP proof is checked.
   */
  checkedUntilStore (request: FastifyRequest, reply: FastifyReply): Checked | Promise<AccessTokenPayload> {
    const token = extractAccessToken(request, this.context)
    const verified = this.context.access.verify(token)
    if (verified instanceof Promise || this.needsPossession(verified)) return Promise.resolve(this.checkedFrom(request, reply, token, verified))
    this.bindings(request, token, verified)
    this.checked.payload = verified
    this.checked.revoked = storeAnswer(verified, this.context, request.log)
    return this.checked
  }

  /** Reused by every request: read at once by the hook, before any other request can run. */
  readonly checked: Checked = { payload: null as unknown as AccessTokenPayload, revoked: false }

  verify (request: FastifyRequest, reply: FastifyReply | undefined): Verified {
    const token = extractAccessToken(request, this.context)
    return this.checkedFrom(request, reply, token, this.context.access.verify(token))
  }

  /** After verification: straight on, or once a remote key set has been fetched. */
  checkedFrom (request: FastifyRequest, reply: FastifyReply | undefined, token: string, verified: Verified): Verified {
    return verified instanceof Promise
      ? this.afterFetch(request, reply, token, verified)
      : this.afterVerify(request, reply, token, verified)
  }
}

/** A DPoP proof and the revocation answer, checked together: the payload once both hold. */
async function bothChecked (proved: Promise<void>, revoked: boolean | Promise<boolean>, payload: AccessTokenPayload): Promise<AccessTokenPayload> {
  const [, isRevoked] = await Promise.all([proved, revoked])
  if (isRevoked) throw new FST_JWT_AUTH_TOKEN_REVOKED()
  return payload
}

async function unlessRevoked (revoked: Promise<boolean>, payload: AccessTokenPayload): Promise<AccessTokenPayload> {
  if (await revoked) throw new FST_JWT_AUTH_TOKEN_REVOKED()
  return payload
}

/** A verified payload and the store's answer about it (false: not asked, or not revoked). */
interface Checked {
  payload: AccessTokenPayload
  revoked: boolean | Promise<boolean>
}

const checksOf = new WeakMap<RequestVerifier, RequestChecks>()

export function createRequestVerifier (context: AuthContext): RequestVerifier {
  const checks = new RequestChecks(context)
  function verifyRequest (request: FastifyRequest, reply?: FastifyReply): Verified {
    return checks.verify(request, reply)
  }
  checksOf.set(verifyRequest, checks)
  return verifyRequest
}

/** The hook's own promise while a remote key is fetched: request.user, or the refusal with its challenge. */
async function settle (request: FastifyRequest, reply: FastifyReply, realm: string, dpop: DpopConfig | null, pending: Promise<AccessTokenPayload>): Promise<void> {
  try {
    request.user = await pending
  } catch (error) {
    throw withChallenge(reply, realm, error, undefined, dpop)
  }
}

/**
 * The hook's one promise when the store must be awaited: request.user, the 401 of a revoked token,
 * or the 503. Never with DPoP on (needsPossession sends every token through settle), so the
 * challenge names Bearer alone.
 */
async function settleStore (request: FastifyRequest, reply: FastifyReply, realm: string, answer: Promise<boolean>, payload: AccessTokenPayload): Promise<void> {
  let revoked: boolean
  try {
    revoked = await answer
  } catch (error) {
    throw withChallenge(reply, realm, storeUnavailable(request.log, 'isRevoked', error))
  }
  if (revoked) throw withChallenge(reply, realm, new FST_JWT_AUTH_TOKEN_REVOKED())
  request.user = payload
}

const settled = Promise.resolve()

export function createAuthenticate (context: AuthContext, verifyRequest: RequestVerifier): AuthenticateHook {
  const realm = context.config.realm
  const dpop = context.config.dpop
  // Every verifier is made by createRequestVerifier, which registers its checks.
  const checks = checksOf.get(verifyRequest) as RequestChecks
  // Fastify passes `done` to every hook: a synchronous answer calls it and makes no promise. Called
  // as a function (`await app.authenticate(request, reply)`), it answers a promise as it always did.
  function authenticate (request: FastifyRequest, reply: FastifyReply, done?: HookHandlerDoneFunction): Promise<void> | undefined {
    let payload: AccessTokenPayload
    let revoked: boolean | Promise<boolean>
    try {
      const checked = checks.checkedUntilStore(request, reply)
      if (checked instanceof Promise) return settle(request, reply, realm, dpop, checked)
      payload = checked.payload
      revoked = checked.revoked
      if (revoked === true) throw new FST_JWT_AUTH_TOKEN_REVOKED()
    } catch (error) {
      const refusal = withChallenge(reply, realm, error, undefined, dpop)
      if (done === undefined) return Promise.reject(refusal)
      done(refusal as Error)
      return undefined
    }
    if (revoked !== false) return settleStore(request, reply, realm, revoked, payload)
    request.user = payload
    if (done === undefined) return settled
    done()
    return undefined
  }
  return authenticate as AuthenticateHook
}
