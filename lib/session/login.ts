// The login event as the session keeps it: how strongly the user authenticated (auth_time, acr,
// amr: OpenID Connect Core §2, RFC 8176) and how long the login may last (remember-me, shorter
// per-login lifetimes). Checked where the app passes them: issueTokens and stepUp.
import { parseDuration } from '../duration.js'
import { FST_JWT_AUTH_INVALID_OPTION } from '../errors.js'
import type { Config } from '../options.js'
import type { SessionInfo } from '../store/store.js'
import type { IssueTokensOptions, LoginStrength } from '../types.js'

const maxAcrLength = 256
const maxAmrValues = 16
const maxAmrLength = 64

/** acr and amr as given to issueTokens or stepUp, checked (amr copied). */
export function loginStrength (options: LoginStrength, source: string): { acr?: string, amr?: string[] } {
  const strength: { acr?: string, amr?: string[] } = {}
  const { acr, amr } = options
  if (acr !== undefined) {
    if (typeof acr !== 'string' || acr === '' || acr.length > maxAcrLength) {
      throw new FST_JWT_AUTH_INVALID_OPTION(`${source} acr`, `must be a non-empty string of at most ${maxAcrLength} characters`)
    }
    strength.acr = acr
  }
  if (amr !== undefined) {
    if (!Array.isArray(amr) || amr.length === 0 || amr.length > maxAmrValues ||
      !amr.every(method => typeof method === 'string' && method !== '' && method.length <= maxAmrLength)) {
      throw new FST_JWT_AUTH_INVALID_OPTION(`${source} amr`, `must be a non-empty array of at most ${maxAmrValues} method names (RFC 8176), each a non-empty string of at most ${maxAmrLength} characters`)
    }
    strength.amr = [...amr]
  }
  return strength
}

/** What a login's options make of the session's lifetimes (ms): a login may only shorten them. */
export interface LoginLifetimes {
  persistent: boolean
  lifetime: number
  idleTimeout: number
  /** Set when the login's idle lifetime is shorter than the configured one: the store keeps it. */
  sessionIdleTimeout?: number
}

function shorterDuration (value: unknown, name: string, configured: number, optionName: string): number {
  if (value === undefined) return configured
  const ms = parseDuration(value, `issueTokens ${name}`)
  if (ms > configured) {
    throw new FST_JWT_AUTH_INVALID_OPTION(`issueTokens ${name}`, `must not be longer than ${optionName} (${configured / 1000} s): a login may only shorten the configured lifetimes`)
  }
  return ms
}

export function loginLifetimes (options: IssueTokensOptions, config: Readonly<Config>): LoginLifetimes {
  const { persistent = true } = options
  if (typeof persistent !== 'boolean') throw new FST_JWT_AUTH_INVALID_OPTION('issueTokens persistent', 'must be a boolean')
  const lifetime = shorterDuration(options.expiresIn, 'expiresIn', config.sessionLifetime, 'refreshToken.expiresIn')
  const ownIdle = shorterDuration(options.idleTimeout, 'idleTimeout', config.idleTimeout, 'refreshToken.idleTimeout')
  const lifetimes: LoginLifetimes = { persistent, lifetime, idleTimeout: Math.min(ownIdle, lifetime) }
  if (ownIdle < config.idleTimeout) lifetimes.sessionIdleTimeout = ownIdle
  return lifetimes
}

/** The claims of the login event that every access token of the session carries. */
export function loginClaims (session: SessionInfo): { auth_time?: number, acr?: string, amr?: string[] } {
  const claims: { auth_time?: number, acr?: string, amr?: string[] } = {}
  // A store that does not know when the user authenticated gives none: maxAge guards then refuse.
  if (typeof session.authTime === 'number' && Number.isFinite(session.authTime)) claims.auth_time = Math.floor(session.authTime / 1000)
  if (typeof session.acr === 'string') claims.acr = session.acr
  if (Array.isArray(session.amr)) claims.amr = session.amr
  return claims
}
