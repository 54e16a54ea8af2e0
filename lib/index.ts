// fastify-jwt-auth: drop-in JWT authentication for Fastify 5. Wiring and exports only.
// The reference keeps @fastify/jwt's types (request.user) in the emitted declarations.
/// <reference types="@fastify/jwt" preserve="true" />
import fp from 'fastify-plugin'
import { jwtAuthPlugin } from './plugin.js'
import type { AuthenticateHook, GuardFactory, IssueTokens, JwtAuthApi, AccessTokenPayload, RoleGuardFactory } from './types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: verifies the access token (Bearer header or cookie) and sets request.user. */
    authenticate: AuthenticateHook
    /** preHandler factory: the user needs at least one of the roles. */
    requireRoles: RoleGuardFactory
    /** preHandler factory: the user needs every one of the scopes. */
    requireScopes: GuardFactory
    jwtAuth: JwtAuthApi
  }
  interface FastifyReply {
    /** Starts a session and resolves to the RFC 6749 §5.1 token response; sets cookies if enabled. */
    issueTokens: IssueTokens
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    user: AccessTokenPayload
  }
}

export const jwtAuth = fp(jwtAuthPlugin, { fastify: '5.x', name: 'fastify-jwt-auth' })
export default jwtAuth

export { MemoryStore } from './store/memory.js'
export type { MemoryStoreOptions } from './store/memory.js'
export { RedisStore } from './store/redis.js'
export type { RedisStoreOptions, ReplicaAcknowledgement } from './store/redis.js'
export type { SelfCheckFinding } from './store/redis-self-check.js'
export type { RedisClientOptions, RedisScriptDefinition, RedisStoreClient } from './store/redis-client.js'
export { noticeCoverage, reuseHistory } from './store/store.js'
export type {
  CreateSessionInput,
  CreateSessionResult,
  RevocationBatch,
  RevocationPartitionRead,
  RevocationFeed,
  RotateInput,
  RotateResult,
  SessionInfo,
  SessionRecord,
  Store,
  StoreFinding,
  StoreLogger
} from './store/store.js'
export type { Duration } from './duration.js'
export type * from './types.js'
export * as errors from './errors.js'
export { openapiSecuritySchemes, openapiSecuritySchemesNamed } from './http/openapi.js'
export { diagnosticsChannels } from './session/diagnostics.js'
export type { AuthRefusal } from './session/diagnostics.js'
