// Mistakes made while adopting the plugin fail loudly with a code and a message that names the fix.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import jwtAuth from '../lib/index.js'
import type { JwtAuthOptions } from '../lib/index.js'
import { bearer, buildApp, login, refresh, registrationError, secret } from './helpers.js'

t.test('an unknown option key is refused, naming the nearest known option', async t => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ cookie: { secure: false } }, /Unknown option cookie: did you mean cookies\?/],
    [{ Issuer: 'x' }, /Unknown option Issuer: did you mean issuer\?/],
    [{ accessToken: { expiresin: '5m' } }, /Unknown option accessToken.expiresin: did you mean accessToken.expiresIn\?/],
    [{ refreshToken: { reuseGrance: '5s' } }, /refreshToken.reuseGrance: did you mean refreshToken.reuseGrace/],
    [{ cookies: { allowedOrigin: ['https://a.example'] } }, /cookies.allowedOrigin: did you mean cookies.allowedOrigins/],
    [{ routes: { prefx: '/auth' } }, /routes.prefx: did you mean routes.prefix/],
    [{ revocation: { replicas: true } }, /revocation.replicas: did you mean revocation.replica/]
  ]
  for (const [options, message] of cases) {
    t.match(await registrationError({ secret, ...options }), { code: 'FST_JWT_AUTH_UNKNOWN_OPTION', message }, JSON.stringify(options))
  }
  const app = await buildApp({ cookies: true, routes: { prefix: '/auth' }, accessToken: { expiresIn: '5m' } })
  await app.close()
  t.pass('known options in every group still register')
})

t.test('registering the plugin twice in one scope names the fix', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret } as JwtAuthOptions)
  await t.rejects(async () => { await app.register(jwtAuth, { secret } as JwtAuthOptions) }, {
    code: 'FST_JWT_AUTH_ALREADY_REGISTERED', message: /already registered in this scope: register it once/
  })
})

t.test('a role or scope guard without app.authenticate before it says authenticate must run first', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  app.get('/roles-only', { preHandler: app.requireRoles('user') }, async () => 'never')
  app.get('/scopes-only', { preHandler: app.requireScopes('read') }, async () => 'never')
  const tokens = await login(app)
  for (const [url, guard] of [['/roles-only', 'requireRoles'], ['/scopes-only', 'requireScopes']]) {
    const response = await app.inject({ url, headers: bearer(tokens.access_token) })
    t.equal(response.statusCode, 401, `${url}: refused (no 5xx from a request), even with a valid token`)
    t.match(response.json(), {
      code: 'FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE',
      message: `${guard} ran without app.authenticate before it: use { preHandler: [app.authenticate, app.${guard}(...)] }`
    })
  }
})

t.test('a cross-origin refusal names cookies.allowedOrigins', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const response = await app.inject({
    method: 'POST', url: '/auth/refresh', headers: { cookie: `refresh_token=${tokens.refresh_token}`, origin: 'https://elsewhere.example' }
  })
  t.equal(response.statusCode, 403)
  t.match(response.json().message, /cookies\.allowedOrigins/)
})

t.test('a reserved claim in issueTokens fails to compile with a message that reads as the fix', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fja-hint-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'app.ts')
  const types = join(__dirname, '../lib/types.js').replaceAll('\\', '/')
  writeFileSync(file, `import type { IssueTokens } from '${types}'\ndeclare const issue: IssueTokens\nvoid issue({ sub: 'alice', exp: 5 })\n`)
  const tsc = join(__dirname, '../node_modules/typescript/bin/tsc')
  const output = await promisify(execFile)(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--types', 'node', file])
    .then(() => '', (error: { stdout?: string }) => String(error.stdout))
  t.match(output, /Type 'number' is not assignable to type 'ClaimSetByThePluginRemoveIt'/)
})

t.test('a token sent to the wrong place answers with a hint that says where it goes', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const tokens = await login(app)
  const asBearer = await app.inject({ url: '/me', headers: bearer(tokens.refresh_token) })
  t.equal(asBearer.statusCode, 401)
  t.equal(asBearer.json().code, 'FST_JWT_AUTH_TOKEN_INVALID')
  t.match(asBearer.json().message, /refresh token, not an access token: send it to POST \/auth\/refresh/)
  t.match(asBearer.headers['www-authenticate'], /error="invalid_token", error_description="This is a refresh token/)
  t.notMatch(asBearer.body, tokens.refresh_token.split('.')[1] as string, 'the token itself is not echoed')
  const garbage = await app.inject({ url: '/me', headers: bearer('not-a-token') })
  t.equal(garbage.json().message, 'The access token is invalid', 'no hint for a token that is neither')

  const toRefresh = await refresh(app, tokens.access_token)
  t.equal(toRefresh.statusCode, 400)
  t.equal(toRefresh.json().error, 'invalid_grant')
  t.match(toRefresh.json().error_description, /access token \(a JWT\), not a refresh token/)
  t.equal((await refresh(app, 'x.y')).json().error_description, 'The refresh token is invalid')
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'the session was not harmed')
})

t.test('the refresh-token hint holds with a key ring (kid) too', async t => {
  const { generateKeyPairSync } = await import('node:crypto')
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const app = await buildApp({ secret: undefined, keys: [{ kid: 'k1', alg: 'ES256', key: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }] } as never)
  t.teardown(() => app.close())
  const tokens = await login(app)
  t.match((await app.inject({ url: '/me', headers: bearer(tokens.refresh_token) })).json().message, /This is a refresh token/)
})
