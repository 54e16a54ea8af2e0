// Options are normalised and validated once, at registration, into a frozen config.
// Nothing security-related falls back silently to a default.
import { parseDuration } from './duration.js'
import {
  FST_JWT_AUTH_INVALID_KEY,
  FST_JWT_AUTH_INVALID_LIFETIME,
  FST_JWT_AUTH_INVALID_OPTION,
  FST_JWT_AUTH_INVALID_PREFIX,
  FST_JWT_AUTH_INVALID_STORE,
  FST_JWT_AUTH_MISSING_SECRET,
  FST_JWT_AUTH_WEAK_SECRET
} from './errors.js'
import { checkOptionNames } from './option-names.js'
import { MemoryStore } from './store/memory.js'
import { defaultSecuritySchemeName } from './http/openapi.js'
import { normaliseDpop } from './tokens/dpop.js'
import type { DpopConfig } from './tokens/dpop.js'
import type { RemoteJwksConfig } from './tokens/jwks.js'
import { hmacBytes, isHmac, resolveKey, resolveSecret } from './tokens/keys.js'
import type { HmacAlgorithm, ResolvedKey } from './tokens/keys.js'
import { storeMethods } from './store/store.js'
import type { Store } from './store/store.js'
import type { AuthEvent, ClaimsHook, JwtAuthOptions, RoutesOptions } from './types.js'

export interface CookieConfig {
  secure: boolean
  accessSameSite: 'lax' | 'strict' | 'none'
  refreshSameSite: 'strict' | 'none'
  domain: string | undefined
  accessName: string
  refreshName: string
  originCheck: boolean
  allowedOrigins: ReadonlySet<string>
  /** Anti-CSRF token cookie name, or null when the mode is off. */
  csrfName: string | null
}

export interface RoutesConfig {
  prefix: string
  refresh: boolean
  logout: boolean
  logoutAll: boolean
  sessions: boolean
  revoke: boolean
  /** Path of the JWKS route, or null for none. */
  jwks: string | null
  /** The token endpoints' limits (applied by @fastify/rate-limit), or null for none. */
  rateLimit: RateLimitConfig | null
}

export interface RateLimitConfig {
  /** Requests per session (or per address, without a readable token) and window, on each limited route. */
  max: number
  /** The window in ms. */
  timeWindow: number
  /** Requests per client address and window over the limited routes together, whatever session they name. */
  ipMax: number
}

export interface Config {
  /** Every verification key; with the single `secret`, one key without kid. */
  keys: ResolvedKey[]
  /** The key that signs: the first one with a private part. Null in verify-only mode. */
  signingKey: ResolvedKey | null
  /** The issuer's key set to fetch, in verify-only mode with `jwks.url`. */
  remoteJwks: RemoteJwksConfig | null
  issuer: string
  audience: string
  /** The RFC 9068 client_id claim of access tokens. */
  clientId: string
  realm: string
  /** All durations in ms. */
  accessTtl: number
  /** Verified access tokens remembered (entries); 0: none. */
  accessCacheSize: number
  sessionLifetime: number
  idleTimeout: number
  reuseGrace: number
  /** refreshToken.claims, or null to keep the stored claims. */
  claimsHook: ClaimsHook | null
  clockTolerance: number
  maxSessionsPerUser: number
  /** Null in verify-only mode without a store: no revocation check then. */
  store: Store | null
  /** The revocation replica's settings, or null when each request asks the store. */
  replica: { maxStaleness: number } | null
  cookies: CookieConfig | null
  /** Name of the fingerprint cookie, or null when the defence is off. */
  fingerprint: string | null
  routes: RoutesConfig | null
  onEvent: ((event: AuthEvent) => unknown) | null
  /** The bearer scheme name routes give @fastify/swagger in `security`, or null to name none. */
  openapiSecurityScheme: string | null
  /** DPoP (RFC 9449), or null when the mode is off. */
  dpop: DpopConfig | null
}

const maxGrace = 60_000
const cookieNamePattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function normaliseOptions (options: JwtAuthOptions): Readonly<Config> {
  if (options !== null && typeof options === 'object') checkOptionNames(options)
  const { keys, signingKey, remoteJwks } = normaliseKeys(options)
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

  const accessCacheSize = options.accessToken?.cacheSize ?? 1000
  if (!Number.isSafeInteger(accessCacheSize) || accessCacheSize < 0) {
    throw new FST_JWT_AUTH_INVALID_OPTION('accessToken.cacheSize', 'must be a whole number of entries (0 turns the cache off)')
  }
  const maxSessionsPerUser = options.maxSessionsPerUser ?? 10
  if (!Number.isSafeInteger(maxSessionsPerUser) || maxSessionsPerUser < 1) {
    throw new FST_JWT_AUTH_INVALID_OPTION('maxSessionsPerUser', 'must be a positive integer')
  }

  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new FST_JWT_AUTH_INVALID_OPTION('onEvent', 'must be a function')
  }

  const verifyOnly = signingKey === null
  const store = options.store === undefined ? (verifyOnly ? null : new MemoryStore()) : checkStore(options.store)
  const routes = normaliseRoutes(options.routes, keys.some(key => key.publicJwk !== undefined))
  const cookies = normaliseCookies(options.cookies, routes === null || routes.prefix === '' ? '/' : routes.prefix)
  return Object.freeze({
    keys,
    signingKey,
    remoteJwks,
    issuer,
    audience,
    // RFC 9068 §2.2 requires client_id: by default the tokens' client is the issuer's own app.
    clientId: nonEmptyString(options.accessToken?.clientId, 'accessToken.clientId') ?? issuer,
    realm: normaliseRealm(options.realm, issuer),
    accessTtl,
    accessCacheSize,
    sessionLifetime,
    idleTimeout,
    reuseGrace,
    claimsHook: normaliseClaimsHook(refresh.claims),
    clockTolerance,
    maxSessionsPerUser,
    // A verify-only service checks revocation only against the issuer's shared store.
    store,
    replica: normaliseReplica(options.revocation, store, accessTtl),
    cookies,
    fingerprint: normaliseFingerprint(options.fingerprint, cookies),
    // Issuing routes need a signing key; a verify-only service keeps only the JWKS route.
    routes: routes === null || !verifyOnly ? routes : { ...routes, refresh: false, logout: false, logoutAll: false, sessions: false, revoke: false },
    onEvent: options.onEvent ?? null,
    openapiSecurityScheme: normaliseOpenapi(options.openapi),
    dpop: normaliseStoreDpop(options.dpop, signingKey, store)
  })
}

function normaliseStoreDpop (option: unknown, signingKey: ResolvedKey | null, store: Store | null): DpopConfig | null {
  const dpop = normaliseDpop(option, signingKey?.signingKey)
  // Replayed proofs must be refused on every instance: the store remembers them.
  if (dpop !== null && typeof store?.rememberProof !== 'function') {
    throw new FST_JWT_AUTH_INVALID_OPTION('dpop', 'needs a store with rememberProof (MemoryStore, RedisStore) to refuse replayed proofs')
  }
  return dpop
}

function normaliseClaimsHook (hook: unknown): ClaimsHook | null {
  if (hook === undefined) return null
  if (typeof hook !== 'function') throw new FST_JWT_AUTH_INVALID_OPTION('refreshToken.claims', 'must be a function')
  return hook as ClaimsHook
}

// The names OpenAPI 3 allows for components.
const componentNamePattern = /^[A-Za-z0-9._-]+$/

function normaliseOpenapi (openapi: JwtAuthOptions['openapi']): string | null {
  if (openapi === undefined || openapi === false) return null
  if (openapi === true) return defaultSecuritySchemeName
  if (openapi === null || typeof openapi !== 'object') throw new FST_JWT_AUTH_INVALID_OPTION('openapi', 'must be a boolean or an object')
  const { securityScheme = defaultSecuritySchemeName } = openapi
  if (typeof securityScheme !== 'string' || !componentNamePattern.test(securityScheme)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('openapi.securityScheme', 'must be a non-empty string of letters, digits, ".", "-" and "_"')
  }
  return securityScheme
}

function normaliseReplica (revocation: JwtAuthOptions['revocation'], store: Store | null, accessTtl: number): Config['replica'] {
  if (revocation === undefined) return null
  if (revocation === null || typeof revocation !== 'object') throw new FST_JWT_AUTH_INVALID_OPTION('revocation', 'must be an object')
  const maxStaleness = parseDuration(revocation.maxStaleness ?? '1s', 'revocation.maxStaleness')
  if (revocation.replica !== undefined && typeof revocation.replica !== 'boolean') {
    throw new FST_JWT_AUTH_INVALID_OPTION('revocation.replica', 'must be a boolean')
  }
  if (revocation.replica !== true) return null
  // A replica older than an access token would be no revocation check at all.
  if (maxStaleness > accessTtl) throw new FST_JWT_AUTH_INVALID_OPTION('revocation.maxStaleness', 'must not be longer than accessToken.expiresIn')
  if (typeof store?.openRevocationFeed !== 'function') {
    throw new FST_JWT_AUTH_INVALID_OPTION('revocation.replica', 'needs a store with a revocation feed, such as RedisStore')
  }
  return { maxStaleness }
}

/** One of: `secret` (HMAC), `keys` (a ring; the first private key signs), `jwks.url` (verify-only). */
function normaliseKeys (options: JwtAuthOptions): Pick<Config, 'keys' | 'signingKey' | 'remoteJwks'> {
  const given = [options.secret !== undefined, options.keys !== undefined, options.jwks !== undefined].filter(Boolean).length
  if (given > 1) throw new FST_JWT_AUTH_INVALID_OPTION('secret, keys and jwks', 'are alternatives: pass exactly one')
  if (options.keys !== undefined) {
    if (options.algorithm !== undefined) throw new FST_JWT_AUTH_INVALID_OPTION('algorithm', 'goes with secret; each of keys names its own alg')
    if (!Array.isArray(options.keys) || options.keys.length === 0) throw new FST_JWT_AUTH_INVALID_OPTION('keys', 'must be a non-empty array')
    const keys = options.keys.map(resolveKey)
    const kids = new Set(keys.map(key => key.kid))
    if (kids.size !== keys.length) throw new FST_JWT_AUTH_INVALID_KEY('two keys have the same kid')
    const hmac = keys.filter(key => isHmac(key.alg)).length
    if (hmac > 0 && hmac < keys.length && options.mixedKeyTypes !== true) {
      throw new FST_JWT_AUTH_INVALID_KEY('HMAC and asymmetric keys together let anyone with the secret mint tokens that verifiers of the public keys accept; set mixedKeyTypes: true if that is intended')
    }
    return { keys, signingKey: keys.find(key => key.signingKey !== undefined) ?? null, remoteJwks: null }
  }
  if (options.jwks !== undefined) {
    const jwks = options.jwks
    // Over plain HTTP anyone on the path could swap the keys: https, except on this machine.
    if (jwks === null || typeof jwks !== 'object' || typeof jwks.url !== 'string' ||
      !/^(https:\/\/|http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?\/)/.test(jwks.url)) {
      throw new FST_JWT_AUTH_INVALID_OPTION('jwks.url', 'must be an https URL (http only for localhost)')
    }
    return {
      keys: [],
      signingKey: null,
      remoteJwks: {
        url: jwks.url,
        timeout: parseDuration(jwks.timeout ?? '5s', 'jwks.timeout'),
        cacheMaxAge: parseDuration(jwks.cacheMaxAge ?? '10m', 'jwks.cacheMaxAge'),
        cooldown: parseDuration(jwks.cooldown ?? '30s', 'jwks.cooldown', { allowZero: true })
      }
    }
  }
  const secret: unknown = options.secret
  if (secret === undefined || secret === null || secret === '') throw new FST_JWT_AUTH_MISSING_SECRET()
  if (typeof secret !== 'string' && !Buffer.isBuffer(secret)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('secret', 'must be a string or a Buffer')
  }
  const algorithm = options.algorithm ?? 'HS256'
  if (typeof algorithm !== 'string' || !isHmac(algorithm as HmacAlgorithm)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('algorithm', 'must be one of HS256, HS384, HS512 with a secret (asymmetric keys go in keys)')
  }
  // RFC 7518 §3.2: at least as many bytes as the hash output.
  const needed = hmacBytes[algorithm as HmacAlgorithm]
  const bytes = typeof secret === 'string' ? Buffer.byteLength(secret) : secret.length
  if (bytes < needed) throw new FST_JWT_AUTH_WEAK_SECRET(needed, algorithm, bytes)
  const key = resolveSecret(secret, algorithm as HmacAlgorithm)
  return { keys: [key], signingKey: key, remoteJwks: null }
}

/** The challenge's realm is a header value: printable ASCII (RFC 6750 §3, RFC 9110 quoted-string). */
function normaliseRealm (realm: unknown, issuer: string): string {
  const value = nonEmptyString(realm, 'realm') ?? issuer
  if (!/^[\x20-\x7e]+$/.test(value)) throw new FST_JWT_AUTH_INVALID_OPTION('realm', `(default: the issuer) must be printable ASCII, got ${JSON.stringify(value)}`)
  return value
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

/**
 * Browsers drop a `__Secure-` cookie that is not Secure and a `__Host-` one that is not Secure,
 * has a Domain or a Path other than /: such a combination is refused here, not sent in vain.
 */
function checkPrefix (option: string, name: string, secure: boolean, domain: string | undefined, path: string): void {
  const prefix = /^__(Secure|Host)-/.exec(name)?.[0]
  if (prefix === undefined) return
  if (!secure) throw new FST_JWT_AUTH_INVALID_OPTION(option, `with the ${prefix} prefix needs cookies.secure`)
  if (prefix === '__Host-' && domain !== undefined) throw new FST_JWT_AUTH_INVALID_OPTION(option, 'with the __Host- prefix cannot go with cookies.domain')
  if (prefix === '__Host-' && path !== '/') throw new FST_JWT_AUTH_INVALID_OPTION(option, `with the __Host- prefix needs Path=/, but this cookie's Path is ${path}`)
}

/** Secure cookies get the strongest prefix their attributes allow: tossed cookies cannot wear it. */
function defaultCookieName (base: string, secure: boolean, domain: string | undefined, path: string): string {
  if (!secure) return base
  return domain === undefined && path === '/' ? `__Host-${base}` : `__Secure-${base}`
}

function normaliseCookies (cookies: JwtAuthOptions['cookies'], refreshPath: string): CookieConfig | null {
  if (cookies === false) return null
  const options = cookies === undefined || cookies === true ? {} : cookies
  if (typeof options !== 'object' || options === null) throw new FST_JWT_AUTH_INVALID_OPTION('cookies', 'must be a boolean or an object')
  for (const flag of ['secure', 'originCheck', 'csrf'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new FST_JWT_AUTH_INVALID_OPTION(`cookies.${flag}`, 'must be a boolean')
  }
  const secure = options.secure ?? true
  const sameSite = options.sameSite ?? 'lax'
  if (!['lax', 'strict', 'none'].includes(sameSite)) {
    throw new FST_JWT_AUTH_INVALID_OPTION('cookies.sameSite', "must be 'lax', 'strict' or 'none'")
  }
  if (sameSite === 'none' && !secure) {
    throw new FST_JWT_AUTH_INVALID_OPTION('cookies.sameSite', "'none' requires secure cookies")
  }
  const domain = nonEmptyString(options.domain, 'cookies.domain')
  const accessName = options.accessName ?? defaultCookieName('access_token', secure, domain, '/')
  const refreshName = options.refreshName ?? defaultCookieName('refresh_token', secure, domain, refreshPath)
  for (const [name, value, path] of [['cookies.accessName', accessName, '/'], ['cookies.refreshName', refreshName, refreshPath]] as const) {
    if (typeof value !== 'string' || !cookieNamePattern.test(value)) {
      throw new FST_JWT_AUTH_INVALID_OPTION(name, 'must be a valid cookie name')
    }
    checkPrefix(name, value, secure, domain, path)
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
    domain,
    accessName,
    refreshName,
    originCheck: options.originCheck ?? true,
    allowedOrigins: new Set(allowedOrigins),
    csrfName: options.csrf === true ? 'csrf_token' : null
  })
}

function normaliseFingerprint (fingerprint: unknown, cookies: CookieConfig | null): string | null {
  if (fingerprint === undefined || fingerprint === false) return null
  if (fingerprint !== true) throw new FST_JWT_AUTH_INVALID_OPTION('fingerprint', 'must be a boolean')
  if (cookies === null) throw new FST_JWT_AUTH_INVALID_OPTION('fingerprint', 'needs cookies: the fingerprint travels in one')
  // The __Secure- prefix makes browsers refuse the cookie unless it is Secure and set over HTTPS.
  return cookies.secure ? '__Secure-Fgp' : 'fgp'
}

function normaliseRoutes (routes: JwtAuthOptions['routes'], hasPublicKeys: boolean): RoutesConfig | null {
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
    revoke: options.revoke ?? true,
    jwks: normaliseJwksPath(options.jwks, hasPublicKeys),
    rateLimit: normaliseRateLimit(options.rateLimit)
  })
}

const defaultRateLimit = { max: 20, timeWindow: 60_000, ipMax: 1000 }
// @fastify/rate-limit's spellings of a window ('1 minute', '30 seconds', '500ms'); digits alone are ms.
const timeWindowPattern = /^(\d+(?:\.\d+)?) *(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)?$/i
const windowUnitMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

function isPositiveInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function normaliseRateLimit (rateLimit: RoutesOptions['rateLimit']): RoutesConfig['rateLimit'] {
  if (rateLimit === false) return null
  const limit = rateLimit ?? {}
  if (typeof limit !== 'object') throw new FST_JWT_AUTH_INVALID_OPTION('routes.rateLimit', 'must be false or { max, timeWindow, ipMax }')
  const max = limit.max ?? defaultRateLimit.max
  if (!isPositiveInteger(max)) throw new FST_JWT_AUTH_INVALID_OPTION('routes.rateLimit.max', 'must be a positive integer')
  // The ceiling is never below the per-session rate: it would become the real limit.
  const ipMax = limit.ipMax ?? Math.max(defaultRateLimit.ipMax, max)
  if (!isPositiveInteger(ipMax) || ipMax < max) throw new FST_JWT_AUTH_INVALID_OPTION('routes.rateLimit.ipMax', 'must be an integer of at least max')
  return Object.freeze({ max, ipMax, timeWindow: normaliseTimeWindow(limit.timeWindow ?? defaultRateLimit.timeWindow) })
}

function normaliseTimeWindow (value: unknown): number {
  let ms = Number.NaN
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const match = timeWindowPattern.exec(value)
    if (match !== null) ms = Number(match[1]) * windowUnitOf(match[2])
  }
  if (!isPositiveInteger(ms)) throw new FST_JWT_AUTH_INVALID_OPTION('routes.rateLimit.timeWindow', "must be a positive integer of milliseconds or a duration such as '1 minute' or '30s'")
  return ms
}

/** Milliseconds per unit word: 'ms', 'msecs' and 'milliseconds' are ms; the others go by their first letter. */
function windowUnitOf (word = 'ms'): number {
  const unit = word.toLowerCase()
  return windowUnitMs[unit.startsWith('ms') || unit.startsWith('mil') ? 'ms' : unit.charAt(0)] as number
}

function normaliseJwksPath (path: string | false | undefined, hasPublicKeys: boolean): string | null {
  if (path === false || (path === undefined && !hasPublicKeys)) return null
  const value = path ?? '/.well-known/jwks.json'
  if (typeof value !== 'string' || !value.startsWith('/')) throw new FST_JWT_AUTH_INVALID_OPTION('routes.jwks', 'must be a path starting with / or false')
  return value
}
