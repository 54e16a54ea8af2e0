// The resource service of a two-service setup with asymmetric keys: verify-only. It holds no
// key; it fetches the auth service's public keys from its JWKS URL, so it can check tokens but
// never mint one. With the auth service's Redis store (same Redis, same prefix) a logout or a
// revocation at the auth service holds here on the next request.
//
//   npm run build
//   REDIS_URL=redis://127.0.0.1:6379 node example/resource-service.mjs
//
// It starts even if the auth service is not up yet: the failed JWKS fetch is logged, and the
// JWKS is fetched again when a token names a kid it does not know.
//
// Environment:
//   PORT, HOST       where to listen (default 3002 on 127.0.0.1)
//   AUTH_JWKS_URL    the auth service's JWKS (default http://127.0.0.1:3001/.well-known/jwks.json)
//   REDIS_URL        required: the auth service's Redis
//   REDIS_PREFIX     key prefix in Redis (default 'services:'; the same as the auth service's)
//   JWKS_COOLDOWN    least time between two JWKS fetches for an unknown kid (a duration such
//                    as '30s', or seconds; default: the plugin's '30s')
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import jwtAuth, { RedisStore } from 'fastify-jwt-auth'

// The auth service's constants (example/auth-service.mjs): tokens for another issuer or
// audience are refused.
const ISSUER = 'http://auth.example'
const AUDIENCE = 'api'

/** A duration from the environment: digits alone are seconds, anything else goes to the plugin as is. */
function durationFromEnv (value) {
  if (value === undefined || value === '') return undefined
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) : value
}

const hairColors = new Map([['alice', 'brown'], ['bob', 'black']])

/** Builds the resource service. `logger` is passed to Fastify; `env` defaults to process.env. */
export async function buildResourceService ({ logger = false, env = process.env } = {}) {
  if (env.REDIS_URL === undefined || env.REDIS_URL === '') {
    throw new Error('REDIS_URL is required: set it to the auth service\'s Redis, so that its logouts and revocations hold here')
  }
  const app = Fastify({ logger })

  const cooldown = durationFromEnv(env.JWKS_COOLDOWN)
  await app.register(jwtAuth, {
    jwks: {
      url: env.AUTH_JWKS_URL || 'http://127.0.0.1:3001/.well-known/jwks.json',
      ...(cooldown === undefined ? {} : { cooldown })
    },
    issuer: ISSUER,
    audience: AUDIENCE,
    store: new RedisStore({ url: env.REDIS_URL, prefix: env.REDIS_PREFIX || 'services:' }),
    cookies: false // clients send the auth service's access token as a Bearer header
  })

  app.get('/profiles', { preHandler: app.authenticate }, async (request) => {
    const username = request.user.sub
    return { username, hairColor: hairColors.get(username) ?? null }
  })

  app.get('/reports', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async (request) => {
    return { reports: ['sales', 'signups'], username: request.user.sub }
  })

  return app
}

const runDirectly = process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href

if (runDirectly) {
  let app
  try {
    app = await buildResourceService({ logger: true })
  } catch (error) {
    console.error(`resource-service: ${error.message}`)
    process.exit(1)
  }
  const address = await app.listen({
    port: Number(process.env.PORT ?? 3002),
    host: process.env.HOST ?? '127.0.0.1'
  })
  app.log.info(`Resource service at ${address}: GET ${address}/profiles and ${address}/reports with an access token of the auth service`)
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      app.log.info(`${signal} received, closing`)
      app.close().catch(error => {
        app.log.error(error, 'close failed')
        process.exitCode = 1
      })
    })
  }
}
