// Issue 12 §5: a refusal never loses its challenge to a name outside Latin-1. Roles are encoded
// in the header (the JSON body keeps them as they are); scopes and the realm, which RFC 6750
// limits to ASCII, are refused at registration.
import t from 'tap'
import { bearer, buildApp, login, registrationError, secret } from './helpers.js'

t.test('a role named in another script is percent-encoded in the challenge', async t => {
  const app = await buildApp()
  app.get('/editors', { preHandler: [app.authenticate, app.requireRoles('редактор')] }, async () => 'ok')
  t.teardown(() => app.close())
  const { access_token: token } = await login(app)
  const refused = await app.inject({ url: '/editors', headers: bearer(token) })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'FST_JWT_AUTH_INSUFFICIENT_SCOPE')
  t.equal(refused.json().message, 'One of these roles is required: редактор', 'the body keeps the name')
  t.equal(refused.headers['www-authenticate'],
    'Bearer realm="fastify-jwt-auth", error="insufficient_scope", error_description="One of these roles is required: %D1%80%D0%B5%D0%B4%D0%B0%D0%BA%D1%82%D0%BE%D1%80"')
})

t.test('scopes and realms outside printable ASCII are refused at registration', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (const scope of ['чтение', 'a b', 'say"', 'back\\slash']) {
    t.throws(() => app.requireScopes(scope), { code: 'FST_JWT_AUTH_INVALID_OPTION' }, scope)
  }
  t.doesNotThrow(() => app.requireScopes('reports:read', 'a!#[]~'))
  for (const options of [{ secret, realm: 'Мой API' }, { secret, issuer: 'https://пример.рф' }, { secret, realm: 'tab\there' }]) {
    const error = await registrationError(options)
    t.equal(error.code, 'FST_JWT_AUTH_INVALID_OPTION')
    t.match(error.message, /realm/)
  }
})
