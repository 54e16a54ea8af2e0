import t from 'tap'
import Fastify from 'fastify'
import jwtAuth, { MemoryStore } from '../lib/index.js'
import { parseDuration } from '../lib/duration.js'
import { randomSecret, registrationError, secret } from './helpers.js'

t.test('registration refuses bad options with a coded error', async t => {
  const cases: Array<[string, unknown, string]> = [
    ['missing secret', {}, 'FST_JWT_AUTH_MISSING_SECRET'],
    ['empty secret', { secret: '' }, 'FST_JWT_AUTH_MISSING_SECRET'],
    ['secret under 32 bytes', { secret: 'short-secret' }, 'FST_JWT_AUTH_WEAK_SECRET'],
    ['31-byte Buffer secret', { secret: Buffer.alloc(31, 7) }, 'FST_JWT_AUTH_WEAK_SECRET'],
    ['secret of the wrong type', { secret: 12345 }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['unknown algorithm', { secret, algorithm: 'none' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['asymmetric algorithm with a secret', { secret, algorithm: 'RS256' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['empty issuer', { secret, issuer: '' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['audience not a string', { secret, audience: 42 }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['malformed duration', { secret, accessToken: { expiresIn: '15x' } }, 'FST_JWT_AUTH_INVALID_DURATION'],
    ['unitless duration string', { secret, accessToken: { expiresIn: '900' } }, 'FST_JWT_AUTH_INVALID_DURATION'],
    ['zero lifetime', { secret, refreshToken: { expiresIn: 0 } }, 'FST_JWT_AUTH_INVALID_DURATION'],
    ['negative lifetime', { secret, accessToken: { expiresIn: -5 } }, 'FST_JWT_AUTH_INVALID_DURATION'],
    ['idle longer than absolute', { secret, refreshToken: { expiresIn: '1d', idleTimeout: '2d' } }, 'FST_JWT_AUTH_INVALID_LIFETIME'],
    ['grace over 60 s', { secret, refreshToken: { reuseGrace: '61s' } }, 'FST_JWT_AUTH_INVALID_LIFETIME'],
    ['access longer than the session', { secret, accessToken: { expiresIn: '2d' }, refreshToken: { expiresIn: '1d' } }, 'FST_JWT_AUTH_INVALID_LIFETIME'],
    ['prefix without a leading slash', { secret, routes: { prefix: 'auth' } }, 'FST_JWT_AUTH_INVALID_PREFIX'],
    ['prefix with a trailing slash', { secret, routes: { prefix: '/auth/' } }, 'FST_JWT_AUTH_INVALID_PREFIX'],
    ['routes of the wrong type', { secret, routes: 'yes' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['zero sessions per user', { secret, maxSessionsPerUser: 0 }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['fractional sessions per user', { secret, maxSessionsPerUser: 1.5 }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['store missing a method', { secret, store: { createSession () {} } }, 'FST_JWT_AUTH_INVALID_STORE'],
    ['store not an object', { secret, store: 'redis' }, 'FST_JWT_AUTH_INVALID_STORE'],
    ['onEvent not a function', { secret, onEvent: 'log' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['cookies of the wrong type', { secret, cookies: 'yes' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['unknown SameSite', { secret, cookies: { sameSite: 'loose' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['SameSite none without Secure', { secret, cookies: { sameSite: 'none', secure: false } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['invalid cookie name', { secret, cookies: { accessName: 'a b' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['same name for both cookies', { secret, cookies: { accessName: 'tok', refreshName: 'tok' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['allowedOrigins not an array', { secret, cookies: { allowedOrigins: 'https://a.example' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['empty cookie domain', { secret, cookies: { domain: '' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['originCheck not a boolean', { secret, cookies: { originCheck: 0 } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['secure not a boolean', { secret, cookies: { secure: 'false' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['csrf not a boolean', { secret, cookies: { csrf: 1 } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['a JWKS URL over plain HTTP to another host', { jwks: { url: 'http://auth.example.com/.well-known/jwks.json' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['openapi neither a boolean nor an object', { secret, openapi: 'bearerAuth' }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['openapi null', { secret, openapi: null }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['empty OpenAPI scheme name', { secret, openapi: { securityScheme: '' } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['OpenAPI scheme name not a string', { secret, openapi: { securityScheme: 42 } }, 'FST_JWT_AUTH_INVALID_OPTION'],
    ['OpenAPI scheme name OpenAPI does not allow', { secret, openapi: { securityScheme: 'bearer auth' } }, 'FST_JWT_AUTH_INVALID_OPTION']
  ]
  for (const [name, options, code] of cases) {
    const error = await registrationError(options)
    t.equal(error.code, code, name)
  }
})

t.test('guessable secrets are refused, however long, with how to make a good one', async t => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a repeated character', 'x'.repeat(64), /distinct/],
    ['a repeated short pattern', 'abcabcabcabcabcabcabcabcabcabcabcabc', /distinct/],
    ['a Buffer of one byte value', Buffer.alloc(64, 7), /distinct/],
    ['dictionary words', 'my-super-secret-jwt-key-for-production!', /common words/],
    ['the jwt.io default', 'your-256-bit-secret-your-256-bit-secret', /common words/],
    ['password and digits', 'Password1234567890Password1234567890', /common words/],
    ['a guessable HS256 key in keys', undefined, /key "h"/]
  ]
  for (const [name, weak, reason] of cases) {
    const options = weak === undefined
      ? { keys: [{ kid: 'h', alg: 'HS256', key: 'changeme-changeme-changeme-changeme' }] }
      : { secret: weak }
    const error = await registrationError(options)
    t.equal(error.code, 'FST_JWT_AUTH_GUESSABLE_SECRET', name)
    t.match(error.message, reason, `${name}: says why`)
    t.match(error.message, /randomBytes|keygen/, `${name}: says how to make one`)
    if (typeof weak === 'string') t.notMatch(error.message, weak, `${name}: without echoing it`)
  }
  for (const good of [randomSecret(32), randomSecret(32).toString('hex'), randomSecret(32).toString('base64url'), secret]) {
    const app = Fastify()
    await app.register(jwtAuth, { secret: good })
    await app.ready()
    t.pass('random secrets (raw, hex, base64url) are accepted')
    await app.close()
  }
})

t.test('registration errors never echo the secret', async t => {
  const weak = 'hunter2-is-my-password'
  const error = await registrationError({ secret: weak })
  t.equal(error.code, 'FST_JWT_AUTH_WEAK_SECRET')
  t.notMatch(error.message, weak)
  t.match(error.message, /randomBytes/, 'says how to make a good one')
})

t.test('durations accept ms-style strings and seconds', async t => {
  t.equal(parseDuration('15m', 'x'), 900_000)
  t.equal(parseDuration('500ms', 'x'), 500)
  t.equal(parseDuration('1.5h', 'x'), 5_400_000)
  t.equal(parseDuration('2w', 'x'), 1_209_600_000)
  t.equal(parseDuration(30, 'x'), 30_000)
  t.equal(parseDuration(0, 'x', { allowZero: true }), 0)
  t.throws(() => parseDuration(Number.NaN, 'x'), { code: 'FST_JWT_AUTH_INVALID_DURATION' })
  t.throws(() => parseDuration({}, 'x'), { code: 'FST_JWT_AUTH_INVALID_DURATION' })
  t.throws(() => parseDuration('10 m', 'refreshToken.idleTimeout'), { message: /refreshToken\.idleTimeout/ })
})

t.test('valid options register, with or without cookies and routes', async t => {
  for (const options of [
    { secret },
    { secret: randomSecret(32), cookies: false, routes: false as const },
    { secret, algorithm: 'HS512' as const, issuer: 'https://api.example.com', audience: 'api', routes: { prefix: '' } },
    { secret, cookies: { sameSite: 'none' as const, domain: 'example.com', allowedOrigins: ['https://app.example.com'] } },
    { secret, refreshToken: { expiresIn: '1d' as const }, store: new MemoryStore() },
    { secret: '{ not JSON, just a secret that starts with a brace }' }
  ]) {
    const app = Fastify()
    await app.register(jwtAuth, options)
    await app.ready()
    t.type(app.authenticate, 'function')
    await app.close()
  }
})

t.test('the idle timeout defaults to 7 days, or to a shorter absolute lifetime', async t => {
  const clock = Date.now()
  for (const [expiresIn, expectedIdle] of [['30d', 604_800_000], ['1d', 86_400_000]] as const) {
    const store = new MemoryStore({ now: () => clock })
    const app = Fastify()
    await app.register(jwtAuth, { secret, store, refreshToken: { expiresIn } })
    app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
    await app.inject({ method: 'POST', url: '/login' })
    const [session] = await app.jwtAuth.listSessions('alice')
    t.equal(session?.expiresAt, clock + expectedIdle, `expiresIn ${expiresIn}`)
    await app.close()
  }
})

t.test('an app that registered @fastify/cookie itself keeps it', async t => {
  const app = Fastify()
  await app.register(import('@fastify/cookie'))
  await app.register(jwtAuth, { secret })
  await app.ready()
  t.ok(app.hasReplyDecorator('setCookie'))
  await app.close()
})

t.test("the app's own @fastify/jwt registration is left alone", async t => {
  const app = Fastify()
  await app.register(import('@fastify/jwt'), { secret: 'another-secret-for-the-apps-own-tokens!' })
  await app.register(jwtAuth, { secret })
  app.get('/own', async () => app.jwt.sign({ hello: 'world' }))
  await app.ready()
  const own = await app.inject({ url: '/own' })
  t.equal(app.jwt.verify<{ hello: string }>(own.body).hello, 'world')
  const ours = await app.inject({ url: '/auth/sessions', headers: { authorization: `Bearer ${own.body}` } })
  t.equal(ours.statusCode, 401, "the app's tokens are not access tokens of this plugin")
  await app.close()
})
