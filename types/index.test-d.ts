// Type tests for what users write, against the built package (CommonJS resolution).
// Run by `npm test` through `tsc -p types`; a failing expectation is a compile error.
import Fastify from 'fastify'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { JsonWebKey } from 'node:crypto'
import jwtAuth, { MemoryStore, jwtAuth as named, openapiSecuritySchemes, openapiSecuritySchemesNamed } from 'fastify-jwt-auth'
import type {
  AccessTokenPayload,
  AuthEvent,
  AuthEventType,
  AuthenticateHook,
  CreateSessionInput,
  CookieTokenResponse,
  CreateSessionResult,
  JwtAuthOptions,
  Role,
  RotateInput,
  RotateResult,
  SessionInfo,
  Store,
  TokenResponse
} from 'fastify-jwt-auth'
import { expectTrue, expectType } from './expect.js'
import type { Equal } from './expect.js'

// The app declares its own claims once, here with its own role names (types/esm.test-d.mts
// keeps the default string roles).
declare module 'fastify-jwt-auth' {
  interface FastifyJwtAuthClaims {
    tenant: string
    roles?: Array<'admin' | 'user'>
  }
}
expectTrue<Equal<Role, 'admin' | 'user'>>()

const app = Fastify()
void app.register(jwtAuth, {
  secret: 'x'.repeat(32),
  issuer: 'https://api.example.com',
  audience: 'api',
  accessToken: { expiresIn: '15m' },
  refreshToken: { expiresIn: '30d', idleTimeout: '7d', reuseGrace: '10s' },
  store: new MemoryStore(),
  cookies: { secure: true, sameSite: 'lax', accessName: 'at', refreshName: 'rt' },
  routes: { prefix: '/auth', revoke: false },
  onEvent (event) { expectType<AuthEvent['type']>(event.type) }
})
void app.register(named, { secret: Buffer.alloc(32), cookies: false, routes: false })

// The claims hook: told the session, answers the user's claims now (sync or async) or null.
void app.register(jwtAuth, {
  secret: 'x'.repeat(32),
  refreshToken: {
    async claims ({ sub, sessionId, claims }, request) {
      expectTrue<Equal<typeof sub, string>>()
      expectTrue<Equal<typeof sessionId, string>>()
      expectTrue<Equal<typeof claims.tenant, string>>()
      expectType<FastifyRequest>(request)
      return sub === 'gone' ? null : { tenant: claims.tenant, roles: ['user'] }
    }
  }
})
void app.register(jwtAuth, { secret: 'x'.repeat(32), refreshToken: { claims: () => null } })
// @ts-expect-error the hook's claims are checked like issueTokens' (declared roles)
void app.register(jwtAuth, { secret: 'x'.repeat(32), refreshToken: { claims: () => ({ roles: ['root'] }) } })
// An async onEvent handler is fine: a rejection is logged.
void app.register(jwtAuth, { secret: 'x'.repeat(32), onEvent: async (event) => { expectType<AuthEvent>(event) } })

// @ts-expect-error a key source (secret, keys or jwks) is required
void app.register(jwtAuth, {})

// Asymmetric keys with kids; a verify-only service with the issuer's JWKS URL.
declare const privateKeyPem: string
declare const publicJwk: JsonWebKey
void app.register(jwtAuth, { keys: [{ kid: '2026-06', alg: 'ES256', key: privateKeyPem }, { kid: '2026-01', alg: 'EdDSA', key: publicJwk }] })
void app.register(jwtAuth, { jwks: { url: 'https://auth.example.com/.well-known/jwks.json', cooldown: '30s' } })
// @ts-expect-error secret, keys and jwks are alternatives
void app.register(jwtAuth, { secret: 'x'.repeat(32), keys: [{ kid: 'a', alg: 'ES256', key: privateKeyPem }] })
// @ts-expect-error algorithm goes with secret; each key names its own alg
void app.register(jwtAuth, { algorithm: 'HS256', keys: [{ kid: 'a', alg: 'ES256', key: privateKeyPem }] })
// @ts-expect-error ES257 is no algorithm
void app.register(jwtAuth, { keys: [{ kid: 'a', alg: 'ES257', key: privateKeyPem }] })
// @ts-expect-error durations are numbers of seconds or strings with a unit
void app.register(jwtAuth, { secret: 'x'.repeat(32), accessToken: { expiresIn: '15x' } })
// @ts-expect-error only HMAC algorithms take a secret
void app.register(jwtAuth, { secret: 'x'.repeat(32), algorithm: 'RS256' })
// @ts-expect-error SameSite values are lower case words
void app.register(jwtAuth, { secret: 'x'.repeat(32), cookies: { sameSite: 'Lax' } })
// DPoP (RFC 9449): the option's fields, asymmetric algorithms only.
void app.register(jwtAuth, { secret: 'x'.repeat(32), dpop: true })
void app.register(jwtAuth, { secret: 'x'.repeat(32), dpop: { required: true, algorithms: ['ES256', 'Ed25519'], nonce: { lifetime: '5m' }, proofMaxAge: '30s' } })
// @ts-expect-error a DPoP proof is never signed with a shared secret
void app.register(jwtAuth, { secret: 'x'.repeat(32), dpop: { algorithms: ['HS256'] } })
// @ts-expect-error required is a boolean
void app.register(jwtAuth, { secret: 'x'.repeat(32), dpop: { required: 'yes' } })
app.get('/bound', { preHandler: app.authenticate }, async request => {
  expectType<string | undefined>(request.user.cnf?.jkt)
})

app.post('/login', async (request, reply) => {
  const body = await reply.issueTokens({ sub: 'alice', roles: ['user'], tenant: 'acme' })
  expectTrue<Equal<typeof body, TokenResponse>>()
  expectType<'Bearer' | 'DPoP'>(body.token_type)
  // @ts-expect-error the app's declared claims are required
  await reply.issueTokens({ sub: 'alice' })
  // @ts-expect-error roles are strings
  await reply.issueTokens({ sub: 'alice', tenant: 'acme', roles: [1] })
  // @ts-expect-error roles are the declared ones
  await reply.issueTokens({ sub: 'alice', tenant: 'acme', roles: ['root'] })
  // @ts-expect-error tenant is a string
  await reply.issueTokens({ sub: 'alice', tenant: 42 })
  // @ts-expect-error sub is required
  await reply.issueTokens({ tenant: 'acme' })
  // @ts-expect-error undeclared claims are refused
  await reply.issueTokens({ sub: 'alice', tenant: 'acme', hairColor: 'red' })
  // ... in an object literal only: an object built elsewhere may carry them (no excess-property check).
  const withUndeclared = { sub: 'alice', tenant: 'acme', hairColor: 'red' }
  await reply.issueTokens(withUndeclared)
  return { message: 'Logged in!', ...body }
})

// Claims the plugin sets are refused, also in an object built elsewhere (no excess-property check).
app.post('/switch-device', { preHandler: app.authenticate }, async (request, reply) => {
  const row = { sub: 'alice', tenant: 'acme', exp: 1_900_000_000 }
  // @ts-expect-error exp is set by the plugin
  await reply.issueTokens(row)
  // @ts-expect-error a verified payload carries iss, exp, jti, sid...: pick the app's claims from it
  await reply.issueTokens(request.user)
  const { sub, tenant, roles } = request.user
  return await reply.issueTokens(roles === undefined ? { sub, tenant } : { sub, tenant, roles })
})

app.get('/profiles', { preHandler: app.authenticate }, async (request) => {
  expectTrue<Equal<typeof request.user, AccessTokenPayload>>()
  // Exact equality: an `any` (or a wider type) would fail, where expectType<string>() would pass.
  expectTrue<Equal<typeof request.user.sub, string>>()
  expectTrue<Equal<typeof request.user.sid, string>>()
  expectTrue<Equal<typeof request.user.tenant, string>>()
  expectTrue<Equal<typeof request.user.roles, Array<'admin' | 'user'> | undefined>>()
  expectTrue<Equal<typeof request.user.scope, string | undefined>>()
  expectTrue<Equal<typeof request.user.exp, number>>()
  // @ts-expect-error undeclared claims are not there
  void request.user.hairColor
  return request.user
})

// request.user keeps its type in routes of encapsulated child plugins, with route generics, and
// after app.authenticate as an onRequest hook.
const accounts: FastifyPluginAsync<{ realm: string }> = async child => {
  child.addHook('onRequest', child.authenticate)
  child.get<{ Params: { id: string } }>('/:id', async request => {
    expectTrue<Equal<typeof request.user, AccessTokenPayload>>()
    return { id: request.params.id, tenant: request.user.tenant }
  })
  await child.register(async grandchild => {
    grandchild.get('/deep', { preHandler: grandchild.requireRoles('admin') }, async request => request.user.tenant)
  })
}
void app.register(accounts, { prefix: '/accounts', realm: 'accounts' })

// Guards: at least one of the declared roles; scopes are any strings.
app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin'), app.requireScopes('a', 'b')] }, async () => 'ok')
app.get('/staff', { preHandler: [app.authenticate, app.requireRoles('admin', 'user')] }, async () => 'ok')
expectType<AuthenticateHook>(app.requireRoles('user'))
expectType<AuthenticateHook>(app.requireScopes('reports:read'))
// @ts-expect-error 'root' is not a declared role
app.requireRoles('root')
// @ts-expect-error roles are strings
app.requireRoles(['admin'])
// @ts-expect-error scopes are strings (space-delimited in the claim, one per argument here)
app.requireScopes(1)

async function api (): Promise<void> {
  expectTrue<Equal<Awaited<ReturnType<typeof app.jwtAuth.listSessions>>, SessionInfo[]>>()
  expectType<boolean>(await app.jwtAuth.revokeSession('sid'))
  expectType<number>(await app.jwtAuth.revokeUser('alice'))
  expectTrue<Equal<Awaited<ReturnType<typeof app.jwtAuth.updateClaims>>, number>>()
  await app.jwtAuth.updateClaims('alice', { roles: ['user'], tenant: 'acme' })
  // @ts-expect-error declared roles narrow updateClaims as they narrow issueTokens
  await app.jwtAuth.updateClaims('alice', { roles: ['root'] })
  // @ts-expect-error reserved claims are the plugin's
  await app.jwtAuth.updateClaims('alice', { exp: 1 })
  expectType<boolean>(await app.jwtAuth.revokeToken('token'))
  expectType<AccessTokenPayload>(await app.jwtAuth.verifyAccessToken('token'))
  expectType<Store | null>(app.jwtAuth.store)
  // @ts-expect-error the store is read-only
  app.jwtAuth.store = null
  // @ts-expect-error session ids are strings
  await app.jwtAuth.revokeSession(42)
  // @ts-expect-error verifyAccessToken takes the token string
  await app.jwtAuth.verifyAccessToken({ sub: 'alice' })
  // @ts-expect-error a payload without exp does not say how long to keep the denylist entry
  await app.jwtAuth.revokeToken({ sub: 'alice', jti: 'j' })
}
void api

// Revoking the request's own token with the verified payload.
app.post('/logout-here', { preHandler: app.authenticate }, async request => {
  expectType<boolean>(await app.jwtAuth.revokeToken(request.user))
  expectType<boolean>(await app.jwtAuth.revokeSession(request.user.sid))
})

// Events: the handler's argument is typed.
void app.register(jwtAuth, {
  secret: 'x'.repeat(32),
  onEvent (event) {
    expectTrue<Equal<typeof event, AuthEvent>>()
    expectTrue<Equal<AuthEventType, 'issued' | 'refreshed' | 'reuse-detected' | 'token-revoked' | 'session-revoked' | 'user-revoked'>>()
    expectType<string>(event.sub)
    expectType<number>(event.time)
    expectType<string | undefined>(event.sessionId)
    expectType<string | undefined>(event.reason)
    // @ts-expect-error no such event type
    if (event.type === 'logged-in') return
    // @ts-expect-error events carry no token material
    void event.token
  }
})
// @ts-expect-error onEvent takes one event
void app.register(jwtAuth, { secret: 'x'.repeat(32), onEvent: (event: AuthEvent, extra: string) => { void event; void extra } })

// OpenAPI: the opt-in scheme name, and the component to give @fastify/swagger under it.
void app.register(jwtAuth, { secret: 'x'.repeat(32), openapi: true })
void app.register(jwtAuth, { secret: 'x'.repeat(32), openapi: { securityScheme: 'jwt' } })
// @ts-expect-error the scheme name is a string
void app.register(jwtAuth, { secret: 'x'.repeat(32), openapi: { securityScheme: 1 } })
expectType<'http'>(openapiSecuritySchemesNamed('jwt').jwt.type)
expectType<'bearer'>(openapiSecuritySchemes.bearerAuth.scheme)

// The decorator types can be used to write wrappers.
async function customAuth (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await app.authenticate(request, reply)
}
void customAuth

// A third-party store implements the interface.
class CustomStore implements Store {
  async createSession (input: CreateSessionInput): Promise<CreateSessionResult> {
    return { session: { id: input.sessionId, sub: input.sub, createdAt: 0, lastUsedAt: 0, expiresAt: 0, claims: input.claims }, evicted: [] }
  }

  async rotateRefreshToken (_input: RotateInput): Promise<RotateResult> { return { status: 'invalid' } }
  async isRevoked (): Promise<boolean> { return false }
  async revokeToken (): Promise<void> {}
  async revokeSession (): Promise<SessionInfo | null> { return null }
  async revokeUser (): Promise<number> { return 0 }
  async listSessions (): Promise<SessionInfo[]> { return [] }
  async updateClaims (): Promise<number> { return 0 }
}
const options: JwtAuthOptions = { secret: 'x'.repeat(32), store: new CustomStore() }
void options

// A store whose methods do not keep the contract does not type-check.
class WrongStore implements Store {
  async createSession (input: CreateSessionInput): Promise<CreateSessionResult> { return await new CustomStore().createSession(input) }
  // @ts-expect-error rotation answers one of the four statuses
  async rotateRefreshToken (): Promise<{ status: 'ok' }> { return { status: 'ok' } }
  // @ts-expect-error isRevoked resolves to a boolean
  async isRevoked (): Promise<string> { return 'no' }
  async revokeToken (): Promise<void> {}
  async revokeSession (): Promise<SessionInfo | null> { return null }
  // @ts-expect-error revokeUser takes the sub string
  async revokeUser (sub: number): Promise<number> { return sub }
  async listSessions (): Promise<SessionInfo[]> { return [] }
  // @ts-expect-error updateClaims takes the claims as an object
  async updateClaims (_sub: string, claims: string): Promise<number> { return claims.length }
}
void WrongStore
// @ts-expect-error a store has every method of the interface
class HalfStore implements Store { async isRevoked (): Promise<boolean> { return false } }
void HalfStore
// @ts-expect-error the store option takes a Store
void app.register(jwtAuth, { secret: 'x'.repeat(32), store: { isRevoked: async () => false } })

// A cookie-only login: the body keeps no token text, and the types say so.
app.post('/login-cookies', async (_request, reply) => {
  const body = await reply.issueTokens({ sub: 'alice', tenant: 'acme' }, { cookiesOnly: true })
  expectTrue<Equal<typeof body, CookieTokenResponse>>()
  // @ts-expect-error no access_token in a cookie-only answer
  void body.access_token
  const full = await reply.issueTokens({ sub: 'alice', tenant: 'acme' }, { cookiesOnly: false })
  expectTrue<Equal<typeof full, TokenResponse>>()
  return body
})
