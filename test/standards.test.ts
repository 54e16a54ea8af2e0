// The standards checked to the letter, with independent clients where there is one: RFC 9068
// access tokens through oauth4webapi's validateJwtAccessToken over a real socket, the RFC 6749
// §5.2 error_description character set, parameters sent once (RFC 6749 §3.2), and claims that
// would sign something else than they show.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import jwtAuth, { errors } from '../lib/index.js'
import type { IssueClaims, JwtAuthOptions } from '../lib/index.js'
import { oauthDescription } from '../lib/http/challenge.js'
import { bearer, buildApp, decodePart, login } from './helpers.js'

const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
/** RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ). */
const descriptionCharacters = /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/

async function issuer (options: Partial<JwtAuthOptions> = {}): Promise<{ app: FastifyInstance, base: string }> {
  const app = Fastify()
  await app.register(jwtAuth, {
    keys: [{ kid: 'ec', alg: 'ES256', key: ecKey.privateKey }], issuer: 'https://issuer.test', audience: 'https://api.test', cookies: false, ...options
  } as JwtAuthOptions)
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice', scope: 'read' }))
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  return { app, base }
}

t.test('RFC 9068: oauth4webapi validateJwtAccessToken accepts the access tokens, client_id included', async t => {
  const oauth = await import('oauth4webapi')
  for (const [options, clientId] of [[{}, 'https://issuer.test'], [{ accessToken: { clientId: 'web-app' } }, 'web-app']] as const) {
    const { base } = await issuer(options)
    const tokens = await (await fetch(`${base}/login`, { method: 'POST' })).json() as { access_token: string }
    const as = { issuer: 'https://issuer.test', jwks_uri: `${base}/.well-known/jwks.json` }
    const request = new Request(`${base}/anything`, { headers: bearer(tokens.access_token) })
    const claims = await oauth.validateJwtAccessToken(as, request, 'https://api.test', { [oauth.allowInsecureRequests]: true })
    t.equal(claims.client_id, clientId, `client_id is ${clientId}`)
    t.equal(claims.sub, 'alice')
  }
})

t.test('accessToken.clientId must be a non-empty string, and client_id is the plugin\'s to set', async t => {
  await t.rejects(buildApp({ accessToken: { clientId: '' } }), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /accessToken.clientId/ })
  const app = await buildApp()
  t.teardown(() => app.close())
  app.post('/claims-with-client-id', async (_request, reply) => await reply.issueTokens({ sub: 'alice', client_id: 'x' } as unknown as IssueClaims))
  const response = await app.inject({ method: 'POST', url: '/claims-with-client-id' })
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_JWT_AUTH_INVALID_CLAIMS', message: /client_id claim is set by the plugin/ })
})

t.test('every request error\'s error_description keeps to the RFC 6749 §5.2 character set', async t => {
  const awkward = 'a "quoted" \\ value, é, \n and a tab\t'
  for (const [code, ErrorClass] of Object.entries(errors)) {
    if (typeof ErrorClass !== 'function') continue
    const error = new (ErrorClass as new (...args: string[]) => { statusCode: number, message: string })(awkward, awkward, awkward)
    if (error.statusCode >= 500) continue
    t.match(oauthDescription(error.message), descriptionCharacters, code)
  }
  t.equal(oauthDescription('say "hi" \\ é'), "say 'hi' %5C %C3%A9", 'quotes become single quotes, the rest is percent-encoded')
})

t.test('token endpoint and challenge descriptions, as sent, keep to the character set', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const answers = [
    await app.inject({ method: 'POST', url: '/auth/refresh', payload: { grant_type: 'password' } }),
    await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x'.repeat(10) } }),
    await app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/json' }, payload: '{"refresh_token": "a", oops' }),
    await app.inject({ method: 'POST', url: '/auth/revoke', payload: {} }),
    await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'a' }, headers: { cookie: `refresh_token=${tokens.refresh_token}` } })
  ]
  for (const answer of answers) {
    t.equal(answer.statusCode, 400, answer.body)
    t.match(answer.json().error_description, descriptionCharacters, answer.json().error_description)
  }
  t.equal(answers[0]?.json().error_description, "Only grant_type 'refresh_token' is supported here")
  const challenge = (await app.inject({ url: '/me', headers: { authorization: 'Bearer a b' } })).headers['www-authenticate'] as string
  const description = /error_description="([^"]*)"/.exec(challenge)?.[1] as string
  t.match(description, descriptionCharacters, 'the WWW-Authenticate error_description too')
})

t.test('RFC 6749 §3.2: a repeated parameter is refused with invalid_request, in a form and in JSON', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const token = encodeURIComponent(tokens.refresh_token)
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const json = { 'content-type': 'application/json' }
  const repeatedForm = await app.inject({ method: 'POST', url: '/auth/refresh', headers: form, payload: `refresh_token=${token}&refresh_token=${token}` })
  t.equal(repeatedForm.statusCode, 400)
  t.match(repeatedForm.json(), { error: 'invalid_request', error_description: 'The refresh_token parameter was sent more than once' })
  const repeatedJson = await app.inject({ method: 'POST', url: '/auth/refresh', headers: json, payload: `{"refresh_token":"${tokens.refresh_token}", "refresh_token":"${tokens.refresh_token}"}` })
  t.equal(repeatedJson.statusCode, 400)
  t.match(repeatedJson.json(), { error: 'invalid_request', error_description: 'A parameter was sent more than once' })
  const revoke = await app.inject({ method: 'POST', url: '/auth/revoke', headers: form, payload: `token=${token}&token=x` })
  t.match(revoke.json(), { error: 'invalid_request' }, 'on /revoke too')
  // Nested values, commas, braces and escaped quotes inside strings do not count as members.
  const tricky = `{"grant_type":"refresh_token", "refresh_token":"${tokens.refresh_token}", "note":["a, \\"b\\", {c}", {"d": 1, "e": 2}]}`
  const once = await app.inject({ method: 'POST', url: '/auth/refresh', headers: json, payload: tricky })
  t.equal(once.statusCode, 200, 'each parameter once still works in JSON')
  const again = encodeURIComponent((await login(app)).refresh_token)
  const fine = await app.inject({ method: 'POST', url: '/auth/refresh', headers: form, payload: `grant_type=refresh_token&refresh_token=${again}` })
  t.equal(fine.statusCode, 200, 'and in a form')
  const proto = await app.inject({ method: 'POST', url: '/auth/refresh', headers: json, payload: '{"__proto__":{"x":1}}' })
  t.equal(proto.statusCode, 400, 'JSON still goes through Fastify\'s poisoning check')
  const array = await app.inject({ method: 'POST', url: '/auth/refresh', headers: json, payload: '[1,2]' })
  t.equal(array.statusCode, 400)
})

t.test('claims with an own toJSON or __proto__ key are refused before anything is signed', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const cases: Record<string, () => unknown> = {
    toJSON: () => ({ sub: 'alice', toJSON: () => ({ sub: 'admin', exp: 9_999_999_999 }) }),
    inherited: () => Object.create({ toJSON: () => ({ sub: 'admin' }) }, { sub: { value: 'alice', enumerable: true } }),
    proto: () => JSON.parse('{"sub":"alice","__proto__":{"roles":["admin"]}}')
  }
  for (const [name, claims] of Object.entries(cases)) {
    app.post(`/login-${name}`, async (_request, reply) => await reply.issueTokens(claims() as IssueClaims))
  }
  for (const [name, message] of [['toJSON', /toJSON/], ['inherited', /toJSON/], ['proto', /__proto__/]] as const) {
    const response = await app.inject({ method: 'POST', url: `/login-${name}` })
    t.equal(response.statusCode, 500, name)
    t.match(response.json(), { code: 'FST_JWT_AUTH_INVALID_CLAIMS', message }, name)
  }
  const plain = await login(app)
  t.equal(decodePart(plain.access_token, 1).client_id, 'fastify-jwt-auth', 'the default client_id is the issuer')
})
