// The plugin body: validate options, register @fastify/cookie and @fastify/jwt, decorate.
import fastifyCookie from '@fastify/cookie'
import fastifyJwt from '@fastify/jwt'
import type { FastifyJWTOptions } from '@fastify/jwt'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { createApi } from './session/api.js'
import { createAuthenticate, createRequestVerifier } from './http/authenticate.js'
import { retryAfterOnOutage } from './http/challenge.js'
import { createEmitter } from './context.js'
import { FST_JWT_AUTH_ALREADY_REGISTERED, FST_JWT_AUTH_STORE_SELF_CHECK } from './errors.js'
import type { AuthContext } from './context.js'
import { createRequireRoles, createRequireScopes } from './http/guards.js'
import { issueTokens } from './session/issue.js'
import { declareBearerSecurity } from './http/openapi.js'
import { normaliseOptions } from './options.js'
import { RevocationReplica } from './session/replica.js'
import type { Config } from './options.js'
import { noticeCoverage } from './store/store.js'
import type { Store, StoreFinding } from './store/store.js'
import { jwksRouteOptions } from './http/routes/schemas.js'
import { createRoutes } from './http/routes/index.js'
import { accessTokenType, createAccessTokens } from './tokens/access.js'
import type { AccessTokenPayload, CookieTokenResponse, IssueClaims, IssueTokensOptions, JwtAuthOptions, TokenResponse } from './types.js'

/** The @fastify/jwt namespace this plugin registers; the app's own @fastify/jwt is untouched. */
const jwtNamespace = 'fastifyJwtAuth'

/**
 * @fastify/jwt under our namespace, with the current key, for `request.user` and for apps that
 * want `app.jwt.fastifyJwtAuth.decode()`. The plugin itself verifies through its key ring.
 */
function fastifyJwtOptions (config: Readonly<Config>): FastifyJWTOptions | null {
  const key = config.signingKey ?? config.keys[0]
  if (key === undefined) return null // remote JWKS: no static key to give it
  const secret = key.signingKey === key.verificationKey
    ? key.verificationKey
    : { public: key.verificationKey, ...(key.signingKey === undefined ? {} : { private: key.signingKey }) }
  return {
    secret,
    namespace: jwtNamespace,
    sign: { algorithm: key.alg, iss: config.issuer, aud: config.audience, typ: accessTokenType, ...(key.kid === undefined ? {} : { kid: key.kid }) },
    verify: { algorithms: [key.alg], allowedIss: config.issuer, allowedAud: config.audience, checkTyp: accessTokenType }
  } as FastifyJWTOptions
}

/**
 * Tells the store the access lifetime and, with `revocation.replica`, makes the replica, which
 * starts reading when the app is ready (a registration that fails later leaves nothing running).
 */
function createReplica (config: Readonly<Config>, fastify: FastifyInstance): RevocationReplica | null {
  const store = config.store
  // Notices must outlive every access token issued before them, clock tolerance included.
  const lifetime = config.accessTtl + config.clockTolerance
  store?.useAccessLifetime?.(lifetime)
  store?.useLogger?.(fastify.log)
  if (config.replica === null) return null
  const feed = (store as Required<Store>).openRevocationFeed()
  const replica = new RevocationReplica(feed, {
    maxStaleness: config.replica.maxStaleness, watchFor: noticeCoverage(lifetime), clockTolerance: config.clockTolerance
  }, fastify.log)
  fastify.addHook('onReady', async () => { await replica.start() })
  fastify.addHook('onClose', async () => { await replica.close() })
  return replica
}

/**
 * The store's start-up probe: by default it never blocks start (an app whose store is down still
 * serves what needs no store) and each problem is a warning; a store may ask to fail the start.
 */
function probeOnReady (fastify: FastifyInstance, store: Store): void {
  if (store.probeFailsStart === true) {
    fastify.addHook('onReady', async function probeStore () {
      let findings: StoreFinding[]
      try {
        findings = await store.probe?.() ?? []
      } catch (error) {
        throw new FST_JWT_AUTH_STORE_SELF_CHECK((error as Error)?.message, { cause: error })
      }
      if (findings.length > 0) throw new FST_JWT_AUTH_STORE_SELF_CHECK(findings.map(finding => `${finding.message}. Fix: ${finding.fix}`).join('; '))
    })
    return
  }
  fastify.addHook('onReady', function probeStore (done) {
    store.probe?.().then(findings => {
      for (const { check, message, fix } of findings ?? []) fastify.log.warn({ check, fix }, `fastify-jwt-auth store self-check: ${message}`)
    }, (error: unknown) => { fastify.log.warn({ error: (error as Error)?.message }, 'fastify-jwt-auth: the store does not answer') })
    done()
  })
}

export async function jwtAuthPlugin (fastify: FastifyInstance, options: JwtAuthOptions): Promise<void> {
  // A second registration would fail inside @fastify/jwt with a message that names neither.
  if (fastify.hasDecorator('jwtAuth')) throw new FST_JWT_AUTH_ALREADY_REGISTERED()
  const config = normaliseOptions(options)
  if (config.cookies !== null && !fastify.hasReplyDecorator('setCookie')) {
    await fastify.register(fastifyCookie)
  }
  const jwtOptions = fastifyJwtOptions(config)
  if (jwtOptions !== null) await fastify.register(fastifyJwt, jwtOptions)
  else if (!fastify.hasRequestDecorator('user')) fastify.decorateRequest('user', null as unknown as AccessTokenPayload)

  const access = createAccessTokens(config, fastify.log)
  await access.load()
  const replica = createReplica(config, fastify)
  const context: AuthContext = { config, access, replica, emit: createEmitter(config) }
  const verifyRequest = createRequestVerifier(context)
  const authenticate = createAuthenticate(context, verifyRequest)
  const api = createApi(context, fastify.log)

  fastify.decorate('authenticate', authenticate)
  fastify.decorate('requireRoles', createRequireRoles(config.realm, config.dpop))
  fastify.decorate('requireScopes', createRequireScopes(config.realm, config.dpop))
  fastify.decorate('jwtAuth', api)
  // Verify-only services (no signing key) issue nothing.
  if (config.signingKey !== null) {
    fastify.decorateReply('issueTokens', function (this: FastifyReply, claims: IssueClaims, options?: IssueTokensOptions): Promise<TokenResponse | CookieTokenResponse> {
      return issueTokens(context, this.request, this, claims, options)
    })
  }
  fastify.addHook('onError', retryAfterOnOutage)
  // With the openapi option, routes guarded by app.authenticate name the bearer scheme for @fastify/swagger.
  if (config.openapiSecurityScheme !== null) fastify.addHook('onRoute', declareBearerSecurity(authenticate, config.openapiSecurityScheme))

  if (config.routes !== null) {
    await fastify.register(createRoutes(context, authenticate, verifyRequest), { prefix: config.routes.prefix })
    const jwksPath = config.routes.jwks
    if (jwksPath !== null) {
      const body = JSON.stringify({ keys: access.publicJwks })
      // Public keys only; caches may keep them for five minutes (a rotation adds keys ahead).
      fastify.get(jwksPath, jwksRouteOptions, async (_request, reply) => {
        return await reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(body)
      })
    }
  }
  const store = config.store
  if (store !== null && typeof store.probe === 'function') probeOnReady(fastify, store)
  if (store !== null && typeof store.close === 'function') fastify.addHook('onClose', async () => { await store.close?.() })
}
