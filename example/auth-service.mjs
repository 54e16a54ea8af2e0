// The auth service of a two-service setup with asymmetric keys: it holds the ES256 private key,
// logs users in, rotates refresh tokens (the built-in /auth routes) and publishes its public key
// at /.well-known/jwks.json. example/resource-service.mjs verifies its tokens with that key only:
// it can check tokens but never mint one. Both share sessions and revocations through Redis.
//
//   npm run build
//   npx fastify-jwt-auth keygen --alg ES256 --format json > signing-key.json
//   REDIS_URL=redis://127.0.0.1:6379 \
//     SIGNING_KEY="$(node -p "require('./signing-key.json').privateKeyPem")" \
//     SIGNING_KID="$(node -p "require('./signing-key.json').kid")" \
//     node example/auth-service.mjs
//
// Environment:
//   PORT, HOST     where to listen (default 3001 on 127.0.0.1)
//   REDIS_URL      required: the resource service reads the same sessions and revocations
//   REDIS_PREFIX   key prefix in Redis (default 'services:'; the same on both services)
//   SIGNING_KEY    the ES256 private key, PKCS#8 PEM (default: a new key per start, see below)
//   SIGNING_KID    its key id, required with SIGNING_KEY
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import createError from '@fastify/error'
import Fastify from 'fastify'
import jwtAuth, { RedisStore } from 'fastify-jwt-auth'

// What both services agree on: the resource service checks `iss` and `aud` against these.
export const ISSUER = 'http://auth.example'
export const AUDIENCE = 'api'

const UnknownUserError = createError('EXAMPLE_UNKNOWN_USER', 'Unknown user', 401)

// The article's users. Login takes a username only: there are no passwords here. A real auth
// service checks credentials before it calls reply.issueTokens().
const users = new Map([
  ['alice', { roles: ['user'] }],
  ['bob', { roles: ['admin'] }]
])

const usernameBody = {
  body: {
    type: 'object',
    required: ['username'],
    additionalProperties: false,
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 64 }
    }
  }
}

/** The signing key from SIGNING_KEY / SIGNING_KID, or a new ES256 pair when SIGNING_KEY is not set. */
function signingKeyFromEnv (env, log) {
  if (env.SIGNING_KEY !== undefined && env.SIGNING_KEY !== '') {
    if (env.SIGNING_KID === undefined || env.SIGNING_KID === '') {
      throw new Error('SIGNING_KID is required with SIGNING_KEY: it names the key in the JWKS and in every token')
    }
    // The plugin checks the key against its alg at registration (FST_JWT_AUTH_INVALID_KEY).
    return { kid: env.SIGNING_KID, alg: 'ES256', key: env.SIGNING_KEY }
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const kid = `dev-${randomBytes(6).toString('base64url')}`
  log.warn({ kid }, 'SIGNING_KEY is not set: using a new ES256 key made at start, so every token dies with this process. Set SIGNING_KEY and SIGNING_KID (npx fastify-jwt-auth keygen --alg ES256 --format json) to keep them.')
  return { kid, alg: 'ES256', key: privateKey }
}

/** Builds the auth service. `logger` is passed to Fastify; `env` defaults to process.env. */
export async function buildAuthService ({ logger = false, env = process.env } = {}) {
  if (env.REDIS_URL === undefined || env.REDIS_URL === '') {
    throw new Error('REDIS_URL is required: the resource service must see the same sessions and revocations as this auth service')
  }
  const app = Fastify({ logger })

  await app.register(jwtAuth, {
    keys: [signingKeyFromEnv(env, app.log)],
    issuer: ISSUER,
    audience: AUDIENCE,
    // The store owns the client it makes from the URL and closes it with the app.
    store: new RedisStore({ url: env.REDIS_URL, prefix: env.REDIS_PREFIX || 'services:' }),
    // No cookies: this is an API for other services and their clients, which send the access
    // token as a Bearer header and the refresh token in the body of POST /auth/refresh.
    cookies: false
    // routes: the built-in /auth/refresh, /auth/logout, ... and the JWKS at /.well-known/jwks.json
  })

  app.post('/login', { schema: usernameBody }, async (request, reply) => {
    const { username } = request.body
    const user = users.get(username)
    if (user === undefined) throw new UnknownUserError()
    const tokens = await reply.issueTokens({ sub: username, roles: user.roles })
    return { message: 'Logged in!', ...tokens }
  })

  // An admin logs a user out everywhere: every session, refresh token and access token of the
  // user, on every service that shares the store.
  app.post('/admin/revoke-user', {
    schema: usernameBody,
    preHandler: [app.authenticate, app.requireRoles('admin')]
  }, async (request) => {
    const { username } = request.body
    const sessions = await app.jwtAuth.revokeUser(username)
    return { username, sessions }
  })

  return app
}

const runDirectly = process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href

if (runDirectly) {
  let app
  try {
    app = await buildAuthService({ logger: true })
  } catch (error) {
    console.error(`auth-service: ${error.message}`)
    process.exit(1)
  }
  const address = await app.listen({
    port: Number(process.env.PORT ?? 3001),
    host: process.env.HOST ?? '127.0.0.1'
  })
  app.log.info(`Auth service at ${address}: POST ${address}/login with {"username":"alice"}; public keys at ${address}/.well-known/jwks.json`)
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
