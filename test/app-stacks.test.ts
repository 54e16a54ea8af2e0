// The app stacks people build around the plugin: type providers and their compilers, response
// validation, Ajv custom options, helmet, CORS with credentials, formbody, routes in child plugins
// and a custom error handler. In each, the built-in routes answer as in a bare app: login, a guarded
// route, refresh (JSON, form and cookie), sessions, revoke, logout, and 4xx (never 5xx) for bad input.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import type { Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyError, FastifyInstance, FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { Type, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import responseValidation from '@fastify/response-validation'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import formbody from '@fastify/formbody'
import swagger from '@fastify/swagger'
import jwtAuth from '../lib/index.js'
import type { JwtAuthOptions, TokenResponse } from '../lib/index.js'
import { bearer, cookieValues, secret } from './helpers.js'

const origin = 'https://app.example'
const form = { 'content-type': 'application/x-www-form-urlencoded' }

interface Stack {
  /** Fastify's own options (Ajv custom options, ...). */
  server?: FastifyServerOptions
  /** What the app registers before the plugin. */
  before?: (app: FastifyInstance) => Promise<void> | void
  /** The app's login and guarded routes; default: both at the root. */
  routes?: (app: FastifyInstance) => Promise<void> | void
  /** Where the guarded route lives. */
  guardedUrl?: string
  options?: Partial<JwtAuthOptions>
}

function defaultRoutes (app: FastifyInstance): void {
  app.post<{ Body: { username?: string } }>('/login', async (request, reply) => await reply.issueTokens({ sub: request.body?.username ?? 'alice' }))
  app.get('/me', { preHandler: app.authenticate }, async request => ({ sub: request.user.sub }))
}

async function stackApp (stack: Stack): Promise<FastifyInstance> {
  const app = Fastify(stack.server)
  await stack.before?.(app)
  await app.register(jwtAuth, { secret, cookies: { secure: false }, ...stack.options } as JwtAuthOptions)
  await (stack.routes ?? defaultRoutes)(app)
  await app.ready()
  return app
}

async function logIn (t: Test, app: FastifyInstance): Promise<TokenResponse> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice' } })
  t.equal(response.statusCode, 200, 'login')
  return response.json<TokenResponse>()
}

function refreshed (t: Test, response: LightMyRequestResponse, how: string): TokenResponse {
  t.equal(response.statusCode, 200, `refresh (${how})`)
  t.equal(response.headers['cache-control'], 'no-store', `refresh (${how}) is not cached`)
  const body = response.json<TokenResponse>()
  if (!how.startsWith('cookie')) {
    t.match(body, { token_type: 'Bearer', access_token: String, refresh_token: String, expires_in: Number }, `refresh (${how}) answers RFC 6749 §5.1`)
    return body
  }
  // A cookie client gets no token text: the new pair is in the cookies alone.
  t.same(body, { token_type: 'Bearer', expires_in: body.expires_in }, 'refresh (cookie) answers in the cookies alone')
  const cookies = cookieValues(response)
  return { ...body, access_token: cookies.access_token as string, refresh_token: cookies.refresh_token as string }
}

function refusedWith (t: Test, response: LightMyRequestResponse, status: number, error: string, what: string): void {
  t.equal(response.statusCode, status, what)
  t.equal(response.json().error, error, `${what}: RFC 6749 §5.2 body`)
}

/** Every built-in route, and the app's own, through one stack. */
async function exercise (t: Test, app: FastifyInstance, guardedUrl = '/me'): Promise<void> {
  let tokens = await logIn(t, app)
  const guarded = await app.inject({ url: guardedUrl, headers: bearer(tokens.access_token) })
  t.equal(guarded.statusCode, 200, 'guarded route with the access token')
  t.same(guarded.json(), { sub: 'alice' })
  const anonymous = await app.inject({ url: guardedUrl })
  t.equal(anonymous.statusCode, 401, 'guarded route without a token')
  t.match(anonymous.headers['www-authenticate'], /^Bearer realm="/, 'RFC 6750 challenge')

  tokens = refreshed(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } }), 'JSON')
  tokens = refreshed(t, await app.inject({ method: 'POST', url: '/auth/refresh', headers: form, payload: `grant_type=refresh_token&refresh_token=${tokens.refresh_token}` }), 'form')
  tokens = refreshed(t, await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { refresh_token: tokens.refresh_token } }), 'cookie')
  t.equal((await app.inject({ url: guardedUrl, headers: bearer(tokens.access_token) })).statusCode, 200, 'the refreshed access token works')

  const sessions = await app.inject({ url: '/auth/sessions', headers: bearer(tokens.access_token) })
  t.equal(sessions.statusCode, 200, 'sessions')
  t.match(sessions.json(), [{ sub: 'alice', current: true, id: String, createdAt: Number }])

  const other = await logIn(t, app)
  const otherId = (await app.inject({ url: '/auth/sessions', headers: bearer(other.access_token) })).json<Array<{ id: string, current: boolean }>>().find(session => session.current)?.id as string
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/sessions/${otherId}`, headers: bearer(tokens.access_token) })).statusCode, 204, 'one session ended')
  t.equal((await app.inject({ url: guardedUrl, headers: bearer(other.access_token) })).statusCode, 401, "the ended session's token is refused")

  const third = await logIn(t, app)
  t.equal((await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: third.access_token } })).statusCode, 200, 'revoke (JSON)')
  t.equal((await app.inject({ url: guardedUrl, headers: bearer(third.access_token) })).statusCode, 401, 'the revoked token is refused')
  t.equal((await app.inject({ method: 'POST', url: '/auth/revoke', headers: form, payload: `token=${third.refresh_token}` })).statusCode, 200, 'revoke (form)')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: third.refresh_token } }), 400, 'invalid_grant', 'a revoked refresh token')

  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } })).statusCode, 204, 'logout')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } }), 400, 'invalid_grant', 'refresh after logout')

  // Bad requests: each a 4xx, never a 5xx.
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'not-a-token' } }), 400, 'invalid_grant', 'an unknown refresh token')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: '' } }), 400, 'invalid_request', 'an empty refresh token')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: {} }), 400, 'invalid_request', 'no refresh token')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: { nested: true } } }), 400, 'invalid_request', 'a refresh token that is no string')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', headers: form, payload: 'refresh_token=a&refresh_token=b' }), 400, 'invalid_request', 'a repeated form parameter')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/revoke', payload: {} }), 400, 'invalid_request', 'revoke without a token')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { grant_type: 'password' } }), 400, 'unsupported_grant_type', 'another grant type')
  const badId = await app.inject({ method: 'DELETE', url: '/auth/sessions/not*an*id', headers: bearer(third.access_token) })
  t.ok(badId.statusCode >= 400 && badId.statusCode < 500, `a malformed session id is a 4xx (${badId.statusCode})`)
  const noToken = await app.inject({ url: '/auth/sessions' })
  t.equal(noToken.statusCode, 401, 'sessions without a token')
  t.match(noToken.headers['www-authenticate'], /^Bearer realm="/, 'RFC 6750 challenge on a built-in route')
}

t.test('fastify-type-provider-zod (Zod 4) compilers app-wide', async t => {
  const app = await stackApp({
    before: app => {
      app.setValidatorCompiler(validatorCompiler)
      app.setSerializerCompiler(serializerCompiler)
    },
    routes: app => {
      const typed = app.withTypeProvider<ZodTypeProvider>()
      typed.post('/login', { schema: { body: z.object({ username: z.string().min(1) }) } }, async (request, reply) => await reply.issueTokens({ sub: request.body.username }))
      typed.get('/me', { preHandler: app.authenticate, schema: { response: { 200: z.object({ sub: z.string() }) } } }, async request => ({ sub: request.user.sub }))
    }
  })
  t.teardown(() => app.close())
  await exercise(t, app)
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: '' } })).statusCode, 400, "the app's own Zod schema still validates")
})

t.test('@fastify/type-provider-typebox with its TypeBox validator compiler app-wide', async t => {
  const app = await stackApp({
    before: app => { app.setValidatorCompiler(TypeBoxValidatorCompiler) },
    routes: app => {
      const typed = app.withTypeProvider<TypeBoxTypeProvider>()
      typed.post('/login', { schema: { body: Type.Object({ username: Type.String({ minLength: 1 }) }) } }, async (request, reply) => await reply.issueTokens({ sub: request.body.username }))
      typed.get('/me', { preHandler: app.authenticate, schema: { response: { 200: Type.Object({ sub: Type.String() }) } } }, async request => ({ sub: request.user.sub }))
    }
  })
  t.teardown(() => app.close())
  await exercise(t, app)
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: '' } })).statusCode, 400, "the app's own TypeBox schema still validates")
})

type Validate = ((data: unknown) => boolean) & { errors?: unknown }

/** An Ajv plugin that counts, per schema description, the responses @fastify/response-validation checked and passed. */
function countValidations (passed: Map<string, number>): (ajv: { compile: (schema: unknown) => Validate }) => void {
  return ajv => {
    const compile = ajv.compile.bind(ajv)
    ajv.compile = schema => {
      const validate = compile(schema)
      const name = String((schema as { description?: string }).description)
      const counted: Validate = data => {
        const valid = validate(data)
        if (valid) passed.set(name, (passed.get(name) ?? 0) + 1)
        return valid
      }
      return Object.defineProperty(counted, 'errors', { get: () => validate.errors })
    }
  }
}

t.test('@fastify/response-validation (Ajv strict mode) validates the built-in answers', async t => {
  const passed = new Map<string, number>()
  // strict: true turns every Ajv strict check (schema, types, tuples, required) into an error.
  const app = await stackApp({ before: async app => { await app.register(responseValidation, { ajv: { strict: true, plugins: [countValidations(passed)] } }) } })
  t.teardown(() => app.close())
  await exercise(t, app)
  t.ok([...passed.keys()].some(description => description.startsWith('A new token pair (RFC 6749 §5.1)')), 'the token answers were validated')
  t.ok(passed.get("The caller's live sessions."), 'the session list was validated')
})

t.test('@fastify/response-validation with every status code required to have a schema', async t => {
  const app = await stackApp({ before: async app => { await app.register(responseValidation, { responseStatusCodeValidation: true }) } })
  t.teardown(() => app.close())
  const tokens = await logIn(t, app)
  refreshed(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } }), 'JSON')
  refusedWith(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: {} }), 400, 'invalid_request', 'no refresh token')
  t.equal((await app.inject({ url: '/auth/sessions' })).statusCode, 401, 'sessions without a token')
})

t.test('Ajv custom options (removeAdditional all, coerceTypes array, allErrors) change nothing on the built-in routes', async t => {
  const app = await stackApp({ server: { ajv: { customOptions: { removeAdditional: 'all', coerceTypes: 'array', allErrors: true } } } })
  t.teardown(() => app.close())
  await exercise(t, app)
  const repeated = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: ['a', 'b'] } })
  refusedWith(t, repeated, 400, 'invalid_request', 'an array is no refresh token')
})

t.test('@fastify/helmet and @fastify/cors with credentials', async t => {
  const app = await stackApp({
    before: async app => {
      await app.register(helmet)
      await app.register(cors, { origin, credentials: true })
    },
    options: { cookies: { secure: false, allowedOrigins: [origin] } }
  })
  t.teardown(() => app.close())
  await exercise(t, app)
  const preflight = await app.inject({ method: 'OPTIONS', url: '/auth/refresh', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  t.equal(preflight.statusCode, 204, 'CORS preflight')
  t.equal(preflight.headers['access-control-allow-credentials'], 'true')
  const tokens = await logIn(t, app)
  const fromPage = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin }, cookies: { refresh_token: tokens.refresh_token } })
  refreshed(t, fromPage, 'cookie, allowed origin')
  t.equal(fromPage.headers['access-control-allow-origin'], origin, 'CORS headers on the refresh answer')
  t.equal(fromPage.headers['x-content-type-options'], 'nosniff', 'helmet headers on the refresh answer')
  t.ok(cookieValues(fromPage).refresh_token, 'the refresh cookie is renewed')
})

t.test('@fastify/formbody at the root: the token endpoints keep their own strict form parser', async t => {
  const app = await stackApp({ before: async app => { await app.register(formbody) } })
  t.teardown(() => app.close())
  await exercise(t, app)
  const repeated = await app.inject({ method: 'POST', url: '/auth/revoke', headers: form, payload: 'token=a&token=a' })
  t.match(repeated.json(), { statusCode: 400, error: 'invalid_request', message: 'The token parameter was sent more than once' }, 'a repeated parameter is refused, even with the same value')
})

t.test('autoload-style encapsulation: the app routes live in child plugins that use app.authenticate', async t => {
  const app = await stackApp({
    routes: async app => {
      await app.register(async function accounts (child) {
        child.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
      })
      await app.register(async function profile (child) {
        await child.register(async function nested (grandchild) {
          grandchild.get('/me', { preHandler: grandchild.authenticate }, async request => ({ sub: request.user.sub }))
        }, { prefix: '/v1' })
      }, { prefix: '/api' })
    }
  })
  t.teardown(() => app.close())
  await exercise(t, app, '/api/v1/me')
})

t.test('a custom error handler keeps the RFC 6750 challenge and the RFC 6749 body', async t => {
  const handled: string[] = []
  const app = await stackApp({
    before: app => {
      app.setErrorHandler(function problem (error: FastifyError, _request, reply) {
        handled.push(String(error.code))
        return reply.code(error.statusCode ?? 500).type('application/problem+json').send({ title: error.message, status: error.statusCode, code: error.code })
      })
    }
  })
  t.teardown(() => app.close())
  await exercise(t, app)
  const anonymous = await app.inject({ url: '/auth/sessions' })
  t.match(anonymous.json(), { status: 401, code: 'FST_JWT_AUTH_NO_TOKEN' }, "the session routes answer in the app's error shape")
  t.ok(handled.includes('FST_JWT_AUTH_NO_TOKEN'), "the app's handler saw the plugin's errors")
})

t.test('everything at once, with OpenAPI: Zod, response validation, helmet, CORS, formbody, child plugins, an error handler', async t => {
  const app = await stackApp({
    server: { ajv: { customOptions: { removeAdditional: 'all', allErrors: true } } },
    before: async app => {
      app.setValidatorCompiler(validatorCompiler)
      app.setSerializerCompiler(serializerCompiler)
      await app.register(swagger, { openapi: { info: { title: 'stack', version: '1.0.0' } }, transform: jsonSchemaTransform })
      await app.register(responseValidation)
      await app.register(helmet)
      await app.register(cors, { origin, credentials: true })
      await app.register(formbody)
      app.setErrorHandler(function keepStatus (error: FastifyError, _request, reply) {
        return reply.code(error.statusCode ?? 500).send({ statusCode: error.statusCode ?? 500, code: error.code, error: 'Error', message: error.message })
      })
    },
    routes: async app => {
      await app.register(async function api (child) {
        const typed = child.withTypeProvider<ZodTypeProvider>()
        typed.get('/me', { preHandler: child.authenticate }, async request => ({ sub: request.user.sub }))
      }, { prefix: '/api' })
      app.withTypeProvider<ZodTypeProvider>().post('/login', { schema: { body: z.object({ username: z.string() }) } }, async (request, reply) => await reply.issueTokens({ sub: request.body.username }))
    }
  })
  t.teardown(() => app.close())
  await exercise(t, app, '/api/me')
  // Zod's global transform throws on JSON Schema: the built-in routes opt out of it.
  const document = app.swagger() as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>> }
  t.same(Object.keys(document.paths['/auth/refresh']?.post?.requestBody?.content['application/json']?.schema.properties ?? {}), ['refresh_token', 'grant_type'], 'the built-in routes are documented')
  t.same(Object.keys(document.paths['/login']?.post?.requestBody?.content['application/json']?.schema.properties ?? {}), ['username'], "the app's Zod routes still go through Zod's transform")
})

t.test('asymmetric keys: the JWKS route under Zod compilers and strict response validation', async t => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const app = await stackApp({
    before: async app => {
      app.setValidatorCompiler(validatorCompiler)
      app.setSerializerCompiler(serializerCompiler)
      await app.register(responseValidation, { ajv: { strict: true } })
    },
    options: { secret: undefined, keys: [{ kid: 'k1', alg: 'ES256', key: privateKey }] } as Partial<JwtAuthOptions>
  })
  t.teardown(() => app.close())
  await exercise(t, app)
  const jwks = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(jwks.statusCode, 200)
  t.match(jwks.json(), { keys: [{ kid: 'k1', kty: 'EC' }] })
})

t.test('an app-wide schemaController whose validator factory reads no JSON Schema', async t => {
  const refused: string[] = []
  const app = await stackApp({
    server: {
      schemaController: {
        compilersFactory: {
          buildValidator: () => ({ url }: { url?: string }) => {
            refused.push(String(url))
            throw new Error('this app validates with its own schema kind only')
          }
        }
      }
    }
  })
  t.teardown(() => app.close())
  await exercise(t, app)
  t.same(refused, [], 'the built-in routes never reached the app validator factory')
})
