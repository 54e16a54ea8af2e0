// Public types. Claims are typed through the augmentable `FastifyJwtAuthClaims` interface,
// the way @fastify/jwt types its payload with `FastifyJWT`.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Duration } from './duration.js'
import type { SessionInfo, Store } from './store/store.js'
import type { HmacAlgorithm, KeyOptions } from './tokens/keys.js'
import type { DpopOptions } from './tokens/dpop.js'

/**
 * The app's own claims. Augment it to type `reply.issueTokens()` and `request.user`:
 * `declare module 'fastify-jwt-auth' { interface FastifyJwtAuthClaims { tenant: string } }`
 * `roles` and `scope` are there without it; declare them to narrow them, e.g.
 * `roles: Array<'admin' | 'user'>`, and `app.requireRoles()` accepts only those roles.
 */
export interface FastifyJwtAuthClaims {}

/** `roles` and `scope` as the guards read them, unless the app declares them itself. */
export interface GuardClaims {
  /** Checked by `app.requireRoles()`. */
  roles?: string[]
  /** Space-delimited scopes (RFC 8693 §4.2), checked by `app.requireScopes()`. */
  scope?: string
}

/** The app's claims: the declared ones, and `roles` and `scope` unless declared. */
export type AppClaims = FastifyJwtAuthClaims & Omit<GuardClaims, keyof FastifyJwtAuthClaims>

/** A role name `app.requireRoles()` takes: any string, or one of the declared `roles`. */
export type Role = AppClaims extends { roles?: ReadonlyArray<infer R extends string> } ? R : never

/** What `reply.issueTokens()` takes: the subject and the app's claims. */
export type IssueClaims = AppClaims & { sub: string }

/** Claims the plugin sets itself; `reply.issueTokens()` refuses them. */
export type ReservedClaim = 'iss' | 'aud' | 'iat' | 'exp' | 'nbf' | 'jti' | 'sid' | 'client_id' | 'fgp' | 'csrf' | 'cnf' | 'auth_time' | 'acr' | 'amr'

/**
 * The type of a reserved claim in what the app passes: no value fits, and the compiler's message
 * names this type, so it reads as the hint it is.
 */
export interface ClaimSetByThePluginRemoveIt { readonly 'the plugin sets iss, aud, iat, exp, nbf, jti, sid and client_id itself': never }

/** Reserved claims, refused with a compiler message that says why. */
export type WithoutReservedClaims = { [name in ReservedClaim]?: ClaimSetByThePluginRemoveIt }

/** New claims for a user's sessions: the app's claims; `sub`, when given, must be the session's. */
export type ClaimsUpdate = AppClaims & { sub?: string } & WithoutReservedClaims

/** What the `refreshToken.claims` hook is told about the session being refreshed. */
export interface ClaimsHookContext {
  sub: string
  sessionId: string
  /** The claims the session holds now (those of its last access token, or of updateClaims). */
  claims: IssueClaims
}

/**
 * `refreshToken.claims`: called at every rotation; its claims become the new access token's and
 * the session's. `null` ends the session (the user is gone or disabled); a throw or rejection
 * answers 503 and keeps the session.
 */
export type ClaimsHook = (session: ClaimsHookContext, request: FastifyRequest) => ClaimsUpdate | null | Promise<ClaimsUpdate | null>

/** The claims every access token carries (RFC 9068 §2.2). */
export interface RegisteredClaims {
  iss: string
  aud: string | string[]
  sub: string
  iat: number
  exp: number
  jti: string
  /** Session id: the refresh-token family this access token belongs to. */
  sid: string
  /** RFC 9068 client_id (`accessToken.clientId`); absent in tokens of versions before it. */
  client_id?: string
  /** With `fingerprint: true`: SHA-256 of the fingerprint cookie. */
  fgp?: string
  /** With `cookies.csrf: true`: SHA-256 of the anti-CSRF token. */
  csrf?: string
  /**
   * When the user last really authenticated (seconds since the epoch; OpenID Connect Core §2):
   * the login or the last `reply.stepUp()`, never a refresh. Absent in tokens of versions before it.
   */
  auth_time?: number
  /** Authentication context class of that authentication, as the app named it. */
  acr?: string
  /** Authentication methods of that authentication (RFC 8176), as the app named them. */
  amr?: string[]
  /** With DPoP (RFC 9449 §6.1): the RFC 7638 thumbprint of the key the token is bound to. */
  cnf?: { jkt: string }
}

/** A verified access token's payload: `request.user`. */
export type AccessTokenPayload = RegisteredClaims & AppClaims

/** RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string
  /** 'DPoP' when the login or refresh sent a DPoP proof (RFC 9449 §5): the tokens are bound to its key. */
  token_type: 'Bearer' | 'DPoP'
  /** Access-token lifetime in seconds. */
  expires_in: number
  refresh_token: string
  /**
   * With `cookies.csrf: true`: the value of the new csrf cookie (also in the `x-csrf-token`
   * response header), for pages on another site, which cannot read that cookie.
   */
  csrf_token?: string
}

export interface CookieOptions {
  /** Default true. Turn off only for local HTTP development. */
  secure?: boolean
  /** SameSite of the access cookie (default 'lax'); the refresh cookie is 'strict' unless this is 'none'. */
  sameSite?: 'lax' | 'strict' | 'none'
  domain?: string
  /** Default 'access_token'. */
  accessName?: string
  /** Default 'refresh_token'. */
  refreshName?: string
  /** Refuse cookie-authenticated unsafe requests from other origins (default true). */
  originCheck?: boolean
  /** Origins (e.g. 'https://app.example.com') allowed besides the server's own. */
  allowedOrigins?: string[]
  /**
   * Anti-CSRF token mode, for apps that must use SameSite=None: a readable `csrf_token` cookie
   * that cookie-authenticated unsafe requests echo in an `x-csrf-token` header. Default false.
   */
  csrf?: boolean
}

export interface RoutesOptions {
  /** Default '/auth'. */
  prefix?: string
  refresh?: boolean
  logout?: boolean
  logoutAll?: boolean
  sessions?: boolean
  revoke?: boolean
  /** Path of the JWKS route, served when there are asymmetric keys. Default '/.well-known/jwks.json'; false for none. */
  jwks?: string | false
  /**
   * Limits of /refresh, /revoke and /logout, applied by @fastify/rate-limit when the app has
   * registered it (before this plugin); inert without it. False for none.
   */
  rateLimit?: false | {
    /**
     * Requests per session and window on each of the three routes; the session is read from
     * the refresh token (or the access token's sid). A request without a readable token counts
     * per client address at this rate. Default 20.
     */
    max?: number
    /** The window: milliseconds, or a duration such as '1 minute' or '30s'. Default 60000. */
    timeWindow?: number | string
    /**
     * Requests per client address (request.ip; IPv6 per /64) and window over the three routes
     * together, whatever session they name: the ceiling for floods of made-up sessions.
     * At least `max`. Default 1000, or `max` when that is higher.
     */
    ipMax?: number
  }
}

export type AuthEventType = 'issued' | 'refreshed' | 'stepped-up' | 'reuse-detected' | 'token-revoked' | 'session-revoked' | 'user-revoked'

/** A security event. It never carries token material. */
export interface AuthEvent {
  type: AuthEventType
  sub: string
  /** The session concerned, when there is one. */
  sessionId?: string
  /** Epoch ms. */
  time: number
  /** For 'session-revoked': why ('logout', 'api', 'evicted', 'revoke-endpoint', 'claims-hook'). */
  reason?: string
  ip?: string
  userAgent?: string
}

export interface RemoteJwksOptions {
  url: string
  /** Fetch timeout. Default '5s'. */
  timeout?: Duration
  /** Refresh a key set older than this. Default '10m'. */
  cacheMaxAge?: Duration
  /** Least time between two fetches for an unknown kid. Default '30s'. */
  cooldown?: Duration
}

/** Where the keys come from: exactly one of `secret`, `keys` or `jwks`. */
export type KeySource =
  | {
    /** HMAC secret, at least as long as the hash (32 bytes for HS256). */
    secret: string | Buffer
    /** HMAC algorithm of `secret`. Default 'HS256'. */
    algorithm?: HmacAlgorithm
    keys?: never
    jwks?: never
  }
  | {
    /**
     * Signing and verification keys, each with its kid and alg (RS/PS/ES/EdDSA, or HS*). The
     * first key with a private part (or secret) signs; the others only verify. With public keys
     * only, the service is verify-only.
     */
    keys: KeyOptions[]
    /** Allow HMAC and asymmetric keys in one ring (refused by default). */
    mixedKeyTypes?: boolean
    secret?: never
    algorithm?: never
    jwks?: never
  }
  | {
    /** Verify-only: the issuer's JWKS URL. */
    jwks: RemoteJwksOptions
    secret?: never
    algorithm?: never
    keys?: never
  }

export type JwtAuthOptions = CommonOptions & KeySource

/** Options every registration takes, whatever its keys. */
export interface CommonOptions {
  /** `iss` of issued tokens, checked on verify. Default 'fastify-jwt-auth'. */
  issuer?: string
  /** `aud` of issued tokens, checked on verify. Default: the issuer. */
  audience?: string
  accessToken?: {
    expiresIn?: Duration
    /** RFC 9068 `client_id` claim of access tokens: the client they were issued to. Default: the issuer. */
    clientId?: string
    /**
     * How many verified access tokens each instance remembers (LRU), so that a token seen again
     * skips its signature and claims checks until it expires; revocation is still checked on
     * every request. Default 1000; 0 turns the cache off.
     */
    cacheSize?: number
  }
  refreshToken?: {
    /** Absolute session lifetime, fixed at login. Default '30d'. */
    expiresIn?: Duration
    /** Idle lifetime, restarted by each refresh. Default '7d'. */
    idleTimeout?: Duration
    /**
     * How long after its rotation a spent refresh token still leads back to the live token pair
     * (parallel tabs, retries, slow responses) instead of counting as reuse. Default '10s', at most 60 s.
     */
    reuseGrace?: Duration
    /** Re-reads the user's claims at every rotation (see ClaimsHook). Default: the stored claims are kept. */
    claims?: ClaimsHook
  }
  /** Clock tolerance for exp / nbf / iat. Default '5s'. */
  clockTolerance?: Duration
  /** Most sessions (devices) per user; the oldest is evicted beyond it. Default 10. */
  maxSessionsPerUser?: number
  /** Default: a new MemoryStore. On app close the plugin calls `store.close()`, which releases only what the store created itself. */
  store?: Store
  /**
   * Opt-in in-process revocation replica: with a store that has a revocation feed (RedisStore),
   * each instance follows the feed and skips the per-request store call for users without a
   * recent revocation. `maxStaleness` (default '1s'): how old the replica may be before every
   * token is checked at the store again.
   */
  revocation?: { replica?: boolean, maxStaleness?: Duration }
  /** Default true. */
  cookies?: boolean | CookieOptions
  /** Built-in routes; false disables them all. */
  routes?: false | RoutesOptions
  /**
   * Token sidejacking defence (OWASP): a random value in a hardened HttpOnly cookie, its SHA-256
   * in the access token; app.authenticate requires both to match. For browser apps. Default false.
   */
  fingerprint?: boolean
  /** realm of WWW-Authenticate challenges. Default: the issuer. */
  realm?: string
  /** Called for each security event, not awaited; a throw or a rejected promise is logged and ignored. */
  onEvent?: (event: AuthEvent) => unknown
  /**
   * @fastify/swagger: name a bearer security scheme in the `security` of the built-in routes and
   * of every route `app.authenticate` guards. `true` names it 'bearerAuth'. The app's document
   * must then have the scheme (`openapiSecuritySchemes`): swagger throws on a missing one.
   * Default false: no route names a scheme.
   */
  openapi?: boolean | { securityScheme?: string }
  /**
   * Sender-constrained tokens (DPoP, RFC 9449), off by default. A login or refresh with a DPoP
   * proof gets tokens bound to the proof's key (`token_type: "DPoP"`, `cnf.jkt`); a bound token
   * is accepted only as `Authorization: DPoP` with a fresh proof. `true` is `{}`.
   */
  dpop?: boolean | DpopOptions
}

export type AuthenticateHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>
export type GuardFactory = (...required: string[]) => AuthenticateHook
export type RoleGuardFactory = (...roles: Role[]) => AuthenticateHook
/** How the user authenticated (OpenID Connect Core §2 `acr`, RFC 8176 `amr`). */
export interface LoginStrength {
  /** Authentication context class, e.g. 'mfa' or a URI; checked by `app.requireAuth({ acr })`. */
  acr?: string
  /** Authentication method names (RFC 8176), e.g. ['pwd', 'otp']. */
  amr?: string[]
}

/** Options of `reply.issueTokens()`. */
export interface IssueTokensOptions extends LoginStrength {
  /**
   * False for a login without remember-me: its cookies have no Max-Age (they end with the browser
   * session). Default true.
   */
  persistent?: boolean
  /** This session's absolute lifetime; at most `refreshToken.expiresIn` (the default). */
  expiresIn?: Duration
  /** This session's idle lifetime; at most `refreshToken.idleTimeout` (the default). */
  idleTimeout?: Duration
  /**
   * Answer in the cookies alone: the body carries no token text (`token_type`, `expires_in`, and
   * `csrf_token` in csrf mode), so a script injected into the page cannot read the tokens.
   * Needs cookies. Default false (RFC 6749 §5.1: the tokens in the body).
   */
  cookiesOnly?: boolean
}

/** A token response in the cookies alone: what the body keeps of it. */
export type CookieTokenResponse = Omit<TokenResponse, 'access_token' | 'refresh_token'>

export interface IssueTokens {
  (claims: IssueClaims & WithoutReservedClaims, options?: IssueTokensOptions & { cookiesOnly?: false }): Promise<TokenResponse>
  (claims: IssueClaims & WithoutReservedClaims, options: IssueTokensOptions & { cookiesOnly: true }): Promise<CookieTokenResponse>
  (claims: IssueClaims & WithoutReservedClaims, options?: IssueTokensOptions): Promise<TokenResponse | CookieTokenResponse>
}

/** Options of `reply.stepUp()`: the new authentication's acr and amr (kept as they were when absent). */
export interface StepUpOptions extends LoginStrength {
  /** As for `reply.issueTokens()`. */
  cookiesOnly?: boolean
}

export interface StepUp {
  (options?: StepUpOptions & { cookiesOnly?: false }): Promise<TokenResponse>
  (options: StepUpOptions & { cookiesOnly: true }): Promise<CookieTokenResponse>
  (options?: StepUpOptions): Promise<TokenResponse | CookieTokenResponse>
}

/** Options of `app.requireAuth()`: how recent and how strong the authentication must be. */
export interface RequireAuthOptions {
  /** Most time since the user last authenticated (`auth_time`), e.g. '5m' (RFC 9470 max_age). */
  maxAge?: Duration
  /** Authentication context classes, one of which the token's `acr` must be (RFC 9470 acr_values). */
  acr?: string[]
}

export type RequireAuthFactory = (options: RequireAuthOptions) => AuthenticateHook

export type { AsymmetricAlgorithm, HmacAlgorithm, KeyInput, KeyOptions } from './tokens/keys.js'
export type { DpopAlgorithm, DpopOptions } from './tokens/dpop.js'

export interface JwtAuthApi {
  /** Denylists one access token (a token string, or a verified payload such as `request.user`). */
  revokeToken (token: string | Pick<RegisteredClaims, 'sub' | 'jti' | 'exp'>): Promise<boolean>
  /** Revokes one session (device): its refresh chain and its access tokens. */
  revokeSession (sessionId: string): Promise<boolean>
  /** Revokes every session and access token of the user; resolves to the number of sessions. */
  revokeUser (sub: string): Promise<number>
  listSessions (sub: string): Promise<SessionInfo[]>
  /**
   * Replaces the claims of every live session of the user; each session's next refresh carries
   * them (access tokens already issued keep theirs until they expire). Resolves to the number of
   * sessions changed.
   */
  updateClaims (sub: string, claims: ClaimsUpdate): Promise<number>
  /** Verifies an access token (signature, claims, revocation) without a request; a DPoP-bound token is refused (no proof to check). */
  verifyAccessToken (token: string): Promise<AccessTokenPayload>
  /** Null for a verify-only registration without a store. */
  readonly store: Store | null
}
