// The schemas of the built-in routes: the bodies and parameters Fastify validates, and the
// responses, tags and summaries @fastify/swagger documents when the app registers it. Every
// schema Ajv compiles is valid in its strict mode; response headers sit beside `content`, where
// only @fastify/swagger reads them.
import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify'
import { bearerOptional } from '../openapi.js'
import type { CookieConfig } from '../../options.js'

const tags = ['auth']
const maxTokenLength = 4096
const tokenString = { type: 'string', minLength: 1, maxLength: maxTokenLength }
const formOrJson = ['application/json', 'application/x-www-form-urlencoded']
// Fastify's default is 1 MiB, and parsing a deeply nested body that large blocks the event loop
// for tens of ms: 8 KiB holds any valid token body (JSON or form, tokens are plain ASCII) twice.
const tokenBodyLimit = 8192
// The routes that take no body: whatever a client library sends along (`{}`) fits in 1 KiB.
const noBodyLimit = 1024
// No access token: overrides a document-wide `security` the app may set.
const noBearer: never[] = []

const refreshBody = {
  type: 'object',
  properties: {
    refresh_token: { ...tokenString, description: 'The refresh token; may be left out when the refresh cookie is sent.' },
    grant_type: { type: 'string', maxLength: 64, description: 'If sent, "refresh_token" (RFC 6749 §6).' }
  }
}
const revokeBody = {
  type: 'object',
  required: ['token'],
  properties: {
    token: { ...tokenString, description: 'An access token or a refresh token (RFC 7009 §2.1).' },
    token_type_hint: { type: 'string', maxLength: 64, description: '"access_token" or "refresh_token"; not needed.' }
  }
}
// A wildcard, not `:id`: session ids embed the sub and can outgrow Fastify's maxParamLength (100).
const sessionParams = {
  type: 'object',
  required: ['*'],
  properties: { '*': { type: 'string', minLength: 23, maxLength: 400, pattern: '^[A-Za-z0-9_-]+$', description: 'The session id (`id` in GET /sessions).' } }
}

interface DescribedSchema extends Record<string, unknown> { description: string }

/**
 * A JSON response with headers: Ajv (@fastify/response-validation) compiles only the schema under
 * `content`, and refuses `headers` in strict mode; @fastify/swagger documents both.
 */
function withHeaders (schema: DescribedSchema, headers: Record<string, unknown>): Record<string, unknown> {
  return { description: schema.description, headers, content: { 'application/json': { schema } } }
}

const tokenResponse = withHeaders({
  description: 'A new token pair (RFC 6749 §5.1), sent with Cache-Control: no-store. A refresh made with the refresh cookie answers in the cookies alone: no access_token or refresh_token in the body.',
  type: 'object',
  required: ['token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string', description: 'JWT access token (RFC 9068); absent when the refresh came by cookie.' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer', description: 'Lifetime of the access token in seconds.' },
    refresh_token: { type: 'string', description: 'The successor refresh token; the one sent is used up. Absent when the refresh came by cookie.' },
    csrf_token: { type: 'string', description: 'With cookies.csrf: the new csrf cookie\'s value, to send in x-csrf-token.' }
  }
}, {
  'cache-control': { type: 'string', enum: ['no-store'] },
  'x-csrf-token': { type: 'string', description: 'With cookies.csrf: the same value as csrf_token.' }
})

const epochMs = { type: 'integer', description: 'Epoch milliseconds.' }
const sessionList = {
  description: "The caller's live sessions.",
  type: 'array',
  items: {
    type: 'object',
    required: ['id', 'sub', 'createdAt', 'lastUsedAt', 'expiresAt', 'current'],
    properties: {
      id: { type: 'string', description: 'Session id, also the `sid` claim of its access tokens.' },
      sub: { type: 'string' },
      createdAt: epochMs,
      lastUsedAt: epochMs,
      expiresAt: { ...epochMs, description: 'When the session dies unless refreshed again (epoch milliseconds).' },
      userAgent: { type: 'string' },
      ip: { type: 'string' },
      authTime: { ...epochMs, description: 'When the user last authenticated in this session: the login or the last step-up (epoch milliseconds; `auth_time`).' },
      acr: { type: 'string', description: 'Authentication context class of that authentication.' },
      amr: { type: 'array', items: { type: 'string' }, description: 'Authentication methods of that authentication (RFC 8176).' },
      persistent: { type: 'boolean', description: 'False for a login without remember-me (browser-session cookies).' },
      idleTimeout: { type: 'integer', description: "The session's own idle lifetime in milliseconds, when its login set one shorter than the configured one." },
      current: { type: 'boolean', description: 'Whether this is the session of the access token used.' }
    }
  }
}

const errorProperties = {
  statusCode: { type: 'integer' },
  code: { type: 'string', description: 'The FST_JWT_AUTH_* code (README, Errors).' },
  error: { type: 'string' },
  message: { type: 'string' }
}

/** Fastify's usual error body. */
function errorResponse (description: string, headers?: Record<string, unknown>): Record<string, unknown> {
  const schema = { description, type: 'object', required: ['statusCode', 'error', 'message'], properties: errorProperties }
  return headers === undefined ? schema : withHeaders(schema, headers)
}

const challenge = { 'www-authenticate': { type: 'string', description: 'RFC 6750 §3 Bearer challenge.' } }

/** The RFC 6749 §5.2 error body of the token endpoints. */
const oauthError = {
  description: 'RFC 6749 §5.2 error: invalid_request, invalid_grant (a bad, expired or reused refresh token) or unsupported_grant_type.',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'error_description', 'message'],
  properties: {
    ...errorProperties,
    error: { type: 'string', enum: ['invalid_request', 'invalid_grant', 'unsupported_grant_type'] },
    error_description: { type: 'string' }
  }
}

const noContent = (description: string): Record<string, unknown> => ({ description, type: 'null' })

export interface RouteSchemaContext {
  cookies: CookieConfig | null
  /** Whether @fastify/rate-limit will limit the token endpoints and /logout. */
  rateLimited: boolean
  /** The bearer scheme routes name in `security` (the `openapi` option), or null to name none. */
  securityScheme: string | null
}

export type BuiltInRoute = 'refresh' | 'revoke' | 'logout' | 'logoutAll' | 'sessions' | 'deleteSession'

/** The body limit of each built-in route, in bytes; a larger body gets 413. */
export const builtInRouteBodyLimits: Readonly<Record<BuiltInRoute, number>> = {
  refresh: tokenBodyLimit,
  revoke: tokenBodyLimit,
  logout: tokenBodyLimit,
  logoutAll: noBodyLimit,
  sessions: noBodyLimit,
  deleteSession: noBodyLimit
}

/** The schemas of each built-in route, for one registration. */
export function builtInRouteSchemas ({ cookies, rateLimited, securityScheme }: RouteSchemaContext): Record<BuiltInRoute, Record<string, unknown>> {
  const outage = { 503: errorResponse('The session store is unavailable; retry after Retry-After seconds.', { 'retry-after': { type: 'integer' } }) }
  const limited = rateLimited ? { 429: errorResponse('Too many requests for this session, or from this address (@fastify/rate-limit); see Retry-After.') } : {}
  const unauthorized = { 401: errorResponse('No access token, or a bad, expired or revoked one.', challenge) }
  const malformed = { 400: errorResponse('invalid_request: a malformed Bearer header, two different tokens, or a malformed request.', challenge) }
  const forbidden = { 403: errorResponse('A cookie-authenticated request from another origin, or without its anti-CSRF token.', challenge) }
  const cookieRefusal = cookies === null ? {} : forbidden
  const tooLarge = { 413: errorResponse('The body is over the route\'s limit (FST_ERR_CTP_BODY_TOO_LARGE).') }
  const tooLargeGrant = { 413: { ...oauthError, description: 'invalid_request: the body is over the route\'s limit (code FST_ERR_CTP_BODY_TOO_LARGE).' } }
  const refreshCookie = cookies === null
    ? {}
    : { cookies: { type: 'object', properties: { [cookies.refreshName]: { type: 'string', description: 'The refresh cookie, instead of refresh_token in the body.' } } } }

  return {
    refresh: {
      tags,
      summary: 'Exchange a refresh token for a new token pair',
      description: 'Rotates the refresh token (RFC 6749 §6); the cookies are renewed too. A refresh token used twice revokes its session.',
      security: noBearer,
      consumes: formOrJson,
      body: refreshBody,
      ...refreshCookie,
      response: { 200: tokenResponse, 400: oauthError, ...cookieRefusal, ...tooLargeGrant, ...limited, ...outage }
    },
    revoke: {
      tags,
      summary: 'Revoke an access or refresh token (RFC 7009)',
      description: 'A refresh token ends its session; an access token is denylisted until it expires. 200 also for unknown tokens.',
      security: noBearer,
      consumes: formOrJson,
      body: revokeBody,
      response: { 200: noContent('Revoked, or nothing to revoke.'), 400: oauthError, ...tooLargeGrant, ...limited, ...outage }
    },
    logout: {
      tags,
      summary: 'End the session of the refresh token and/or access token sent',
      description: 'Ends the session of each credential sent and clears the cookies. The refresh token works after the access token expired.',
      ...(securityScheme === null ? {} : { security: bearerOptional(securityScheme) }),
      body: refreshBody,
      ...refreshCookie,
      response: { 204: noContent('Logged out.'), ...malformed, ...unauthorized, ...forbidden, ...tooLarge, ...limited, ...outage }
    },
    logoutAll: {
      tags,
      summary: 'End every session of the user',
      response: { 204: noContent('Every session of the user ended.'), ...malformed, ...unauthorized, ...forbidden, ...tooLarge, ...outage }
    },
    sessions: {
      tags,
      summary: "List the caller's sessions",
      response: { 200: sessionList, ...malformed, ...unauthorized, ...outage }
    },
    deleteSession: {
      tags,
      summary: "End one of the caller's sessions",
      params: sessionParams,
      response: {
        204: noContent('Session ended.'),
        ...malformed,
        ...unauthorized,
        ...forbidden,
        404: errorResponse('Not a session of the caller.'),
        ...tooLarge,
        ...outage
      }
    }
  }
}

/** GET /.well-known/jwks.json: the public keys. */
const jwksRouteSchema = {
  tags,
  summary: 'Public keys that verify the access tokens (RFC 7517 JWK Set)',
  security: noBearer,
  response: {
    200: {
      description: 'The JWK Set; caches may keep it for five minutes.',
      content: {
        'application/jwk-set+json': {
          schema: {
            type: 'object',
            required: ['keys'],
            properties: { keys: { type: 'array', items: { type: 'object', required: ['kty'], properties: { kty: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string' }, use: { type: 'string' } } } } }
          }
        }
      }
    }
  }
}

// One pool for the process: registrations share one Ajv, with Fastify's defaults in strict mode.
const validatorPool = AjvCompiler()

/**
 * Validator compiler of the built-in routes: Fastify's own Ajv defaults, whatever validator
 * compiler, type provider or Ajv options the app set (a Zod compiler cannot read JSON Schema).
 */
export function ownValidatorCompiler (): FastifySchemaCompiler<Record<string, unknown>> {
  return validatorPool({}, { customOptions: { strict: true } })
}

/**
 * Serializer compiler of the built-in routes: their response schemas describe, they do not
 * reshape. Bodies go out as they would without a schema, so an app's own error handler keeps
 * its body shape on these routes and no field is ever dropped.
 */
export const serializeAsIs: FastifySerializerCompiler<unknown> = function serializeAsIs ({ httpStatus }) {
  return /^[45]/.test(String(httpStatus)) ? serializeErrorBody : JSON.stringify
}

/**
 * Route config of every built-in route: an app's global @fastify/swagger transform is written for
 * its own schemas (Zod's throws on JSON Schema); these are JSON Schema already.
 */
export const ownSwaggerTransform = { swaggerTransform: false } as const

/** Route options of the JWKS route (its handler sends a ready-made string). */
export const jwksRouteOptions = { schema: jwksRouteSchema, serializerCompiler: serializeAsIs, config: ownSwaggerTransform }

function serializeErrorBody (body: unknown): string {
  // Fastify hands a thrown error over wrapped, with statusCode, error and message as own
  // non-enumerable properties: pick the fields as its default error serializer does.
  if (Object.getOwnPropertyDescriptor(Object(body), 'statusCode')?.enumerable === false) {
    const { statusCode, code, error, message } = body as Record<string, unknown>
    return JSON.stringify({ statusCode, code, error, message })
  }
  return JSON.stringify(body)
}
