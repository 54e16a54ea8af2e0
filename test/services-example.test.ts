// The cross-service example (example/auth-service.mjs and example/resource-service.mjs) as its
// users run it: a real redis-server and both services as child processes on free ports, driven
// over HTTP with fetch. The auth service signs with an ES256 private key; the resource service
// is verify-only, with the auth service's JWKS URL and the same Redis store.
// Needs `npm run build` first: the examples import the package by its own name.
import t from 'tap'
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createHmac, createPublicKey } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { once } from 'node:events'
import { basename, join } from 'node:path'
import { freePort, startRedis } from './redis-harness.js'
import { bearer, call, logLines, root, spawnScript, stop, untilAnswering, waitForOutput } from './example-process.js'
import type { Json, Running } from './example-process.js'

const authPath = join(root, 'example', 'auth-service.mjs')
const resourcePath = join(root, 'example', 'resource-service.mjs')
const cliPath = join(root, 'dist', 'cjs', 'cli.js')
const ISSUER = 'http://auth.example'
const AUDIENCE = 'api'

interface Service extends Running {
  baseUrl: string
}

/** Starts a service on `port` and waits until it answers HTTP. */
async function startService (t: Test, script: string, port: number, env: Record<string, string>): Promise<Service> {
  const running = spawnScript(script, { PORT: String(port), ...env })
  t.teardown(() => stop(running.child))
  const baseUrl = `http://127.0.0.1:${port}`
  await untilAnswering(running, baseUrl)
  return { baseUrl, ...running }
}

/** Runs a service that must refuse to start; resolves with its exit code and output. */
async function runToExit (t: Test, script: string, env: Record<string, string>): Promise<{ code: number | null, output: string }> {
  const { child, output } = spawnScript(script, { PORT: String(await freePort()), ...env })
  t.teardown(() => stop(child))
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  return { code, output: output() }
}

/** Header and payload of a JWT, not verified. */
function decodeJwt (token: unknown): { header: Json, payload: Json } {
  const [header, payload] = String(token).split('.')
  return {
    header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as Json,
    payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Json
  }
}

/** An HS256 JWT over `header` and `payload`, "signed" with `secret`. */
function signHs256 (header: Json, payload: Json, secret: string): string {
  const encode = (part: Json): string => Buffer.from(JSON.stringify(part)).toString('base64url')
  const input = `${encode(header)}.${encode(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

interface KeygenOutput {
  kid: string
  alg: string
  privateKeyPem: string
  publicKeyPem: string
}

t.test('two services: the auth service signs with ES256, the resource service verifies through its JWKS', async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())

  // The README's way to make the signing key.
  const key = JSON.parse(execFileSync(process.execPath, [cliPath, 'keygen', '--alg', 'ES256', '--format', 'json'], { encoding: 'utf8' })) as KeygenOutput
  t.equal(key.alg, 'ES256')

  const authPort = await freePort()
  let resourcePort = await freePort()
  while (resourcePort === authPort) resourcePort = await freePort()
  const jwksUrl = `http://127.0.0.1:${authPort}/.well-known/jwks.json`

  // The resource service first: the auth service is not up, so its JWKS cannot be fetched yet.
  // JWKS_COOLDOWN=0: after the failed fetch at registration the plugin waits a second before
  // fetching again (test/jwks.test.ts covers that); 0 lets the first token fetch at once.
  const resource = await startService(t, resourcePath, resourcePort, {
    REDIS_URL: redis.url,
    AUTH_JWKS_URL: jwksUrl,
    JWKS_COOLDOWN: '0'
  })
  const auth = await startService(t, authPath, authPort, {
    REDIS_URL: redis.url,
    SIGNING_KEY: key.privateKeyPem,
    SIGNING_KID: key.kid
  })

  t.test('the resource service started without the auth service: the failed JWKS fetch is logged', async t => {
    const failed = logLines(await waitForOutput(resource, /could not fetch the JWKS/))
      .find(line => line.msg === 'fastify-jwt-auth could not fetch the JWKS')
    t.ok(failed, 'logged')
    t.equal(failed?.jwksUrl, jwksUrl)
    t.equal(failed?.level, 50, 'at error level')
    t.notMatch(auth.output(), /SIGNING_KEY is not set/, 'the auth service uses the given key, no warning')

    const anonymous = await call(resource.baseUrl, '/profiles')
    t.equal(anonymous.status, 401, 'no token: 401')
    t.equal(anonymous.body.code, 'FST_JWT_AUTH_NO_TOKEN')
  })

  let alice: Json = {}
  let bob: Json = {}

  t.test('login at the auth service: the token works at the resource service', async t => {
    const aliceLogin = await call(auth.baseUrl, '/login', { method: 'POST', json: { username: 'alice' } })
    t.equal(aliceLogin.status, 200)
    t.equal(aliceLogin.body.message, 'Logged in!')
    t.equal(aliceLogin.body.token_type, 'Bearer')
    t.type(aliceLogin.body.refresh_token, 'string')
    t.same(aliceLogin.headers.getSetCookie(), [], 'cookies off: an API for other services')
    alice = aliceLogin.body

    const { header, payload } = decodeJwt(alice.access_token)
    t.match(header, { alg: 'ES256', typ: 'at+jwt', kid: key.kid }, 'signed with the ES256 key, named by its kid')
    t.match(payload, { iss: ISSUER, aud: AUDIENCE, sub: 'alice', roles: ['user'] })

    const profile = await call(resource.baseUrl, '/profiles', { headers: bearer(alice.access_token) })
    t.equal(profile.status, 200, 'the first token fetched the JWKS again and verifies')
    t.same(profile.body, { username: 'alice', hairColor: 'brown' })

    const reports = await call(resource.baseUrl, '/reports', { headers: bearer(alice.access_token) })
    t.equal(reports.status, 403, 'alice is no admin')
    t.equal(reports.body.code, 'FST_JWT_AUTH_INSUFFICIENT_SCOPE')

    const bobLogin = await call(auth.baseUrl, '/login', { method: 'POST', json: { username: 'bob' } })
    t.equal(bobLogin.status, 200)
    bob = bobLogin.body
    const bobReports = await call(resource.baseUrl, '/reports', { headers: bearer(bob.access_token) })
    t.equal(bobReports.status, 200, 'bob is an admin')
    t.same(bobReports.body, { reports: ['sales', 'signups'], username: 'bob' })
    const bobProfile = await call(resource.baseUrl, '/profiles', { headers: bearer(bob.access_token) })
    t.same(bobProfile.body, { username: 'bob', hairColor: 'black' })

    const stranger = await call(auth.baseUrl, '/login', { method: 'POST', json: { username: 'mallory' } })
    t.equal(stranger.status, 401, 'unknown user')
    t.equal(stranger.body.code, 'EXAMPLE_UNKNOWN_USER')
  })

  t.test('the JWKS: public keys only, the token\'s kid among them; the resource service serves none', async t => {
    const response = await call(auth.baseUrl, '/.well-known/jwks.json')
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /^application\/jwk-set\+json/)
    const keys = response.body.keys as JsonWebKey[]
    t.equal(keys.length, 1)
    const [jwk] = keys
    t.same(jwk, { ...jwk, kty: 'EC', crv: 'P-256', kid: key.kid, alg: 'ES256', use: 'sig' })
    t.same(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'no private part (no d)')
    t.equal(decodeJwt(alice.access_token).header.kid, jwk?.kid, 'the token\'s kid is listed')
    const publicPem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    t.equal(String(publicPem).trim(), key.publicKeyPem.trim(), 'the public half of the key from keygen')

    t.equal((await call(resource.baseUrl, '/.well-known/jwks.json')).status, 404, 'verify-only: no JWKS route')
    t.equal((await call(resource.baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: alice.refresh_token } })).status, 404,
      'verify-only: no /auth routes')
  })

  t.test('refresh at the auth service: the new token works at the resource service', async t => {
    const refreshed = await call(auth.baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: alice.refresh_token } })
    t.equal(refreshed.status, 200)
    t.not(refreshed.body.access_token, alice.access_token, 'a new access token')
    t.not(refreshed.body.refresh_token, alice.refresh_token, 'the refresh token rotated')
    t.equal(decodeJwt(refreshed.body.access_token).header.kid, key.kid)
    const profile = await call(resource.baseUrl, '/profiles', { headers: bearer(refreshed.body.access_token) })
    t.equal(profile.status, 200)
    t.same(profile.body, { username: 'alice', hairColor: 'brown' })
    alice = { ...refreshed.body, first_access_token: alice.access_token }
  })

  t.test('bob revokes alice at the auth service: her tokens are refused at the resource service', async t => {
    const byAlice = await call(auth.baseUrl, '/admin/revoke-user', { method: 'POST', headers: bearer(alice.access_token), json: { username: 'bob' } })
    t.equal(byAlice.status, 403, 'only an admin may')
    t.equal((await call(auth.baseUrl, '/admin/revoke-user', { method: 'POST', json: { username: 'alice' } })).status, 401, 'nor anonymously')

    const revoked = await call(auth.baseUrl, '/admin/revoke-user', { method: 'POST', headers: bearer(bob.access_token), json: { username: 'alice' } })
    t.equal(revoked.status, 200)
    t.same(revoked.body, { username: 'alice', sessions: 1 })

    for (const [name, token] of [['refreshed', alice.access_token], ['first', alice.first_access_token]]) {
      const refused = await call(resource.baseUrl, '/profiles', { headers: bearer(token) })
      t.equal(refused.status, 401, `alice's ${String(name)} access token: 401`)
      t.equal(refused.body.code, 'FST_JWT_AUTH_TOKEN_REVOKED')
      t.match(refused.headers.get('www-authenticate'), /error="invalid_token"/)
    }
    const refresh = await call(auth.baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: alice.refresh_token } })
    t.equal(refresh.status, 400, 'her refresh token is dead too')
    t.equal(refresh.body.error, 'invalid_grant')

    t.equal((await call(resource.baseUrl, '/reports', { headers: bearer(bob.access_token) })).status, 200, 'bob is still logged in')
  })

  t.test('an HS256 token "signed" with the auth service\'s public key is refused', async t => {
    const { body } = await call(auth.baseUrl, '/.well-known/jwks.json')
    const jwk = (body.keys as JsonWebKey[])[0] as JsonWebKey
    const publicPem = String(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }))
    // Bob's own claims (a live session, a fresh jti): only the algorithm and signature differ.
    const { header, payload } = decodeJwt(bob.access_token)
    t.equal(header.kid, jwk.kid)
    for (const [name, secret] of [['the PEM', publicPem], ['the PEM without its last newline', publicPem.trimEnd()]] as const) {
      const forged = signHs256({ ...header, alg: 'HS256' }, payload, secret)
      const response = await call(resource.baseUrl, '/reports', { headers: bearer(forged) })
      t.equal(response.status, 401, `HS256 with ${name}: 401`)
      t.equal(response.body.code, 'FST_JWT_AUTH_TOKEN_INVALID')
    }
    t.equal((await call(resource.baseUrl, '/reports', { headers: bearer(bob.access_token) })).status, 200, 'the real token still passes')
  })
})

t.test('the auth service without SIGNING_KEY makes a key at start and warns', async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const auth = await startService(t, authPath, await freePort(), { REDIS_URL: redis.url })
  const warning = logLines(await waitForOutput(auth, /SIGNING_KEY is not set/)).find(line => line.level === 40)
  t.match(warning, { kid: String, msg: /every token dies with this process/ })
  const { body } = await call(auth.baseUrl, '/.well-known/jwks.json')
  t.same((body.keys as JsonWebKey[]).map(jwk => jwk.kid), [warning?.kid], 'the JWKS lists the key made at start')
  const login = await call(auth.baseUrl, '/login', { method: 'POST', json: { username: 'alice' } })
  t.equal(decodeJwt(login.body.access_token).header.kid, warning?.kid, 'and tokens carry its kid')
})

t.test('a missing REDIS_URL or SIGNING_KID stops a service at start with a clear message', async t => {
  for (const script of [authPath, resourcePath]) {
    const { code, output } = await runToExit(t, script, {})
    t.equal(code, 1, `${basename(script)}: exit code 1`)
    t.match(output, /REDIS_URL is required/)
  }
  const { code, output } = await runToExit(t, authPath, { REDIS_URL: 'redis://127.0.0.1:1', SIGNING_KEY: 'some key' })
  t.equal(code, 1)
  t.match(output, /SIGNING_KID is required with SIGNING_KEY/)
})
