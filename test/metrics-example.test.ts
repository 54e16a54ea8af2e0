// The metrics example (example/metrics.mjs) as its users run it: a real child process whose
// GET /metrics counts, in the Prometheus text format, the events and refusals it saw on the
// plugin's diagnostics channels. Needs `npm run build` first.
import t from 'tap'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './redis-harness.js'
import { bearer, call, root, spawnScript, stop, untilAnswering } from './example-process.js'

const secret = 'metrics-test-secret-0123456789-abcdefghijklmnop'

/** The samples of a Prometheus text page: `name{labels}` -> value. */
function samples (text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    values.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return values
}

t.test('GET /metrics counts security events and refused requests', async t => {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const running = spawnScript(join(root, 'example', 'metrics.mjs'), { PORT: String(port), JWT_SECRET: secret, REUSE_GRACE: '0s' })
  t.teardown(() => stop(running.child))
  await untilAnswering(running, baseUrl, '/metrics')

  const before = await fetch(`${baseUrl}/metrics`)
  t.equal(before.status, 200)
  t.match(before.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const initial = await before.text()
  t.match(initial, /# TYPE fastify_jwt_auth_events_total counter/)
  t.equal(samples(initial).get('fastify_jwt_auth_events_total{type="reuse-detected"}'), 0, 'every event type starts at 0')

  const loggedIn = await call(baseUrl, '/login', { method: 'POST', json: { username: 'alice' } })
  t.equal(loggedIn.status, 200)
  t.equal((await call(baseUrl, '/profiles')).status, 401, 'no token')
  t.equal((await call(baseUrl, '/admin', { headers: bearer(loggedIn.body.access_token) })).status, 403, 'alice is no admin')
  const refreshed = await call(baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: loggedIn.body.refresh_token } })
  t.equal(refreshed.status, 200)
  await sleep(5) // past the rotation's millisecond: REUSE_GRACE is 0s
  const reused = await call(baseUrl, '/auth/refresh', { method: 'POST', json: { refresh_token: loggedIn.body.refresh_token } })
  t.equal(reused.status, 400, 'reuse')

  const page = await (await fetch(`${baseUrl}/metrics`)).text()
  const counted = samples(page)
  t.equal(counted.get('fastify_jwt_auth_events_total{type="issued"}'), 1)
  t.equal(counted.get('fastify_jwt_auth_events_total{type="refreshed"}'), 1)
  t.equal(counted.get('fastify_jwt_auth_events_total{type="reuse-detected"}'), 1)
  t.equal(counted.get('fastify_jwt_auth_events_total{type="user-revoked"}'), 0)
  t.equal(counted.get('fastify_jwt_auth_refusals_total{code="FST_JWT_AUTH_NO_TOKEN",status="401",route="/profiles"}'), 1)
  t.equal(counted.get('fastify_jwt_auth_refusals_total{code="FST_JWT_AUTH_INSUFFICIENT_SCOPE",status="403",route="/admin"}'), 1)
  t.equal(counted.get('fastify_jwt_auth_refusals_total{code="FST_JWT_AUTH_INVALID_GRANT",status="400",route="/auth/refresh"}'), 1)
  for (const token of [loggedIn.body.access_token, loggedIn.body.refresh_token, refreshed.body.refresh_token]) {
    t.notOk(page.includes(String(token)), 'no token on the metrics page')
  }
})

t.test('a refusal in a not-found handler, which has no route pattern, is counted with route=""', async t => {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const guard = pathToFileURL(join(root, 'test', 'fixtures', 'not-found-guard.mjs')).href
  const running = spawnScript(join(root, 'example', 'metrics.mjs'), { PORT: String(port), JWT_SECRET: secret, NODE_OPTIONS: `--import=${guard}` })
  t.teardown(() => stop(running.child))
  await untilAnswering(running, baseUrl, '/metrics')

  t.equal((await call(baseUrl, '/nowhere')).status, 401, 'refused by app.authenticate in the not-found handler')
  const counted = samples(await (await fetch(`${baseUrl}/metrics`)).text())
  t.equal(counted.get('fastify_jwt_auth_refusals_total{code="FST_JWT_AUTH_NO_TOKEN",status="401",route=""}'), 1)
  t.notOk([...counted.keys()].some(sample => sample.includes('route="undefined"')))
})
