// The example app (example/server.mjs) as its users run it: a real child process on a free
// port, driven over HTTP with fetch and by its Postman collection under newman.
// Needs `npm run build` first: the example imports the package by its own name.
import t from 'tap'
import type { Test } from 'tap'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort, startRedis } from './redis-harness.js'
import { bearer, call, logLines, root, spawnScript, stop, untilAnswering, waitForOutput } from './example-process.js'
import type { Json, Reply, Running } from './example-process.js'
// @ts-expect-error newman ships no type declarations; the part used here is typed by `Newman` below.
import newmanUntyped from 'newman'

interface NewmanSummary {
  run: {
    failures: Array<{ error: { name: string, message: string, test?: string }, source?: { name?: string } }>
    executions: unknown[]
    stats: {
      requests: { total: number, failed: number }
      assertions: { total: number, failed: number }
      testScripts: { total: number, failed: number }
    }
  }
}
interface Newman {
  run (options: Record<string, unknown>, callback: (error: Error | null, summary: NewmanSummary) => void): unknown
}
const newman: Newman = newmanUntyped

const serverPath = join(root, 'example', 'server.mjs')
const collectionPath = join(root, 'example', 'postman_collection.json')
const secret = 'example-test-secret-0123456789-abcdefghijklmnop'

interface Example extends Running {
  baseUrl: string
}

/** Starts `node example/<script>` on `port` with only the given example variables set. */
function spawnExample (env: Record<string, string>, port: number, script = serverPath): Running {
  return spawnScript(script, { PORT: String(port), ...env })
}

async function startExample (t: Test, env: Record<string, string>): Promise<Example> {
  const port = await freePort()
  const running = spawnExample(env, port)
  t.teardown(() => stop(running.child))
  const baseUrl = `http://127.0.0.1:${port}`
  await untilAnswering(running, baseUrl, '/profiles')
  return { baseUrl, ...running }
}

async function login (baseUrl: string, username: string): Promise<Reply> {
  return await call(baseUrl, '/login', { method: 'POST', json: { username } })
}

/** name=value of a Set-Cookie line. */
function cookiePair (setCookie: string): string {
  return setCookie.split(';')[0] as string
}

t.test('the example app over HTTP', async t => {
  const example = await startExample(t, { JWT_SECRET: secret, REUSE_GRACE: '0s' })
  const { baseUrl } = example

  t.test('login as alice: token response body and HttpOnly cookies', async t => {
    const response = await login(baseUrl, 'alice')
    t.equal(response.status, 200)
    t.same(Object.keys(response.body).sort(), ['access_token', 'expires_in', 'message', 'refresh_token', 'token_type'])
    t.equal(response.body.message, 'Logged in!')
    t.equal(response.body.token_type, 'Bearer')
    t.equal(response.body.expires_in, 900)
    t.type(response.body.access_token, 'string')
    t.type(response.body.refresh_token, 'string')
    t.equal(response.headers.get('cache-control'), 'no-store')

    const cookies = response.headers.getSetCookie()
    t.equal(cookies.length, 2, 'two cookies are set')
    const access = cookies.find(cookie => cookie.startsWith('access_token=')) ?? ''
    const refresh = cookies.find(cookie => cookie.startsWith('refresh_token=')) ?? ''
    t.equal(cookiePair(access), `access_token=${String(response.body.access_token)}`)
    t.match(access, /; HttpOnly(;|$)/)
    t.match(access, /; Path=\/(;|$)/)
    t.match(access, /; SameSite=Lax(;|$)/)
    t.match(access, /; Max-Age=900(;|$)/)
    t.equal(cookiePair(refresh), `refresh_token=${String(response.body.refresh_token)}`)
    t.match(refresh, /; HttpOnly(;|$)/)
    t.match(refresh, /; Path=\/auth(;|$)/)
    t.match(refresh, /; SameSite=Strict(;|$)/)
    for (const cookie of cookies) t.notMatch(cookie, /; Secure/i, 'not Secure outside production')
  })

  t.test('/profiles with the cookie only, and with the Bearer header only', async t => {
    const response = await login(baseUrl, 'alice')
    const accessCookie = cookiePair(response.headers.getSetCookie().find(cookie => cookie.startsWith('access_token=')) ?? '')

    const byCookie = await call(baseUrl, '/profiles', { headers: { cookie: accessCookie } })
    t.equal(byCookie.status, 200, 'by cookie')
    t.same(byCookie.body, { username: 'alice', hairColor: 'brown' })

    const byBearer = await call(baseUrl, '/profiles', { headers: bearer(response.body.access_token) })
    t.equal(byBearer.status, 200, 'by Bearer')
    t.same(byBearer.body, { username: 'alice', hairColor: 'brown' })

    const bob = await login(baseUrl, 'bob')
    const bobProfile = await call(baseUrl, '/profiles', { headers: bearer(bob.body.access_token) })
    t.same(bobProfile.body, { username: 'bob', hairColor: 'black' })

    const anonymous = await call(baseUrl, '/profiles')
    t.equal(anonymous.status, 401, 'neither: 401')
    t.match(anonymous.headers.get('www-authenticate'), /^Bearer realm="/)
  })

  t.test('/admin: alice (user) gets 403, bob (admin) gets 200', async t => {
    const alice = await login(baseUrl, 'alice')
    const refused = await call(baseUrl, '/admin', { headers: bearer(alice.body.access_token) })
    t.equal(refused.status, 403)
    t.match(refused.headers.get('www-authenticate'), /error="insufficient_scope"/)
    t.equal(refused.body.code, 'FST_JWT_AUTH_INSUFFICIENT_SCOPE')

    const bob = await login(baseUrl, 'bob')
    const welcomed = await call(baseUrl, '/admin', { headers: bearer(bob.body.access_token) })
    t.equal(welcomed.status, 200)
    t.same(welcomed.body, { message: 'Welcome, admin', username: 'bob' })
  })

  t.test('refresh rotates, and the old refresh token is refused afterwards', async t => {
    const first = await login(baseUrl, 'alice')
    const rotated = await call(baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: first.body.refresh_token } })
    t.equal(rotated.status, 200)
    t.equal(rotated.body.token_type, 'Bearer')
    t.type(rotated.body.refresh_token, 'string')
    t.not(rotated.body.refresh_token, first.body.refresh_token, 'a new refresh token')
    t.not(rotated.body.access_token, first.body.access_token, 'a new access token')
    const profile = await call(baseUrl, '/profiles', { headers: bearer(rotated.body.access_token) })
    t.equal(profile.status, 200, 'the new access token works')

    await sleep(5) // past the rotation's millisecond: REUSE_GRACE is 0s
    const reused = await call(baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: first.body.refresh_token } })
    t.equal(reused.status, 400)
    t.equal(reused.body.error, 'invalid_grant')
  })

  t.test('an unknown user gets 401 in Fastify\'s error shape', async t => {
    const response = await login(baseUrl, 'mallory')
    t.equal(response.status, 401)
    t.same(response.body, { statusCode: 401, code: 'EXAMPLE_UNKNOWN_USER', error: 'Unauthorized', message: 'Unknown user' })
    t.same(response.headers.getSetCookie(), [], 'no cookies')
  })

  t.test('malformed or invalid login bodies get 400, never 5xx', async t => {
    const malformed = await call(baseUrl, '/login', { method: 'POST', raw: '{"username": "alice"' })
    t.equal(malformed.status, 400, 'unparsable JSON')
    t.equal(malformed.body.code, 'FST_ERR_CTP_INVALID_JSON_BODY')

    for (const json of [{}, { username: '' }, { username: 'a'.repeat(65) }, [], 'alice', null]) {
      const response = await call(baseUrl, '/login', { method: 'POST', raw: JSON.stringify(json) })
      t.equal(response.status, 400, `body ${JSON.stringify(json).slice(0, 20)}`)
      t.equal(response.body.code, 'FST_ERR_VALIDATION')
    }
  })

  t.test('the API docs: the swagger-ui page at /docs and the OpenAPI document at /docs/json', async t => {
    const page = await fetch(`${baseUrl}/docs`)
    t.equal(page.status, 200)
    t.match(page.headers.get('content-type'), /^text\/html/)
    t.match(await page.text(), /swagger-ui/i, 'the swagger-ui page')

    const docs = await call(baseUrl, '/docs/json')
    t.equal(docs.status, 200)
    const document = docs.body as {
      paths: Record<string, Record<string, { security?: unknown, responses: Record<string, unknown> }>>
      components: { securitySchemes: Record<string, { type: string, scheme: string }> }
    }
    t.match(document.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' }, 'the bearer scheme')
    t.same(document.paths['/profiles']?.get?.security, [{ bearerAuth: [] }], '/profiles needs a bearer token')
    t.same(document.paths['/admin']?.get?.security, [{ bearerAuth: [] }])
    t.equal(document.paths['/login']?.post?.security, undefined, '/login needs none')
    for (const [path, method] of [['/auth/refresh', 'post'], ['/auth/revoke', 'post'], ['/auth/logout', 'post'], ['/auth/logout-all', 'post'], ['/auth/sessions', 'get'], ['/auth/sessions/{*}', 'delete']]) {
      t.ok(document.paths[path as string]?.[method as string]?.responses['503'], `${method?.toUpperCase()} ${path} with its errors`)
    }
    t.ok(document.paths['/auth/refresh']?.post?.responses['429'], 'the example limits the token endpoints')
  })

})

t.test('the example steps a session up at POST /confirm; GET /settings wants a recent authentication (RFC 9470)', async t => {
  const { baseUrl } = await startExample(t, { JWT_SECRET: secret, SETTINGS_MAX_AGE: '1s' })
  const alice = await login(baseUrl, 'alice')
  const claims = (token: unknown): Json => JSON.parse(Buffer.from(String(token).split('.')[1] as string, 'base64url').toString('utf8')) as Json
  const loginClaims = claims(alice.body.access_token)
  t.same(loginClaims.amr, ['pwd'], 'the login names its method')
  const fresh = await call(baseUrl, '/settings', { headers: bearer(alice.body.access_token) })
  t.equal(fresh.status, 200)
  t.equal(fresh.body.authenticatedAt, new Date((loginClaims.auth_time as number) * 1000).toISOString())

  await sleep(2100) // past SETTINGS_MAX_AGE, and into a later second for auth_time
  const stale = await call(baseUrl, '/settings', { headers: bearer(alice.body.access_token) })
  t.equal(stale.status, 401)
  t.equal(stale.headers.get('www-authenticate'), 'Bearer realm="fastify-jwt-auth", error="insufficient_user_authentication", error_description="The authentication is too old for this request: authenticate again (at most 1 s ago)", max_age=1')
  t.equal(stale.body.code, 'FST_JWT_AUTH_INSUFFICIENT_USER_AUTHENTICATION')

  const wrong = await call(baseUrl, '/confirm', { method: 'POST', headers: bearer(alice.body.access_token), json: { username: 'bob' } })
  t.equal(wrong.status, 401, 'a confirmation as someone else is refused')
  t.equal(wrong.body.code, 'EXAMPLE_WRONG_CONFIRMATION')
  const confirmed = await call(baseUrl, '/confirm', { method: 'POST', headers: bearer(alice.body.access_token), json: { username: 'alice' } })
  t.equal(confirmed.status, 200)
  t.equal(confirmed.body.message, 'Confirmed!')
  const stepped = claims(confirmed.body.access_token)
  t.equal(stepped.sid, loginClaims.sid, 'the same session')
  t.ok((stepped.auth_time as number) > (loginClaims.auth_time as number), 'auth_time moved to the confirmation')
  t.equal((await call(baseUrl, '/settings', { headers: bearer(confirmed.body.access_token) })).status, 200)
  const spent = await call(baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: alice.body.refresh_token } })
  t.equal(spent.status, 400, 'the refresh token from before the confirmation is spent')

  const forgetful = await call(baseUrl, '/login', { method: 'POST', json: { username: 'alice', remember: false } })
  t.equal(forgetful.status, 200)
  for (const cookie of forgetful.headers.getSetCookie()) t.notMatch(cookie, /Max-Age|Expires/i, 'without remember-me: browser-session cookies')
})

// The README starts the example with `npm run example` and nothing else: no JWT_SECRET, the
// default 10 s reuse grace. The collection must pass against exactly that.
t.test('the Postman collection passes under newman against the example as the README starts it', async t => {
  const { baseUrl } = await startExample(t, {})
  const collection = JSON.parse(readFileSync(collectionPath, 'utf8')) as {
    variable: Array<{ key: string, value: string }>
    item: Array<{ name: string, event?: Array<{ listen: string, script: { exec: string[] } }> }>
  }
  t.equal(collection.variable.find(variable => variable.key === 'baseUrl')?.value, 'http://127.0.0.1:3000', 'baseUrl default')
  // Count the pm.test() calls of the test scripts, so that a run that skipped some cannot pass.
  let expectedAssertions = 0
  for (const item of collection.item) {
    for (const event of item.event ?? []) {
      if (event.listen === 'test') expectedAssertions += event.script.exec.join('\n').match(/\bpm\.test\(/g)?.length ?? 0
    }
  }
  t.ok(expectedAssertions >= collection.item.length, 'every request has at least one assertion')

  const summary = await new Promise<NewmanSummary>((resolve, reject) => {
    newman.run({
      collection,
      envVar: [{ key: 'baseUrl', value: baseUrl }],
      reporters: [],
      timeoutRequest: 5000
    }, (error, summary) => { if (error === null) resolve(summary); else reject(error) })
  })
  const failures = summary.run.failures.map(failure => `${failure.source?.name ?? '?'}: ${failure.error.test ?? failure.error.name}: ${failure.error.message}`)
  t.same(failures, [], 'no failures')
  t.equal(summary.run.failures.length, 0)
  t.equal(summary.run.stats.requests.total, collection.item.length, 'every request ran')
  t.equal(summary.run.stats.requests.failed, 0)
  t.equal(summary.run.stats.assertions.total, expectedAssertions, 'every assertion of the collection ran')
  t.equal(summary.run.stats.assertions.failed, 0)
})

t.test('without JWT_SECRET the example warns and still serves login', async t => {
  const example = await startExample(t, {})
  const response = await login(example.baseUrl, 'alice')
  t.equal(response.status, 200)
  t.equal(response.body.message, 'Logged in!')
  const profile = await call(example.baseUrl, '/profiles', { headers: bearer(response.body.access_token) })
  t.same(profile.body, { username: 'alice', hairColor: 'brown' }, 'its tokens work')

  const output = await waitForOutput(example, /JWT_SECRET is not set/)
  const warning = logLines(output).find(line => String(line.msg).includes('JWT_SECRET'))
  t.equal(warning?.level, 40, 'logged at warn level')
  t.match(String(warning?.msg), /will not survive a restart/)
  t.match(String(warning?.msg), /Set JWT_SECRET/)
})

t.test('a JWT_SECRET shorter than 32 bytes stops the example with the plugin\'s error', async t => {
  const { child, output } = spawnExample({ JWT_SECRET: 'too-short' }, await freePort())
  t.teardown(() => stop(child))
  const [code] = await once(child, 'exit') as [number | null]
  t.not(code, 0, 'non-zero exit')
  t.match(output(), /FST_JWT_AUTH_WEAK_SECRET/)
  t.notMatch(output(), /too-short/, 'the secret is not printed')
})

t.test('with REDIS_URL the example keeps its sessions in Redis, under its prefix, without logging the URL', async t => {
  const redis = await startRedis()
  t.teardown(redis.stop)
  const example = await startExample(t, { JWT_SECRET: secret, REDIS_URL: redis.url, REDIS_PREFIX: 'example-test:' })
  const response = await login(example.baseUrl, 'alice')
  t.equal(response.status, 200)
  t.equal((await call(example.baseUrl, '/profiles', { headers: bearer(response.body.access_token) })).status, 200)
  const client = new Redis(redis.port)
  t.teardown(() => client.disconnect())
  const keys = await client.keys('example-test:*')
  t.ok(keys.some(key => key.includes(':s:')), 'the session is in Redis')
  const output = await waitForOutput(example, /using the Redis store/)
  t.notOk(output.includes(redis.url), 'the URL (it may hold a password) is not logged')
})

t.test('two instances on one Redis: log in on one, refresh on the other, log out on one, refused on the other', async t => {
  const redis = await startRedis()
  t.teardown(redis.stop)
  const [portA, portB] = [await freePort(), await freePort()]
  const example = spawnExample({ JWT_SECRET: secret, REDIS_URL: redis.url, PORT_A: String(portA), PORT_B: String(portB) }, 0, join(root, 'example', 'two-instances.mjs'))
  t.teardown(() => stop(example.child))
  const a = `http://127.0.0.1:${portA}`
  const b = `http://127.0.0.1:${portB}`
  await untilAnswering(example, a)
  await untilAnswering(example, b)

  const loggedIn = await login(a, 'alice')
  t.equal(loggedIn.status, 200, 'login on A')
  t.equal((await call(b, '/profiles', { headers: bearer(loggedIn.body.access_token) })).status, 200, "A's token works on B")
  const refreshed = await call(b, '/auth/refresh', { method: 'POST', json: { refresh_token: loggedIn.body.refresh_token } })
  t.equal(refreshed.status, 200, 'refresh on B')
  const reused = await call(a, '/auth/refresh', { method: 'POST', json: { refresh_token: refreshed.body.refresh_token } })
  t.equal(reused.status, 200, "B's successor rotates on A")
  const token = reused.body.access_token
  t.equal((await call(a, '/auth/logout', { method: 'POST', headers: bearer(token) })).status, 204, 'logout on A')
  const refused = await call(b, '/profiles', { headers: bearer(token) })
  t.equal(refused.status, 401, 'refused on B')
  t.equal(refused.body.code, 'FST_JWT_AUTH_TOKEN_REVOKED')
})

t.test('two instances with REPLICA=1: a logout on A is refused on B within a second, with no restart', async t => {
  const redis = await startRedis()
  t.teardown(redis.stop)
  const [portA, portB] = [await freePort(), await freePort()]
  const example = spawnExample({ JWT_SECRET: secret, REDIS_URL: redis.url, REPLICA: '1', PORT_A: String(portA), PORT_B: String(portB) }, 0, join(root, 'example', 'two-instances.mjs'))
  t.teardown(() => stop(example.child))
  const a = `http://127.0.0.1:${portA}`
  const b = `http://127.0.0.1:${portB}`
  await untilAnswering(example, a)
  await untilAnswering(example, b)
  const token = (await login(a, 'alice')).body.access_token
  t.equal((await call(b, '/profiles', { headers: bearer(token) })).status, 200, "A's token works on B")
  t.equal((await call(a, '/auth/logout', { method: 'POST', headers: bearer(token) })).status, 204, 'logout on A')
  t.equal((await call(a, '/profiles', { headers: bearer(token) })).status, 401, 'refused on A at once')
  await new Promise(resolve => setTimeout(resolve, 1000))
  const refused = await call(b, '/profiles', { headers: bearer(token) })
  t.equal(refused.status, 401, 'refused on B after maxStaleness')
  t.equal(refused.body.code, 'FST_JWT_AUTH_TOKEN_REVOKED')
})

t.test('two-instances refuses to start without REDIS_URL and JWT_SECRET', async t => {
  const { child, output } = spawnExample({}, 0, join(root, 'example', 'two-instances.mjs'))
  t.teardown(() => stop(child))
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 1)
  t.match(output(), /Set REDIS_URL and JWT_SECRET/)
})

t.test('the example limits logins to 20 a minute per client (429 after)', async t => {
  const example = await startExample(t, { JWT_SECRET: secret })
  const statuses: number[] = []
  for (let i = 0; i < 21; i++) statuses.push((await login(example.baseUrl, 'alice')).status)
  t.equal(statuses.filter(status => status === 200).length, 20)
  const limited = await login(example.baseUrl, 'alice')
  t.equal(limited.status, 429)
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'with Retry-After')
})
