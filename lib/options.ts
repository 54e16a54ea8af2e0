// Options are normalised and validated once, at registration, into a frozen config.
// Nothing security-related falls back silently to a default.
import { parseDuration } from './duration.js'
import {
  FST_JWT_AUTH_INVALID_LIFETIME,
  FST_JWT_AUTH_INVALID_OPTION,
  FST_JWT_AUTH_INVALID_PREFIX,
  FST_JWT_AUTH_INVALID_STORE,
  FST_JWT_AUTH_MISSING_SECRET,
  FST_JWT_AUTH_WEAK_SECRET
} from './errors.js'
import { MemoryStore } from './store/memory.js'
import { storeMethods } from './store/store.js'
import type { Store } from './store/store.js'
import type { AuthEvent, JwtAuthOptions } from './types.js'

export interface CookieConfig {
  secure: boolean
  accessSameSite: 'lax' | 'strict' | 'none'
  refreshSameSite: 'strict' | 'none'
  domain: string | undefined
  accessName: string
  refreshName: string
  originCheck: boolean
  allowedOrigins: ReadonlySet<string>
}

export interface RoutesConfig {
  prefix: string
  refresh: boolean
  logout: boolean
  logoutAll: boolean
  sessions: boolean
  revoke: boolean
}

export interface Config {
  secret: string | Buffer
  algorithm: 'HS256' | 'HS384' | 'HS512'
  issuer: string
  audience: string
  realm: string
  /** All durations in ms. */
  accessTtl: number
  sessionLifetime: number
  idleTimeout: number
  reuseGrace: number
  clockTolerance: number
  maxSessionsPerUser: number
  store: Store
  cookies: CookieConfig | null
  routes: RoutesConfig | null
  onEvent: ((event: AuthEvent) => void) | null
}

const minSecretBytes = 32
const maxGrace = 60_000
const hmacAlgorithms = new Set(['HS256', 'HS384', 'HS512'])
const cookieNamePattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function normaliseOptions (options: JwtAuthOptions): Readonly<Config> {
  const secret = checkSecret(options.secret)
  const algorithm = options.algorithm ?? 'HS256'
  if (!hmacAlgorithms.has(algorithm)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('algorithm', 'must be one of HS256, HS384, HS512 with a secret')
  }
  const issuer = nonEmptyString(options.issuer, 'issuer') ?? 'fastify-jwt-auth'
  const audience = nonEmptyString(options.audience, 'audience') ?? issuer

  const refresh = options.refreshToken ?? {}
  const accessTtl = parseDuration(options.accessToken?.expiresIn ?? '15m', 'accessToken.expiresIn')
  const sessionLifetime = parseDuration(refresh.expiresIn ?? '30d', 'refreshToken.expiresIn')
  const idleTimeout = parseDuration(refresh.idleTimeout ?? (sessionLifetime < 604_800_000 ? sessionLifetime / 1000 : '7d'), 'refreshToken.idleTimeout')
  const reuseGrace = parseDuration(refresh.reuseGrace ?? '10s', 'refreshToken.reuseGrace', { allowZero: true })
  const clockTolerance = parseDuration(options.clockTolerance ?? '5s', 'clockTolerance', { allowZero: true })
  if (idleTimeout > sessionLifetime) {
    throw new FST_JWT_AUTH_INVALID_LIFETIME('refreshToken.idleTimeout must not be longer than refreshToken.expiresIn')
  }
  if (reuseGrace > maxGrace) {
    throw new FST_JWT_AUTH_INVALID_LIFETIME('refreshToken.reuseGrace must be at most 60 seconds')
  }
  if (accessTtl > sessionLifetime) {
    throw new FST_JWT_AUTH_INVALID_LIFETIME('accessToken.expiresIn must not be longer than refreshToken.expiresIn')
  }

  const maxSessionsPerUser = options.maxSessionsPerUser ?? 10
  if (!Number.isSafeInteger(maxSessionsPerUser) || maxSessionsPerUser < 1) {
    throw new FST_JWT_AUTH_INVALID_OPTION('maxSessionsPerUser', 'must be a positive integer')
  }

  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new FST_JWT_AUTH_INVALID_OPTION('onEvent', 'must be a function')
  }

  return Object.freeze({
    secret,
    algorithm,
    issuer,
    audience,
    realm: nonEmptyString(options.realm, 'realm') ?? issuer,
    accessTtl,
    sessionLifetime,
    idleTimeout,
    reuseGrace,
    clockTolerance,
    maxSessionsPerUser,
    store: options.store === undefined ? new MemoryStore() : checkStore(options.store),
    cookies: normaliseCookies(options.cookies),
    routes: normaliseRoutes(options.routes),
    onEvent: options.onEvent ?? null
  })
}

function checkSecret (secret: unknown): string | Buffer {
  if (secret === undefined || secret === null || secret === '') throw new FST_JWT_AUTH_MISSING_SECRET()
  if (typeof secret !== 'string' && !Buffer.isBuffer(secret)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('secret', 'must be a string or a Buffer')
  }
  const bytes = typeof secret === 'string' ? Buffer.byteLength(secret) : secret.length
  if (bytes < minSecretBytes) throw new FST_JWT_AUTH_WEAK_SECRET(bytes)
  return secret
}

function nonEmptyString (value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw new FST_JWT_AUTH_INVALID_OPTION(name, 'must be a non-empty string')
  return value
}

function checkStore (store: Store): Store {
  if (store === null || typeof store !== 'object') throw new FST_JWT_AUTH_INVALID_STORE('the store')
  for (const method of storeMethods) {
    if (typeof store[method] !== 'function') throw new FST_JWT_AUTH_INVALID_STORE(method)
  }
  return store
}

function normaliseCookies (cookies: JwtAuthOptions['cookies']): CookieConfig | null {
  if (cookies === false) return null
  const options = cookies === undefined || cookies === true ? {} : cookies
  if (typeof options !== 'object' || options === null) throw new FST_JWT_AUTH_INVALID_OPTION('cookies', 'must be a boolean or an object')
  const secure = options.secure ?? true
  const sameSite = options.sameSite ?? 'lax'
  if (!['lax', 'strict', 'none'].includes(sameSite)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('cookies.sameSite', "must be 'lax', 'strict' or 'none'")
  }
  if (sameSite === 'none' && !secure) {
    throw new FST_JWT_AUTH_INVALID_OPTION('cookies.sameSite', "'none' requires secure cookies")
  }
  const accessName = options.accessName ?? 'access_token'
  const refreshName = options.refreshName ?? 'refresh_token'
  for (const [name, value] of [['cookies.accessName', accessName], ['cookies.refreshName', refreshName]] as const) {
    if (typeof value !== 'string' || !cookieNamePattern.test(value)) {
      throw new FST_JWT_AUTH_INVALID_OPTION(name, 'must be a valid cookie name')
    }
  }
  if (accessName === refreshName) {
    throw new FST_JWT_AUTH_INVALID_OPTION('cookies.refreshName', 'must differ from cookies.accessName')
  }
  const allowedOrigins = options.allowedOrigins ?? []
  if (!Array.isArray(allowedOrigins) || !allowedOrigins.every(origin => typeof origin === 'string')) {
    throw new FST_JWT_AUTH_INVALID_OPTION('cookies.allowedOrigins', 'must be an array of origins')
  }
  return Object.freeze({
    secure,
    accessSameSite: sameSite,
    refreshSameSite: sameSite === 'none' ? 'none' : 'strict',
    domain: nonEmptyString(options.domain, 'cookies.domain'),
    accessName,
    refreshName,
    originCheck: options.originCheck ?? true,
    allowedOrigins: new Set(allowedOrigins)
  })
}

function normaliseRoutes (routes: JwtAuthOptions['routes']): RoutesConfig | null {
  if (routes === false) return null
  const options = routes ?? {}
  if (typeof options !== 'object' || options === null) throw new FST_JWT_AUTH_INVALID_OPTION('routes', 'must be false or an object')
  const prefix = options.prefix ?? '/auth'
  if (typeof prefix !== 'string' || (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/')))) {
    throw new FST_JWT_AUTH_INVALID_PREFIX()
  }
  return Object.freeze({
    prefix,
    refresh: options.refresh ?? true,
    logout: options.logout ?? true,
    logoutAll: options.logoutAll ?? true,
    sessions: options.sessions ?? true,
    revoke: options.revoke ?? true
  })
}
