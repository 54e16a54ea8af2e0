// Issue 12 §1: no response to an unsafe request from another origin sets or clears a cookie of
// the plugin, however the token came (login CSRF, forced logout); Bearer and body-token clients
// (no Origin, or the server's own) keep getting both cookies and bodies. test/browser/cross-site
// proves the same in Chromium.
import t from 'tap'
import { bearer, buildApp, login } from './helpers.js'

const crossSite = [
  { origin: 'http://evil.test' },
  { 'sec-fetch-site': 'cross-site' },
  { 'sec-fetch-site': 'same-site' }
]

t.test('a cross-origin refresh with a body token answers in the body and writes no cookie', async t => {
  const app = await buildApp({ cookies: { secure: false, allowedOrigins: ['http://app.test'] } })
  t.teardown(() => app.close())
  for (const headers of crossSite) {
    const { refresh_token: token } = await login(app)
    const response = await app.inject({ method: 'POST', url: '/auth/refresh', headers, payload: { refresh_token: token } })
    t.equal(response.statusCode, 200, JSON.stringify(headers))
    t.type(response.json().refresh_token, 'string', 'the body-token client gets its pair')
    t.same(response.cookies, [], 'no cookie is set')
  }
  for (const headers of [{}, { origin: 'http://localhost:80' }, { origin: 'http://app.test' }, { 'sec-fetch-site': 'same-origin' }]) {
    const { refresh_token: token } = await login(app)
    const response = await app.inject({ method: 'POST', url: '/auth/refresh', headers, payload: { refresh_token: token } })
    t.equal(response.statusCode, 200)
    t.same(response.cookies.map(cookie => cookie.name).sort(), ['access_token', 'refresh_token'], `cookies set with ${JSON.stringify(headers)}`)
  }
})

t.test('a cross-origin refused refresh or logout clears no cookie', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (const headers of crossSite) {
    const refused = await app.inject({ method: 'POST', url: '/auth/refresh', headers, payload: { refresh_token: 'garbage' } })
    t.equal(refused.statusCode, 400)
    t.same(refused.cookies, [])
    const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers, payload: { refresh_token: 'garbage' } })
    t.equal(logout.statusCode, 204)
    t.same(logout.cookies, [], 'logout with an unknown token clears nothing cross-origin')
  }
  const sameOrigin = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'garbage' } })
  t.equal(sameOrigin.cookies.filter(cookie => cookie.value === '').length, 2, 'from the same origin it still clears both')
})

t.test('Bearer calls from another origin end sessions but leave the browser\'s cookies alone', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (const url of ['/auth/logout-all', '/auth/logout']) {
    const { access_token: token } = await login(app)
    const response = await app.inject({ method: 'POST', url, headers: { ...bearer(token), origin: 'http://evil.test' } })
    t.equal(response.statusCode, 204, url)
    t.same(response.cookies, [])
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).statusCode, 401, 'the session ended')
  }
})

t.test('issueTokens writes cookies for a cross-site GET (an SSO callback) but not for a cross-origin POST', async t => {
  const app = await buildApp({}, {})
  app.get('/callback', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }))
  t.teardown(() => app.close())
  const post = await app.inject({ method: 'POST', url: '/login', headers: { origin: 'http://evil.test' }, payload: {} })
  t.equal(post.statusCode, 200)
  t.same(post.cookies, [])
  const callback = await app.inject({ method: 'GET', url: '/callback', headers: { 'sec-fetch-site': 'cross-site' } })
  t.equal(callback.cookies.length, 2)
})

t.test('nor the fingerprint and anti-CSRF cookies', async t => {
  const app = await buildApp({ fingerprint: true, cookies: { sameSite: 'none', csrf: true } })
  t.teardown(() => app.close())
  const { refresh_token: token } = await login(app)
  const response = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: 'http://evil.test' }, payload: { refresh_token: token } })
  t.equal(response.statusCode, 200)
  t.same(response.cookies, [])
})
