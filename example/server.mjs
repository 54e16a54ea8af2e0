// The article's app ("Understanding and Creating JWTs"), done with fastify-jwt-auth:
// POST /login sets the JWT cookies and returns the tokens, GET /profiles reads the user with
// the cookie or a Bearer header, and refresh tokens rotate through the built-in /auth routes.
// The API is documented at /docs (@fastify/swagger-ui), its OpenAPI document at /docs/json;
// the page at / (example/public/) runs the same flow in a browser. POST /confirm steps the session
// up (re-enter the username, the article's "password"), and GET /settings needs a login or a
// confirmation at most 5 minutes old (RFC 9470 challenge otherwise).
//
//   npm run build && JWT_SECRET=$(node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))") node example/server.mjs
//
// Environment:
//   PORT, HOST     where to listen (default 3000 on 127.0.0.1)
//   JWT_SECRET     HS256 secret, at least 32 bytes (default: a random one per start)
//   REUSE_GRACE    how long a just-rotated refresh token still gets the same successor
//                  (a duration such as '10s', or seconds; default '10s')
//   NODE_ENV       'production' turns on Secure cookies
//   REDIS_URL      use the RedisStore on this Redis (e.g. redis://127.0.0.1:6379) instead of memory
//   REDIS_PREFIX   key prefix in Redis (default 'example:')
//   REPLICA        with REDIS_URL, '1' keeps an in-process revocation replica: most requests
//                  then need no Redis round trip, revocations elsewhere arrive within 1 s
//   SETTINGS_MAX_AGE  how recent the authentication must be for GET /settings (default '5m')
import { randomBytes } from 'node:crypto'
import { readFileSync, realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import createError from '@fastify/error'
import Fastify from 'fastify'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import jwtAuth, { RedisStore, openapiSecuritySchemes } from 'fastify-jwt-auth'

const UnknownUserError = createError('EXAMPLE_UNKNOWN_USER', 'Unknown user', 401)

// The article's users. As in the article, login takes a username only: there are no
// passwords here. A real app checks credentials (a password hash, a one-time code, ...)
// before it calls reply.issueTokens().
const users = new Map([
  ['alice', { hairColor: 'brown', roles: ['user'] }],
  ['bob', { hairColor: 'black', roles: ['admin'] }]
])

const loginSchema = {
  tags: ['example'],
  summary: 'Log in as one of the example users (no password, as in the article)',
  body: {
    type: 'object',
    required: ['username'],
    additionalProperties: false,
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 64 },
      // Remember-me: false gives browser-session cookies and a session of at most 12 hours.
      remember: { type: 'boolean' }
    }
  }
}

const confirmSchema = {
  tags: ['example'],
  summary: 'Confirm who you are again (the username stands in for a password): steps the session up',
  body: {
    type: 'object',
    required: ['username'],
    additionalProperties: false,
    properties: { username: { type: 'string', minLength: 1, maxLength: 64 } }
  }
}

const WrongConfirmationError = createError('EXAMPLE_WRONG_CONFIRMATION', 'That is not who you are logged in as', 401)

// Read after body parsing (preValidation), before the schema: the username may be anything yet.
const loginRateLimit = {
  max: 20,
  timeWindow: '1 minute',
  hook: 'preValidation',
  // Cut to the schema's 64 characters: a longer one fails validation anyway, and a key stays small.
  keyGenerator: (request) => `login:${request.ip}:${String(request.body?.username).slice(0, 64)}`
}

// The browser page: two static files, read once; no script but its own may run on it.
const pageFiles = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/app.js', 'app.js', 'text/javascript; charset=utf-8']
].map(([url, file, type]) => ({ url, type, content: readFileSync(new URL(`./public/${file}`, import.meta.url)) }))

/** A duration from the environment: digits alone are seconds, anything else goes to the plugin as is. */
function durationFromEnv (value) {
  if (value === undefined || value === '') return undefined
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) : value
}

/**
 * Builds the example app. `logger` is passed to Fastify; `env` defaults to process.env.
 * A JWT_SECRET shorter than 32 bytes makes this reject with the plugin's
 * FST_JWT_AUTH_WEAK_SECRET error.
 */
export async function buildApp ({ logger = false, env = process.env } = {}) {
  // A client sending its request one byte at a time must not hold a connection forever.
  const app = Fastify({ logger, requestTimeout: 30_000, connectionTimeout: 60_000 })

  let secret = env.JWT_SECRET
  if (secret === undefined || secret === '') {
    secret = randomBytes(32)
    app.log.warn('JWT_SECRET is not set: using a random secret, so tokens will not survive a restart. Set JWT_SECRET (at least 32 random bytes) to keep them.')
  }
  // With REDIS_URL every instance shares sessions and revocations; the store owns the client
  // it makes from the URL and closes it with the app. Without it: the embedded MemoryStore.
  let store
  if (env.REDIS_URL !== undefined && env.REDIS_URL !== '') {
    store = new RedisStore({ url: env.REDIS_URL, prefix: env.REDIS_PREFIX || 'example:' })
    app.log.info('using the Redis store from REDIS_URL') // the URL may hold a password: not logged
  }

  // Registered before jwtAuth, so that the plugin's routes are documented too. With the plugin's
  // openapi option below, the routes app.authenticate guards name the bearerAuth scheme given here.
  await app.register(swagger, {
    openapi: {
      info: { title: 'fastify-jwt-auth example', version: '1.0.0' },
      components: { securitySchemes: { ...openapiSecuritySchemes } }
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  // Registered before jwtAuth so that its token endpoints get their limits (20 a minute per
  // session, 1000 per address); global: false limits only the routes that ask, like /login below.
  await app.register(rateLimit, { global: false })

  const reuseGrace = durationFromEnv(env.REUSE_GRACE)
  await app.register(jwtAuth, {
    secret,
    store, // undefined: the embedded MemoryStore
    // A replica needs a store with a revocation feed: RedisStore.
    ...(store !== undefined && env.REPLICA === '1' ? { revocation: { replica: true, maxStaleness: '1s' } } : {}),
    refreshToken: reuseGrace === undefined ? {} : { reuseGrace },
    // Secure cookies are not sent over plain http:// (some clients refuse them even on localhost): on in production only.
    cookies: { secure: env.NODE_ENV === 'production' },
    // Guarded routes name the bearerAuth scheme in the OpenAPI document (/docs).
    openapi: true
    // routes: the built-in /auth/refresh, /auth/logout, /auth/sessions, ... (default prefix /auth)
  })

  // Guessing a password is slowed to 20 tries a minute per address and username: keyed by the
  // address alone, one busy NAT or office proxy would lock all its users out.
  app.post('/login', { schema: loginSchema, config: { rateLimit: loginRateLimit } }, async (request, reply) => {
    const { username, remember = true } = request.body
    const user = users.get(username)
    if (user === undefined) throw new UnknownUserError()
    // Sets the access and refresh cookies, and returns the same tokens for non-browser clients.
    // amr 'pwd': the username is this example's password (RFC 8176).
    const tokens = await reply.issueTokens({ sub: username, roles: user.roles }, remember ? { amr: ['pwd'] } : { amr: ['pwd'], persistent: false, expiresIn: '12h' })
    return { message: 'Logged in!', ...tokens }
  })

  // Step-up: the user proves again who they are (a real app checks the password or a second
  // factor here); auth_time moves to now, in the same session, with a new token pair.
  app.post('/confirm', { preHandler: app.authenticate, schema: confirmSchema, config: { rateLimit: loginRateLimit } }, async (request, reply) => {
    if (request.body.username !== request.user.sub) throw new WrongConfirmationError()
    const tokens = await reply.stepUp({ amr: ['pwd'] })
    return { message: 'Confirmed!', ...tokens }
  })

  const settingsMaxAge = durationFromEnv(env.SETTINGS_MAX_AGE) ?? '5m'
  app.get('/settings', { preHandler: [app.authenticate, app.requireAuth({ maxAge: settingsMaxAge })], schema: { tags: ['example'], summary: 'Settings: needs a recent login or confirmation' } }, async (request) => {
    return { username: request.user.sub, authenticatedAt: new Date(request.user.auth_time * 1000).toISOString() }
  })

  for (const { url, type, content } of pageFiles) {
    app.get(url, { schema: { hide: true } }, async (_request, reply) => {
      return reply.type(type).header('content-security-policy', "default-src 'self'; style-src 'unsafe-inline'").send(content)
    })
  }

  app.get('/profiles', { preHandler: app.authenticate, schema: { tags: ['example'], summary: "The caller's profile" } }, async (request) => {
    const username = request.user.sub
    const user = users.get(username)
    return { username, hairColor: user?.hairColor ?? null }
  })

  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')], schema: { tags: ['example'], summary: 'Admins only' } }, async (request) => {
    return { message: 'Welcome, admin', username: request.user.sub }
  })

  return app
}

/** Listens on PORT and HOST (default 127.0.0.1:3000) and closes the app on SIGINT or SIGTERM. */
export async function serve (app, env = process.env) {
  const address = await app.listen({ port: Number(env.PORT ?? 3000), host: env.HOST ?? '127.0.0.1' })
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      app.log.info(`${signal} received, closing`)
      app.close().catch(error => {
        app.log.error(error, 'close failed')
        process.exitCode = 1
      })
    })
  }
  return address
}

const runDirectly = process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href

if (runDirectly) {
  const app = await buildApp({ logger: true })
  const address = await serve(app)
  app.log.info(`Example app at ${address}: open it in a browser, or POST ${address}/login with {"username":"alice"}, then GET ${address}/profiles; API docs at ${address}/docs`)
}
