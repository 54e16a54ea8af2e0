// DPoP at the HTTP layer (RFC 9449): the proof of a request, checked for a token request (login
// and refresh, §5) or with an access token (a protected route, §7), its replay refused through
// the store, and the server's nonce sent back (§8, §9).
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuthContext } from '../context.js'
import { FST_JWT_AUTH_DPOP_BOUND, FST_JWT_AUTH_DPOP_REQUIRED, FST_JWT_AUTH_INVALID_DPOP_PROOF, FST_JWT_AUTH_USE_DPOP_NONCE } from '../errors.js'
import { storeUnavailable } from '../session/store-call.js'
import type { Store } from '../store/store.js'
import { ProofError, proofFutureSlack, proofReplayKey, verifyProof } from '../tokens/dpop.js'
import type { DpopConfig, VerifiedProof } from '../tokens/dpop.js'
import type { AccessTokenPayload } from '../types.js'

// RFC 9449 §7.1: "DPoP" 1*SP token68, the scheme name case-insensitive.
const dpopScheme = /^DPoP +([A-Za-z0-9\-._~+/]+=*)$/i
const dpopSchemeName = /^DPoP(?:\s|$)/i

/** The access token of an `Authorization: DPoP` header; undefined for another scheme. */
export function dpopAccessToken (header: string): string | undefined {
  return dpopScheme.exec(header)?.[1]
}

/** True when the request names the DPoP scheme (well-formed or not). */
export function usesDpopScheme (request: FastifyRequest): boolean {
  const header = request.headers.authorization
  return header !== undefined && dpopSchemeName.test(header)
}

/**
 * The URI the client addressed, for `htu`: the protocol and host as Fastify reads them (behind a
 * proxy, set Fastify's trustProxy so that X-Forwarded-Proto and -Host count) and the path.
 */
function requestUri (request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${request.url}`
}

function refusal (error: ProofError, tokenRequest: boolean): Error {
  const refused = error.nonce ? new FST_JWT_AUTH_USE_DPOP_NONCE(error.message) : new FST_JWT_AUTH_INVALID_DPOP_PROOF(error.message)
  // RFC 9449 §5 and §8: the token endpoint answers these errors with 400, a resource with 401.
  if (tokenRequest) (refused as { statusCode: number }).statusCode = 400
  return refused
}

/** Sends the current nonce, readable by scripts of other origins (CORS exposes it). */
export function offerNonce (reply: FastifyReply, config: DpopConfig): void {
  if (config.nonces === null) return
  reply.header('dpop-nonce', config.nonces.current(Math.floor(Date.now() / 1000)))
  const exposed = reply.getHeader('access-control-expose-headers')
  if (exposed === undefined) reply.header('access-control-expose-headers', 'DPoP-Nonce')
  else if (!/(?:^|,)\s*dpop-nonce\s*(?:,|$)/i.test(String(exposed))) reply.header('access-control-expose-headers', `${String(exposed)}, DPoP-Nonce`)
}

/**
 * Checks the one DPoP header of a request; with `accessToken`, the proof must also carry its
 * hash. Throws invalid_dpop_proof / use_dpop_nonce; the replay check is the caller's.
 */
function checkProof (config: DpopConfig, request: FastifyRequest, reply: FastifyReply | undefined, header: string | string[], tokenRequest: boolean, accessToken?: string): VerifiedProof {
  // §4.3 step 1: exactly one DPoP header (Node joins repeated unknown headers with ", ").
  if (typeof header !== 'string' || header.includes(',')) throw refusal(new ProofError('Send exactly one DPoP header'), tokenRequest)
  const check = { htm: request.method, htu: requestUri(request), now: Math.floor(Date.now() / 1000), nonces: config.nonces, accessToken }
  try {
    return verifyProof(header, config, check)
  } catch (error) {
    // verifyProof throws ProofErrors only: every parse and key import inside it is guarded.
    // Any refused proof learns the current nonce, so that the next one can carry it.
    if (reply !== undefined) offerNonce(reply, config)
    throw refusal(error as ProofError, tokenRequest)
  }
}

/** Remembers the proof on every instance: a replay (here or on another instance) is refused. */
async function refuseReplay (context: AuthContext, config: DpopConfig, request: FastifyRequest, proof: VerifiedProof, tokenRequest: boolean): Promise<void> {
  const store = context.config.store as Store & Required<Pick<Store, 'rememberProof'>>
  // Remembered as long as the proof is acceptable: its age, the future slack, and clock tolerance.
  const ttl = (config.proofMaxAge + proofFutureSlack) * 1000 + context.config.clockTolerance
  let fresh: boolean
  try {
    fresh = await store.rememberProof(proofReplayKey(proof), ttl)
  } catch (error) {
    throw storeUnavailable(request.log, 'rememberProof', error)
  }
  if (!fresh) throw refusal(new ProofError('The DPoP proof was already used'), tokenRequest)
}

/**
 * The key a token request (login, refresh) proves, or undefined when it sends no proof (and
 * none is required). The proof is checked and its replay refused.
 */
export async function tokenRequestKey (context: AuthContext, request: FastifyRequest, reply: FastifyReply): Promise<string | undefined> {
  const config = context.config.dpop
  if (config === null) return undefined
  const header = request.headers.dpop
  if (header === undefined) {
    if (config.required) {
      offerNonce(reply, config)
      throw refusal(new ProofError('A DPoP proof is required'), true)
    }
    return undefined
  }
  const proof = checkProof(config, request, reply, header, true)
  await refuseReplay(context, config, request, proof, true)
  offerNonce(reply, config)
  return proof.jkt
}

/**
 * Proof of possession at a protected route (RFC 9449 §7): a bound token needs the DPoP scheme
 * and a proof of its key with its hash; with `required`, every token must be bound. Returns a
 * promise only when there is a proof to remember.
 */
export function checkPossession (context: AuthContext, request: FastifyRequest, reply: FastifyReply | undefined, token: string, payload: AccessTokenPayload): Promise<void> | undefined {
  const config = context.config.dpop
  const jkt = payload.cnf?.jkt
  if (!usesDpopScheme(request)) {
    if (jkt !== undefined) throw new FST_JWT_AUTH_DPOP_BOUND()
    if (config?.required === true) throw new FST_JWT_AUTH_DPOP_REQUIRED()
    return undefined
  }
  if (config === null) throw new FST_JWT_AUTH_DPOP_BOUND()
  if (jkt === undefined) throw new FST_JWT_AUTH_INVALID_DPOP_PROOF('This access token is not bound to a DPoP key: send it as Bearer')
  const header = request.headers.dpop
  if (header === undefined) throw refusal(new ProofError('A DPoP proof is required with Authorization: DPoP'), false)
  const proof = checkProof(config, request, reply, header, false, token)
  if (proof.jkt !== jkt) throw refusal(new ProofError('The DPoP proof is signed by another key than the one the token is bound to'), false)
  if (reply !== undefined) offerNonce(reply, config)
  return refuseReplay(context, config, request, proof, false)
}
