// Every error code of the plugin, nothing else. Request errors carry the RFC 6750 / RFC 6749
// error name in `oauthErrors`; registration errors are programmer errors (status 500).
import createError from '@fastify/error'
import type { FastifyErrorConstructor } from '@fastify/error'

/** What an error takes: the values of its message's %s, then optionally `{ cause }`. Never `any`. */
type Args = [unknown?, unknown?, unknown?, unknown?]

function define<C extends string> (code: C, message: string): FastifyErrorConstructor<{ code: C }, Args>
function define<C extends string, SC extends number> (code: C, message: string, statusCode: SC): FastifyErrorConstructor<{ code: C, statusCode: SC }, Args>
function define (code: string, message: string, statusCode?: number): FastifyErrorConstructor<{ code: string }, Args> {
  return createError(code, message, statusCode)
}

// Registration: bad options fail loudly, once, when the plugin is registered.
export const FST_JWT_AUTH_MISSING_SECRET = define(
  'FST_JWT_AUTH_MISSING_SECRET',
  'The secret option is required: pass at least 32 random bytes, e.g. crypto.randomBytes(32).toString("base64url")'
)
export const FST_JWT_AUTH_WEAK_SECRET = define(
  'FST_JWT_AUTH_WEAK_SECRET',
  'The secret must be at least %s bytes long for %s (got %s bytes): generate one with crypto.randomBytes(64).toString("base64url")'
)
export const FST_JWT_AUTH_GUESSABLE_SECRET = define(
  'FST_JWT_AUTH_GUESSABLE_SECRET',
  'The secret is guessable (%s): use random bytes, e.g. crypto.randomBytes(64).toString("base64url") or `npx fastify-jwt-auth keygen`'
)
export const FST_JWT_AUTH_INVALID_DURATION = define(
  'FST_JWT_AUTH_INVALID_DURATION',
  'Option %s must be a positive duration: a number of seconds or a string such as "15m", "7d", "10s"'
)
export const FST_JWT_AUTH_INVALID_LIFETIME = define('FST_JWT_AUTH_INVALID_LIFETIME', '%s')
export const FST_JWT_AUTH_INVALID_PREFIX = define(
  'FST_JWT_AUTH_INVALID_PREFIX',
  'Option routes.prefix must start with "/" and must not end with "/" (use "" for the root)'
)
export const FST_JWT_AUTH_INVALID_OPTION = define('FST_JWT_AUTH_INVALID_OPTION', 'Option %s %s')
export const FST_JWT_AUTH_INVALID_STORE = define(
  'FST_JWT_AUTH_INVALID_STORE',
  'Option store must implement the Store interface: %s is not a function'
)
export const FST_JWT_AUTH_INVALID_GUARD = define(
  'FST_JWT_AUTH_INVALID_GUARD',
  '%s needs at least one non-empty string'
)
export const FST_JWT_AUTH_INVALID_KEY = define('FST_JWT_AUTH_INVALID_KEY', 'Invalid key: %s')
export const FST_JWT_AUTH_STORE_SELF_CHECK = define(
  'FST_JWT_AUTH_STORE_SELF_CHECK',
  'The store failed its start-up self-check: %s'
)
export const FST_JWT_AUTH_NO_STORE = define(
  'FST_JWT_AUTH_NO_STORE',
  'This verify-only registration has no store: pass the shared store to revoke or list sessions'
)
export const FST_JWT_AUTH_INVALID_CLAIMS = define('FST_JWT_AUTH_INVALID_CLAIMS', '%s: %s')
export const FST_JWT_AUTH_UNKNOWN_OPTION = define('FST_JWT_AUTH_UNKNOWN_OPTION', 'Unknown option %s: did you mean %s?')
export const FST_JWT_AUTH_ALREADY_REGISTERED = define(
  'FST_JWT_AUTH_ALREADY_REGISTERED',
  'fastify-jwt-auth is already registered in this scope: register it once, at the root, and use app.authenticate in every child'
)
export const FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE = define(
  'FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE',
  '%s ran without app.authenticate before it: use { preHandler: [app.authenticate, app.%s(...)] }',
  401
)
export const FST_JWT_AUTH_MISSING_DEPENDENCY = define(
  'FST_JWT_AUTH_MISSING_DEPENDENCY',
  '%s needs the %s package, an optional peer dependency: npm install %s'
)

// Requests.
export const FST_JWT_AUTH_NO_TOKEN = define('FST_JWT_AUTH_NO_TOKEN', 'No access token was presented', 401)
export const FST_JWT_AUTH_INVALID_REQUEST = define('FST_JWT_AUTH_INVALID_REQUEST', '%s', 400)
export const FST_JWT_AUTH_TOKEN_INVALID = define('FST_JWT_AUTH_TOKEN_INVALID', 'The access token is invalid', 401)
export const FST_JWT_AUTH_TOKEN_EXPIRED = define('FST_JWT_AUTH_TOKEN_EXPIRED', 'The access token has expired', 401)
export const FST_JWT_AUTH_TOKEN_REVOKED = define('FST_JWT_AUTH_TOKEN_REVOKED', 'The access token has been revoked', 401)
export const FST_JWT_AUTH_FINGERPRINT_MISMATCH = define(
  'FST_JWT_AUTH_FINGERPRINT_MISMATCH',
  'The access token is not bound to this browser',
  401
)
export const FST_JWT_AUTH_CSRF = define('FST_JWT_AUTH_CSRF', 'Missing or wrong anti-CSRF token', 403)
export const FST_JWT_AUTH_INSUFFICIENT_SCOPE = define('FST_JWT_AUTH_INSUFFICIENT_SCOPE', '%s', 403)
export const FST_JWT_AUTH_CROSS_ORIGIN = define(
  'FST_JWT_AUTH_CROSS_ORIGIN',
  'Cookie-authenticated %s request from another origin refused (list a trusted origin in cookies.allowedOrigins)',
  403
)
// DPoP (RFC 9449 §7.1, §12.2): 401 at protected routes; the token endpoints answer them with 400.
export const FST_JWT_AUTH_INVALID_DPOP_PROOF = define('FST_JWT_AUTH_INVALID_DPOP_PROOF', '%s', 401)
export const FST_JWT_AUTH_USE_DPOP_NONCE = define('FST_JWT_AUTH_USE_DPOP_NONCE', '%s: retry with the nonce of the DPoP-Nonce header', 401)
export const FST_JWT_AUTH_DPOP_BOUND = define(
  'FST_JWT_AUTH_DPOP_BOUND',
  'This access token is bound to a DPoP key: send it as Authorization: DPoP with a proof',
  401
)
export const FST_JWT_AUTH_DPOP_REQUIRED = define(
  'FST_JWT_AUTH_DPOP_REQUIRED',
  'This server accepts only DPoP-bound access tokens: log in with a DPoP proof',
  401
)
export const FST_JWT_AUTH_INVALID_GRANT = define('FST_JWT_AUTH_INVALID_GRANT', '%s', 400)
export const FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE = define(
  'FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE',
  "Only grant_type 'refresh_token' is supported here",
  400
)
export const FST_JWT_AUTH_SESSION_NOT_FOUND = define('FST_JWT_AUTH_SESSION_NOT_FOUND', 'No such session', 404)
export const FST_JWT_AUTH_STORE_UNAVAILABLE = define(
  'FST_JWT_AUTH_STORE_UNAVAILABLE',
  'The session store is unavailable, retry later',
  503
)

export const FST_JWT_AUTH_CLAIMS_UNAVAILABLE = define(
  'FST_JWT_AUTH_CLAIMS_UNAVAILABLE',
  'The claims of the session could not be read (the refreshToken.claims hook failed), retry later',
  503
)

export const FST_JWT_AUTH_JWKS_UNAVAILABLE = define(
  'FST_JWT_AUTH_JWKS_UNAVAILABLE',
  'The signing keys of the issuer could not be fetched, retry later',
  503
)

/** The RFC 6750 §3.1 / RFC 6749 §5.2 error name of each request error. */
export const oauthErrors: Readonly<Record<string, string>> = {
  FST_JWT_AUTH_INVALID_REQUEST: 'invalid_request',
  FST_JWT_AUTH_TOKEN_INVALID: 'invalid_token',
  FST_JWT_AUTH_TOKEN_EXPIRED: 'invalid_token',
  FST_JWT_AUTH_TOKEN_REVOKED: 'invalid_token',
  FST_JWT_AUTH_FINGERPRINT_MISMATCH: 'invalid_token',
  FST_JWT_AUTH_INSUFFICIENT_SCOPE: 'insufficient_scope',
  FST_JWT_AUTH_INVALID_DPOP_PROOF: 'invalid_dpop_proof',
  FST_JWT_AUTH_USE_DPOP_NONCE: 'use_dpop_nonce',
  FST_JWT_AUTH_DPOP_BOUND: 'invalid_token',
  FST_JWT_AUTH_DPOP_REQUIRED: 'invalid_token',
  FST_JWT_AUTH_INVALID_GRANT: 'invalid_grant',
  FST_JWT_AUTH_UNSUPPORTED_GRANT_TYPE: 'unsupported_grant_type'
}
