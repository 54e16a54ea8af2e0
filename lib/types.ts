// Public types. Claims are typed through the augmentable `FastifyJwtAuthClaims` interface,
// the way @fastify/jwt types its payload with `FastifyJWT`.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Duration } from './duration.js'
import type { SessionInfo, Store } from './store/store.js'

/**
 * The app's own claims. Augment it to type `reply.issueTokens()` and `request.user`:
 * `declare module 'fastify-jwt-auth' { interface FastifyJwtAuthClaims { tenant: string } }`
 */
export interface FastifyJwtAuthClaims {
  /** Checked by `app.requireRoles()`. */
  roles?: string[]
  /** Space-delimited scopes (RFC 8693 §4.2), checked by `app.requireScopes()`. */
  scope?: string
}

/** What `reply.issueTokens()` takes: the subject and the app's claims. */
export type IssueClaims = FastifyJwtAuthClaims & { sub: string }

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
}

/** A verified access token's payload: `request.user`. */
export type AccessTokenPayload = RegisteredClaims & FastifyJwtAuthClaims

/** RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  /** Access-token lifetime in seconds. */
  expires_in: number
  refresh_token: string
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
}

export interface RoutesOptions {
  /** Default '/auth'. */
  prefix?: string
  refresh?: boolean
  logout?: boolean
  logoutAll?: boolean
  sessions?: boolean
  revoke?: boolean
}

export type AuthEventType = 'issued' | 'refreshed' | 'reuse-detected' | 'token-revoked' | 'session-revoked' | 'user-revoked'

/** A security event. It never carries token material. */
export interface AuthEvent {
  type: AuthEventType
  sub: string
  /** The session concerned, when there is one. */
  sessionId?: string
  /** Epoch ms. */
  time: number
  /** For 'session-revoked': why ('logout', 'api', 'evicted', 'revoke-endpoint'). */
  reason?: string
  ip?: string
  userAgent?: string
}

export interface JwtAuthOptions {
  /** HMAC secret for HS256, at least 32 bytes. */
  secret: string | Buffer
  /** `iss` of issued tokens, checked on verify. Default 'fastify-jwt-auth'. */
  issuer?: string
  /** `aud` of issued tokens, checked on verify. Default: the issuer. */
  audience?: string
  /** HMAC algorithm. Default 'HS256'. */
  algorithm?: 'HS256' | 'HS384' | 'HS512'
  accessToken?: { expiresIn?: Duration }
  refreshToken?: {
    /** Absolute session lifetime, fixed at login. Default '30d'. */
    expiresIn?: Duration
    /** Idle lifetime, restarted by each refresh. Default '7d'. */
    idleTimeout?: Duration
    /** How long a just-rotated refresh token still returns the same successor. Default '10s', at most 60 s. */
    reuseGrace?: Duration
  }
  /** Clock tolerance for exp / nbf / iat. Default '5s'. */
  clockTolerance?: Duration
  /** Most sessions (devices) per user; the oldest is evicted beyond it. Default 10. */
  maxSessionsPerUser?: number
  /** Default: a new MemoryStore. On app close the plugin calls `store.close()`, which releases only what the store created itself. */
  store?: Store
  /** Default true. */
  cookies?: boolean | CookieOptions
  /** Built-in routes; false disables them all. */
  routes?: false | RoutesOptions
  /** realm of WWW-Authenticate challenges. Default: the issuer. */
  realm?: string
  /** Called for each security event; exceptions are logged and swallowed. */
  onEvent?: (event: AuthEvent) => void
}

export type AuthenticateHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>
export type GuardFactory = (...required: string[]) => AuthenticateHook
export type IssueTokens = (claims: IssueClaims) => Promise<TokenResponse>

export interface JwtAuthApi {
  /** Denylists one access token (a token string, or a verified payload such as `request.user`). */
  revokeToken (token: string | Pick<RegisteredClaims, 'sub' | 'jti' | 'exp'>): Promise<boolean>
  /** Revokes one session (device): its refresh chain and its access tokens. */
  revokeSession (sessionId: string): Promise<boolean>
  /** Revokes every session and access token of the user; resolves to the number of sessions. */
  revokeUser (sub: string): Promise<number>
  listSessions (sub: string): Promise<SessionInfo[]>
  /** Verifies an access token (signature, claims, revocation) without a request. */
  verifyAccessToken (token: string): Promise<AccessTokenPayload>
  readonly store: Store
}
