// The plugin body: validate options, register @fastify/cookie and @fastify/jwt, decorate.
import fastifyCookie from '@fastify/cookie'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { createApi } from './api.js'
import { createAuthenticate } from './authenticate.js'
import { retryAfterOnOutage } from './challenge.js'
import { createEmitter } from './context.js'
import type { AuthContext } from './context.js'
import { createRequireRoles, createRequireScopes } from './guards.js'
import { issueTokens } from './issue.js'
import { normaliseOptions } from './options.js'
import { createRoutes } from './routes.js'
import { createAccessTokens, fastifyJwtOptions } from './tokens/access.js'
import type { IssueClaims, JwtAuthOptions, TokenResponse } from './types.js'

export async function jwtAuthPlugin (fastify: FastifyInstance, options: JwtAuthOptions): Promise<void> {
  const config = normaliseOptions(options)
  if (config.cookies !== null && !fastify.hasReplyDecorator('setCookie')) {
    await fastify.register(fastifyCookie)
  }
  await fastify.register(fastifyJwt, fastifyJwtOptions(config))

  const context: AuthContext = { config, access: createAccessTokens(fastify), emit: createEmitter(config) }
  const authenticate = createAuthenticate(context)
  const api = createApi(context, fastify.log)

  fastify.decorate('authenticate', authenticate)
  fastify.decorate('requireRoles', createRequireRoles(config.realm))
  fastify.decorate('requireScopes', createRequireScopes(config.realm))
  fastify.decorate('jwtAuth', api)
  fastify.decorateReply('issueTokens', function (this: FastifyReply, claims: IssueClaims): Promise<TokenResponse> {
    return issueTokens(context, this.request, this, claims)
  })

  fastify.addHook('onError', retryAfterOnOutage)

  if (config.routes !== null) {
    await fastify.register(createRoutes(context, api, authenticate), { prefix: config.routes.prefix })
  }
  const store = config.store
  if (typeof store.close === 'function') fastify.addHook('onClose', async () => { await store.close?.() })
}
