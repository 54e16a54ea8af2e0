// Access tokens: JWTs with `typ: at+jwt` (RFC 9068), signed and verified through a namespaced
// @fastify/jwt registration whose fast-jwt signer and verifier are built once, with the
// algorithm pinned and iss, aud, typ and the registered claims checked on every verify.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { FastifyJWTOptions } from '@fastify/jwt'
import { FST_JWT_AUTH_TOKEN_EXPIRED, FST_JWT_AUTH_TOKEN_INVALID } from '../errors.js'
import type { Config } from '../options.js'
import type { AccessTokenPayload, IssueClaims } from '../types.js'

/** The @fastify/jwt namespace this plugin registers; the app's own @fastify/jwt is untouched. */
export const jwtNamespace = 'fastifyJwtAuth'
export const accessTokenType = 'at+jwt'
const requiredClaims = ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid']

export function fastifyJwtOptions (config: Readonly<Config>): FastifyJWTOptions {
  return {
    secret: config.secret,
    namespace: jwtNamespace,
    sign: {
      algorithm: config.algorithm,
      iss: config.issuer,
      aud: config.audience,
      expiresIn: config.accessTtl / 1000, // @fastify/jwt reads numbers as seconds
      typ: accessTokenType
    },
    verify: {
      algorithms: [config.algorithm],
      allowedIss: config.issuer,
      allowedAud: config.audience,
      checkTyp: accessTokenType,
      requiredClaims,
      clockTolerance: config.clockTolerance
    }
  } as FastifyJWTOptions
}

export interface AccessTokens {
  sign (claims: IssueClaims, sessionId: string): string
  /** Throws FST_JWT_AUTH_TOKEN_EXPIRED or FST_JWT_AUTH_TOKEN_INVALID. */
  verify (token: string): AccessTokenPayload
}

export function createAccessTokens (fastify: FastifyInstance): AccessTokens {
  const jwt = (fastify.jwt as unknown as Record<string, FastifyInstance['jwt']>)[jwtNamespace] as FastifyInstance['jwt']
  return {
    sign (claims, sessionId) {
      return jwt.sign({ ...claims, jti: randomUUID(), sid: sessionId })
    },
    verify (token) {
      let payload: AccessTokenPayload
      try {
        payload = jwt.verify<AccessTokenPayload>(token)
      } catch (error) {
        throw (error as { code?: string }).code === 'FAST_JWT_EXPIRED'
          ? new FST_JWT_AUTH_TOKEN_EXPIRED()
          : new FST_JWT_AUTH_TOKEN_INVALID()
      }
      // Only our signer makes tokens that pass the signature check, but claim types are
      // checked anyway: the revocation lookup keys on them.
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.jti !== 'string') {
        throw new FST_JWT_AUTH_TOKEN_INVALID()
      }
      return payload
    }
  }
}
