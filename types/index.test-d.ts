// Type tests for what users write, against the built package (CommonJS resolution).
// Run by `npm test` through `tsc -p types`; a failing expectation is a compile error.
import Fastify from 'fastify'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { JsonWebKey } from 'node:crypto'
import jwtAuth, { MemoryStore, jwtAuth as named } from 'fastify-jwt-auth'
import type {
  AccessTokenPayload,
  AuthEvent,
  CreateSessionInput,
  CreateSessionResult,
  JwtAuthOptions,
  RotateInput,
  RotateResult,
  SessionInfo,
  Store,
  TokenResponse
} from 'fastify-jwt-auth'
import { expectTrue, expectType } from './expect.js'
import type { Equal } from './expect.js'

// The app declares its own claims once.
declare module 'fastify-jwt-auth' {
  interface FastifyJwtAuthClaims {
    tenant: string
  }
}

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

app.post('/login', async (request, reply) => {
  const body = await reply.issueTokens({ sub: 'alice', roles: ['user'], tenant: 'acme' })
  expectTrue<Equal<typeof body, TokenResponse>>()
  expectType<'Bearer'>(body.token_type)
  // @ts-expect-error the app's declared claims are required
  await reply.issueTokens({ sub: 'alice' })
  // @ts-expect-error roles are strings
  await reply.issueTokens({ sub: 'alice', tenant: 'acme', roles: [1] })
  // @ts-expect-error sub is required
  await reply.issueTokens({ tenant: 'acme' })
  return { message: 'Logged in!', ...body }
})

app.get('/profiles', { preHandler: app.authenticate }, async (request) => {
  expectTrue<Equal<typeof request.user, AccessTokenPayload>>()
  expectType<string>(request.user.sub)
  expectType<string>(request.user.sid)
  expectType<string>(request.user.tenant)
  expectType<string[] | undefined>(request.user.roles)
  expectType<number>(request.user.exp)
  // @ts-expect-error undeclared claims are not there
  void request.user.hairColor
  return request.user
})

app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin'), app.requireScopes('a', 'b')] }, async () => 'ok')

async function api (): Promise<void> {
  expectTrue<Equal<Awaited<ReturnType<typeof app.jwtAuth.listSessions>>, SessionInfo[]>>()
  expectType<boolean>(await app.jwtAuth.revokeSession('sid'))
  expectType<number>(await app.jwtAuth.revokeUser('alice'))
  expectType<boolean>(await app.jwtAuth.revokeToken('token'))
  expectType<AccessTokenPayload>(await app.jwtAuth.verifyAccessToken('token'))
  expectType<Store | null>(app.jwtAuth.store)
}
void api

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
}
const options: JwtAuthOptions = { secret: 'x'.repeat(32), store: new CustomStore() }
void options
