// OpenAPI: with @fastify/swagger registered before the plugin, app.swagger() documents the
// built-in routes (bodies, responses, errors, tags), the response schemas reshape no response,
// and with the openapi option the built-in routes and those app.authenticate guards name the
// bearer scheme; without it no route names one, so a document without the scheme still builds.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import type { FastifyError, FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import rateLimit from '@fastify/rate-limit'
import jwtAuth, { MemoryStore, openapiSecuritySchemes, openapiSecuritySchemesNamed } from '../lib/index.js'
import type { JwtAuthOptions, SessionInfo } from '../lib/index.js'
import { bearer, login, secret } from './helpers.js'

interface Schema {
  type?: string
  required?: string[]
  enum?: unknown[]
  properties?: Record<string, Schema>
  items?: Schema
}
interface Response {
  description: string
  headers?: Record<string, unknown>
  content?: Record<string, { schema: Schema }>
}
interface Operation {
  tags?: string[]
  summary?: string
  description?: string
  security?: Array<Record<string, string[]>>
  parameters?: Array<{ name: string, in: string }>
  requestBody?: { content: Record<string, { schema: Schema }> }
  responses: Record<string, Response>
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes?: Record<string, unknown> }
  security?: Array<Record<string, string[]>>
}

const bearerRequired = [{ bearerAuth: [] }]

interface Setup {
  /** @fastify/swagger's options; default: OpenAPI 3 with `openapiSecuritySchemes` and an API key scheme. */
  swagger?: Record<string, unknown>
  withRateLimit?: boolean
  /** The app's own routes and hooks, added after the plugin. */
  routes?: (app: FastifyInstance) => void
  /** Runs before the plugin is registered. */
  before?: (app: FastifyInstance) => void
}

/** An app with swagger and the plugin (`openapi: true` unless `options` says otherwise). */
async function documentedApp (options: Partial<JwtAuthOptions>, setup: Setup = {}): Promise<{ app: FastifyInstance, doc: Document }> {
  const app = Fastify()
  await app.register(swagger, setup.swagger ?? {
    openapi: {
      info: { title: 'test', version: '1.0.0' },
      components: { securitySchemes: { ...openapiSecuritySchemes, apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } }
    }
  })
  if (setup.withRateLimit === true) await app.register(rateLimit, { global: false })
  setup.before?.(app)
  await app.register(jwtAuth, { secret, cookies: { secure: false }, openapi: true, ...options } as JwtAuthOptions)
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
  setup.routes?.(app)
  await app.ready()
  return { app, doc: app.swagger() as unknown as Document }
}

function operation (doc: Document, path: string, method: string): Operation {
  const found = doc.paths[path]?.[method]
  if (found === undefined) throw new Error(`${method.toUpperCase()} ${path} is not in the document`)
  return found
}

function jsonSchema (response: Response | undefined): Schema {
  const schema = response?.content?.['application/json']?.schema
  if (schema === undefined) throw new Error('no application/json schema')
  return schema
}

t.test('the built-in routes are documented with their bodies, responses, errors, tags and security', async t => {
  const { app, doc } = await documentedApp({}, { withRateLimit: true })
  t.teardown(() => app.close())

  for (const [path, method] of [['/auth/refresh', 'post'], ['/auth/revoke', 'post'], ['/auth/logout', 'post'], ['/auth/logout-all', 'post'], ['/auth/sessions', 'get'], ['/auth/sessions/{*}', 'delete']] as const) {
    const documented = operation(doc, path, method)
    t.same(documented.tags, ['auth'], `${path} is tagged auth`)
    t.type(documented.summary, 'string', `${path} has a summary`)
    t.ok(documented.responses['503'], `${path} documents the store outage`)
  }

  const refresh = operation(doc, '/auth/refresh', 'post')
  t.same(Object.keys(refresh.requestBody?.content ?? {}).sort(), ['application/json', 'application/x-www-form-urlencoded'], 'refresh takes JSON and forms')
  t.same(Object.keys(refresh.requestBody?.content['application/json']?.schema.properties ?? {}), ['refresh_token', 'grant_type'])
  t.same(refresh.parameters, [{ schema: { type: 'string' }, in: 'cookie', name: 'refresh_token', required: false, description: 'The refresh cookie, instead of refresh_token in the body.' }], 'the refresh cookie is a documented alternative')
  t.same(refresh.security, [], 'refresh needs no access token')
  const tokens = jsonSchema(refresh.responses['200'])
  t.same(tokens.required, ['token_type', 'expires_in'], 'RFC 6749 §5.1 token response; the tokens are left out when the refresh came by cookie')
  t.same(Object.keys(tokens.properties ?? {}).slice(0, 4), ['access_token', 'token_type', 'expires_in', 'refresh_token'])
  t.same(tokens.properties?.token_type?.enum, ['Bearer'])
  t.equal(tokens.properties?.expires_in?.type, 'integer')
  t.same(Object.keys(refresh.responses).sort(), ['200', '400', '403', '413', '429', '503'])
  const oauthError = jsonSchema(refresh.responses['400'])
  t.same(oauthError.required, ['statusCode', 'code', 'error', 'error_description', 'message'], 'RFC 6749 §5.2 error body')
  t.same(oauthError.properties?.error?.enum, ['invalid_request', 'invalid_grant', 'unsupported_grant_type'])
  t.ok(refresh.responses['503']?.headers?.['retry-after'], 'the outage documents Retry-After')

  const revoke = operation(doc, '/auth/revoke', 'post')
  t.same(revoke.requestBody?.content['application/x-www-form-urlencoded']?.schema.required, ['token'])
  t.same(revoke.security, [])
  t.equal(revoke.responses['200']?.content, undefined, 'RFC 7009: 200 with no body')
  t.same(jsonSchema(revoke.responses['400']).required, oauthError.required)

  const logout = operation(doc, '/auth/logout', 'post')
  t.same(logout.security, [{ bearerAuth: [] }, {}], 'logout takes an access token but works with the refresh token alone')
  t.same(Object.keys(logout.responses).sort(), ['204', '400', '401', '403', '413', '429', '503'])
  t.equal(logout.responses['204']?.content, undefined)
  t.ok(logout.responses['401']?.headers?.['www-authenticate'], '401 documents the Bearer challenge')
  const standardError = jsonSchema(logout.responses['401'])
  t.same(Object.keys(standardError.properties ?? {}), ['statusCode', 'code', 'error', 'message'], "Fastify's error body")

  const logoutAll = operation(doc, '/auth/logout-all', 'post')
  t.same(logoutAll.security, bearerRequired)
  t.same(Object.keys(logoutAll.responses).sort(), ['204', '400', '401', '403', '413', '503'])

  const sessions = operation(doc, '/auth/sessions', 'get')
  t.same(sessions.security, bearerRequired)
  t.same(Object.keys(sessions.responses).sort(), ['200', '400', '401', '503'])
  const sessionItem = jsonSchema(sessions.responses['200']).items as Schema
  t.same(Object.keys(sessionItem.properties ?? {}), ['id', 'sub', 'createdAt', 'lastUsedAt', 'expiresAt', 'userAgent', 'ip', 'authTime', 'acr', 'amr', 'persistent', 'idleTimeout', 'current'])

  const endSession = operation(doc, '/auth/sessions/{*}', 'delete')
  t.same(endSession.security, bearerRequired)
  t.same(endSession.parameters?.map(parameter => [parameter.name, parameter.in]), [['*', 'path']])
  t.same(Object.keys(endSession.responses).sort(), ['204', '400', '401', '403', '404', '413', '503'])

  t.same(doc.components.securitySchemes?.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: openapiSecuritySchemes.bearerAuth.description })
  t.ok(Object.isFrozen(openapiSecuritySchemes.bearerAuth), 'the exported scheme cannot be changed by accident')

  t.test('what the routes answer is what the document says', async t => {
    const session = await login(app)
    const listed = await app.inject({ url: '/auth/sessions', headers: { ...bearer(session.access_token), 'user-agent': 'test-agent' } })
    t.equal(listed.statusCode, 200)
    for (const item of listed.json<Array<Record<string, unknown>>>()) {
      t.same(Object.keys(item).filter(key => sessionItem.properties?.[key] === undefined), [], 'every field is documented')
      t.same(sessionItem.required?.filter(key => !(key in item)), [], 'every required field is there')
    }
    const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: session.refresh_token } })
    t.same(Object.keys(refreshed.json()).filter(key => tokens.properties?.[key] === undefined), [], 'every field is documented')
    t.same(tokens.required?.filter(key => !(key in refreshed.json())), [], 'every required field is there')
    const refused = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'not-a-refresh-token' } })
    t.same(Object.keys(refused.json()), oauthError.required, 'the token endpoint error has the documented fields, in order')
    const unauthenticated = await app.inject({ method: 'POST', url: '/auth/logout-all' })
    t.equal(unauthenticated.statusCode, 401)
    t.same(Object.keys(unauthenticated.json()), Object.keys(standardError.properties ?? {}))
  })
})

t.test('routes guarded by app.authenticate declare the bearer scheme; the others do not', async t => {
  const sharedSchema = { querystring: { type: 'object', properties: { page: { type: 'integer' } } } }
  const { app, doc } = await documentedApp({}, {
    routes: app => {
      app.get('/profile', { preHandler: app.authenticate }, async request => request.user)
      app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => 'hi')
      app.get('/early', { onRequest: app.authenticate }, async () => 'hi')
      app.get('/validated', { preValidation: [app.authenticate] }, async () => 'hi')
      app.get('/own', { preHandler: app.authenticate, schema: { security: [{ apiKey: [] }] } as object }, async () => 'hi')
      app.get('/public', async () => 'hi')
      app.get('/other-hook', { preHandler: async () => {} }, async () => 'hi')
      app.get('/shared-guarded', { preHandler: app.authenticate, schema: sharedSchema }, async () => 'hi')
      app.get('/shared-open', { schema: sharedSchema }, async () => 'hi')
      app.register(async child => {
        child.get('/nested', { preHandler: child.authenticate }, async () => 'hi')
      }, { prefix: '/child' })
    }
  })
  t.teardown(() => app.close())

  for (const path of ['/profile', '/admin', '/early', '/validated', '/child/nested']) {
    t.same(operation(doc, path, 'get').security, bearerRequired, `${path} needs a bearer token`)
  }
  t.same(operation(doc, '/own', 'get').security, [{ apiKey: [] }], "a route's own security is kept")
  t.equal(operation(doc, '/public', 'get').security, undefined, 'an open route declares nothing')
  t.equal(operation(doc, '/other-hook', 'get').security, undefined, 'another preHandler is not a guard')
  t.same(operation(doc, '/shared-guarded', 'get').parameters?.map(parameter => parameter.name), ['page'], 'the rest of the schema is kept')
  t.equal(operation(doc, '/shared-open', 'get').security, undefined, 'a schema object shared with an open route is not changed')
  t.notOk('security' in sharedSchema)

  const refused = await app.inject({ url: '/profile' })
  t.equal(refused.statusCode, 401, 'the guard still guards')
})

/** Every scheme name that the document's `security` or an operation's names. */
function namedSchemes (doc: Document): string[] {
  const operations = Object.values(doc.paths).flatMap(methods => Object.values(methods))
  const requirements = [...(doc.security ?? []), ...operations.flatMap(documented => documented.security ?? [])]
  return [...new Set(requirements.flatMap(requirement => Object.keys(requirement)))]
}

const builtInOperations = [['/auth/refresh', 'post'], ['/auth/revoke', 'post'], ['/auth/logout', 'post'], ['/auth/logout-all', 'post'], ['/auth/sessions', 'get'], ['/auth/sessions/{*}', 'delete']] as const

t.test('without the openapi option no route names a scheme, so a document without one builds (OpenAPI 3 and Swagger 2.0)', async t => {
  const info = { title: 'an app that used swagger before', version: '1.0.0' }
  for (const [mode, swaggerOptions, options] of [
    ['OpenAPI 3', { openapi: { info } }, {}],
    ['OpenAPI 3, openapi: false', { openapi: { info } }, { openapi: false }],
    ['Swagger 2.0', { swagger: { info } }, {}]
  ] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(swagger, swaggerOptions)
    await app.register(jwtAuth, { secret, ...options })
    app.get('/profile', { preHandler: app.authenticate }, async request => request.user)
    await app.ready()

    const doc = app.swagger() as unknown as Document
    t.same(namedSchemes(doc), [], `${mode}: no security names a scheme`)
    for (const [path, method] of builtInOperations) {
      const documented = operation(doc, path, method)
      t.same(documented.tags, ['auth'], `${mode}: ${path} keeps its tag`)
      t.ok(documented.responses['503'], `${mode}: ${path} keeps its responses`)
    }
    t.same(operation(doc, '/auth/refresh', 'post').security, [], `${mode}: the token endpoints still need no access token`)
    t.equal(operation(doc, '/auth/logout', 'post').security, undefined)
    t.equal(operation(doc, '/profile', 'get').security, undefined)
    t.equal((await app.inject({ url: '/profile' })).statusCode, 401, `${mode}: the guard still guards`)
  }
})

t.test('openapi.securityScheme names the scheme; openapiSecuritySchemesNamed gives its component', async t => {
  const { app, doc } = await documentedApp({ openapi: { securityScheme: 'jwt' } }, {
    swagger: { openapi: { info: { title: 'test', version: '1.0.0' }, components: { securitySchemes: { ...openapiSecuritySchemesNamed('jwt') } } } },
    routes: app => { app.get('/profile', { preHandler: app.authenticate }, async request => request.user) }
  })
  t.teardown(() => app.close())
  t.same(doc.components.securitySchemes, { jwt: openapiSecuritySchemes.bearerAuth }, 'the same component under the chosen name')
  t.same(operation(doc, '/profile', 'get').security, [{ jwt: [] }])
  t.same(operation(doc, '/auth/logout', 'post').security, [{ jwt: [] }, {}])
  t.same(operation(doc, '/auth/sessions', 'get').security, [{ jwt: [] }])
  t.same(namedSchemes(doc), ['jwt'], 'no other name')
})

t.test('openapi: {} (the default name) in Swagger 2.0 mode, with the bearerAuth entry in securityDefinitions', async t => {
  const { app, doc } = await documentedApp({ openapi: {} }, {
    swagger: { swagger: { info: { title: 'test', version: '1.0.0' }, securityDefinitions: { bearerAuth: { type: 'apiKey', in: 'header', name: 'Authorization' } } } },
    routes: app => { app.get('/profile', { preHandler: app.authenticate }, async request => request.user) }
  })
  t.teardown(() => app.close())
  t.same(operation(doc, '/profile', 'get').security, bearerRequired)
  t.same(operation(doc, '/auth/logout', 'post').security, [{ bearerAuth: [] }, {}])
})

t.test('what is documented follows the options: cookies, rate limit', async t => {
  const noCookies = await documentedApp({ cookies: false, routes: { rateLimit: false } }, { withRateLimit: true })
  t.teardown(() => noCookies.app.close())
  const refresh = operation(noCookies.doc, '/auth/refresh', 'post')
  t.equal(refresh.parameters, undefined, 'no refresh cookie to document')
  t.same(Object.keys(refresh.responses).sort(), ['200', '400', '413', '503'], 'no cookie, so no cross-origin 403; no limit, so no 429')

  const noLimiter = await documentedApp({})
  t.teardown(() => noLimiter.app.close())
  t.notOk(operation(noLimiter.doc, '/auth/refresh', 'post').responses['429'], 'no 429 without @fastify/rate-limit')
  t.ok(operation(noLimiter.doc, '/auth/refresh', 'post').responses['403'])
})

t.test('the JWKS route is documented as a JWK Set', async t => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const { app, doc } = await documentedApp({ secret: undefined, keys: [{ kid: 'k1', alg: 'ES256', key: privateKey }] } as Partial<JwtAuthOptions>)
  t.teardown(() => app.close())
  const jwks = operation(doc, '/.well-known/jwks.json', 'get')
  t.same(jwks.security, [])
  t.same(Object.keys(jwks.responses['200']?.content ?? {}), ['application/jwk-set+json'])
  t.equal(jwks.responses['200']?.content?.['application/jwk-set+json']?.schema.properties?.keys?.type, 'array')

  const served = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(served.headers['content-type'], 'application/jwk-set+json; charset=utf-8')
  t.same(served.json<{ keys: Array<{ kid: string }> }>().keys.map(key => key.kid), ['k1'], 'the body is unchanged')
})

t.test('the response schemas reshape no response', async t => {
  class StoreWithDevices extends MemoryStore {
    override async listSessions (sub: string): Promise<SessionInfo[]> {
      return (await super.listSessions(sub)).map(session => ({ ...session, device: 'phone' }))
    }
  }
  const { app } = await documentedApp({ store: new StoreWithDevices() }, {
    before: app => {
      app.setErrorHandler(async (error: FastifyError, _request, reply) => {
        return await reply.code(error.statusCode ?? 500).send({ error: { code: error.code, status: error.statusCode } })
      })
    }
  })
  t.teardown(() => app.close())

  const session = await login(app)
  const listed = await app.inject({ url: '/auth/sessions', headers: bearer(session.access_token) })
  t.equal(listed.json<Array<{ device?: string }>>()[0]?.device, 'phone', "a custom store's extra session field is kept")

  const refused = await app.inject({ url: '/auth/sessions' })
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), { error: { code: 'FST_JWT_AUTH_NO_TOKEN', status: 401 } }, "the app's own error body keeps its shape")

  const defaults = await documentedApp({})
  t.teardown(() => defaults.app.close())
  const unauthenticated = await defaults.app.inject({ method: 'DELETE', url: `/auth/sessions/${'a'.repeat(30)}` })
  t.equal(unauthenticated.body, '{"statusCode":401,"code":"FST_JWT_AUTH_NO_TOKEN","error":"Unauthorized","message":"No access token was presented"}',
    "Fastify's error body, byte for byte")
  const invalid = await defaults.app.inject({ method: 'DELETE', url: '/auth/sessions/short' })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().code, 'FST_ERR_VALIDATION', 'a validation error keeps its code')
})

t.test('routes guarded by requireAuth say what authentication they need, after their own description', async t => {
  const { app, doc } = await documentedApp({}, {
    routes: app => {
      app.get('/settings', { preHandler: [app.authenticate, app.requireAuth({ maxAge: '5m' })] }, async () => 'hi')
      app.get('/mfa', { preHandler: [app.authenticate, app.requireAuth({ acr: ['mfa', 'phr'] })], schema: { description: 'Payments.' } }, async () => 'hi')
      app.get('/both', { onRequest: app.authenticate, preHandler: app.requireAuth({ maxAge: 60, acr: ['mfa'] }) }, async () => 'hi')
    }
  })
  t.teardown(() => app.close())
  t.equal(operation(doc, '/settings', 'get').description,
    'Needs an authentication at most 300 s old (auth_time); otherwise 401 with WWW-Authenticate: Bearer error="insufficient_user_authentication", max_age (RFC 9470): authenticate again or step up.')
  t.match(operation(doc, '/mfa', 'get').description, /^Payments\.\n\nNeeds an acr of mfa, phr; otherwise 401 .*acr_values \(RFC 9470\)/)
  t.match(operation(doc, '/both', 'get').description, /^Needs an authentication at most 60 s old \(auth_time\) and an acr of mfa;.*max_age, acr_values/)
  t.same(operation(doc, '/settings', 'get').security, bearerRequired)
})
