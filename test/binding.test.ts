// Browser-binding defences: the fingerprint cookie (token sidejacking), the anti-CSRF token
// mode for SameSite=None apps, the default cross-origin refusal on every unsafe method and
// route, and rate limits on the token endpoints.
import t from 'tap'
import { createHash } from 'node:crypto'
import Fastify from 'fastify'
import rateLimit from '@fastify/rate-limit'
import jwtAuth from '../lib/index.js'
import { bearer, buildApp, cookieValues, decodePart, login, refresh, registrationError, secret } from './helpers.js'

const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url')

t.test('fingerprint: a hardened cookie whose SHA-256 is in the token', async t => {
  const app = await buildApp({ fingerprint: true, cookies: true })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  const cookie = response.cookies.find(c => c.name === '__Secure-Fgp')
  t.match(cookie, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' })
  const { access_token: token } = response.json()
  t.equal(decodePart(token, 1).fgp, sha256(cookie?.value as string))

  const bound = await app.inject({ url: '/me', headers: bearer(token), cookies: { '__Secure-Fgp': cookie?.value as string } })
  t.equal(bound.statusCode, 200, 'token and its cookie')
  const stolen = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(stolen.statusCode, 401, 'the token alone (stolen) is refused')
  t.equal(stolen.json().code, 'FST_JWT_AUTH_FINGERPRINT_MISMATCH')
  t.match(stolen.headers['www-authenticate'], /error="invalid_token"/)
  const otherCookie = (await app.inject({ method: 'POST', url: '/login' })).cookies.find(c => c.name === '__Secure-Fgp')?.value as string
  t.equal((await app.inject({ url: '/me', headers: bearer(token), cookies: { '__Secure-Fgp': otherCookie } })).statusCode, 401, "another browser's cookie")
  t.equal((await app.inject({ url: '/me', headers: bearer(token), cookies: { '__Secure-Fgp': '' } })).statusCode, 401, 'an empty cookie')
})

t.test('fingerprint: each refresh binds anew; logout clears it; plain name over HTTP', async t => {
  const app = await buildApp({ fingerprint: true })
  t.teardown(() => app.close())
  const first = await login(app)
  t.type(first.cookies.fgp, 'string', 'named fgp when cookies are not Secure')
  const rotated = await refresh(app, first.refresh_token)
  const next = cookieValues(rotated)
  t.not(next.fgp, first.cookies.fgp)
  const token = rotated.json().access_token
  t.equal((await app.inject({ url: '/me', headers: bearer(token), cookies: { fgp: next.fgp as string } })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(token), cookies: { fgp: first.cookies.fgp as string } })).statusCode, 401, 'the old fingerprint no longer fits')
  const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(token), cookies: { fgp: next.fgp as string } })
  t.equal(out.statusCode, 204)
  t.ok(out.cookies.some(c => c.name === 'fgp' && c.value === ''), 'cleared')
})

t.test('fingerprint: a stolen access token alone cannot log the victim out either', async t => {
  const app = await buildApp({ fingerprint: true })
  t.teardown(() => app.close())
  const victim = await login(app)
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(victim.access_token), payload: { refresh_token: 'junk' } })
  t.equal(logout.statusCode, 204, 'the browser side is cleared')
  t.equal((await app.inject({ url: '/me', headers: bearer(victim.access_token), cookies: { fgp: victim.cookies.fgp as string } })).statusCode, 200, 'the session lives on')
})

t.test('fingerprint needs cookies and a boolean', async t => {
  t.equal((await registrationError({ secret, fingerprint: true, cookies: false })).code, 'FST_JWT_AUTH_INVALID_OPTION')
  t.equal((await registrationError({ secret, fingerprint: 'yes' })).code, 'FST_JWT_AUTH_INVALID_OPTION')
})

t.test('anti-CSRF token mode: cookie-authenticated unsafe requests must echo the token', async t => {
  const app = await buildApp({ cookies: { secure: true, sameSite: 'none', csrf: true } })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  const csrf = response.cookies.find(c => c.name === 'csrf_token')
  t.match(csrf, { secure: true, sameSite: 'None', path: '/' })
  t.notOk((csrf as { httpOnly?: boolean }).httpOnly, 'readable by the page')
  const values = cookieValues(response)
  // Secure cookies get prefixed names: __Host- where the attributes allow it.
  const token = values['__Host-access_token'] as string
  t.equal(decodePart(token, 1).csrf, sha256(csrf?.value as string))
  const cookies = { '__Host-access_token': token, csrf_token: values.csrf_token as string }

  const missing = await app.inject({ method: 'POST', url: '/me', cookies })
  t.equal(missing.statusCode, 403)
  t.equal(missing.json().code, 'FST_JWT_AUTH_CSRF')
  t.equal((await app.inject({ method: 'POST', url: '/me', cookies, headers: { 'x-csrf-token': 'guess' } })).statusCode, 403, 'a wrong token')
  t.equal((await app.inject({ method: 'POST', url: '/me', cookies, headers: { 'x-csrf-token': values.csrf_token as string } })).statusCode, 200, 'the echoed token')
  t.equal((await app.inject({ method: 'GET', url: '/me', cookies })).statusCode, 200, 'safe methods need none')
  t.equal((await app.inject({ method: 'POST', url: '/me', headers: bearer(token) })).statusCode, 200, 'Bearer requests need none')

  const refreshByCookie = { '__Secure-refresh_token': values['__Secure-refresh_token'] as string, csrf_token: values.csrf_token as string }
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', cookies: refreshByCookie })).statusCode, 403, 'refresh by cookie without the header')
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', cookies: refreshByCookie, headers: { 'x-csrf-token': values.csrf_token as string } })
  t.equal(refreshed.statusCode, 200, 'refresh by cookie with the header')
  t.not(cookieValues(refreshed).csrf_token, values.csrf_token, 'a new anti-CSRF token with the new pair')
  const next = cookieValues(refreshed)['__Secure-refresh_token'] as string
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', cookies: { '__Secure-refresh_token': next } })).statusCode, 403, 'logout by cookie without the header')
  t.equal((await refresh(app, next)).statusCode, 200, 'a refresh token in the body is not CSRF-able')
})

t.test('by default every unsafe method and every cookie-authenticated route refuses another origin', async t => {
  const app = await buildApp()
  app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url: '/thing', preHandler: app.authenticate, handler: async () => 'ok' })
  t.teardown(() => app.close())
  const tokens = await login(app)
  const sid = decodePart(tokens.access_token, 1).sid as string
  const evil = { origin: 'https://evil.example' }
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const response = await app.inject({ method, url: '/thing', cookies: { access_token: tokens.access_token }, headers: evil })
    t.equal(response.statusCode, 403, method)
    t.equal(response.json().code, 'FST_JWT_AUTH_CROSS_ORIGIN', method)
  }
  const routes: Array<[string, 'POST' | 'DELETE', string]> = [
    ['/auth/refresh', 'POST', 'refresh_token'],
    ['/auth/logout', 'POST', 'refresh_token'],
    ['/auth/logout', 'POST', 'access_token'],
    ['/auth/logout-all', 'POST', 'access_token'],
    [`/auth/sessions/${sid}`, 'DELETE', 'access_token']
  ]
  for (const [url, method, cookie] of routes) {
    const value = cookie === 'refresh_token' ? tokens.refresh_token : tokens.access_token
    const response = await app.inject({ method, url, cookies: { [cookie]: value }, headers: evil })
    t.equal(response.statusCode, 403, `${method} ${url} by ${cookie}`)
  }
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'nothing was done')
})

t.test('rate limits on the token endpoints through @fastify/rate-limit', async t => {
  const app = Fastify()
  await app.register(rateLimit, { global: false })
  await app.register(jwtAuth, { secret, cookies: false, routes: { rateLimit: { max: 3, timeWindow: 60_000 } } })
  t.teardown(() => app.close())
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) {
    statuses.push((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' } })).statusCode)
  }
  t.same(statuses, [400, 400, 400, 429])
  const limited = await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: 'x' } })
  t.equal(limited.statusCode, 200, 'each route has its own budget')
  const refused = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' } })
  t.equal(refused.statusCode, 429)
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')
  t.match(refused.json(), { statusCode: 429, error: 'Too Many Requests' })

  const unlimited = Fastify()
  await unlimited.register(rateLimit, { global: false })
  await unlimited.register(jwtAuth, { secret, cookies: false, routes: { rateLimit: false } })
  t.teardown(() => unlimited.close())
  for (let i = 0; i < 25; i++) await unlimited.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' } })
  t.equal((await unlimited.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' } })).statusCode, 400, 'rateLimit: false')

  t.equal((await registrationError({ secret, routes: { rateLimit: { max: 0, timeWindow: 1 } } })).code, 'FST_JWT_AUTH_INVALID_OPTION')
  t.equal((await registrationError({ secret, routes: { rateLimit: 'fast' } })).code, 'FST_JWT_AUTH_INVALID_OPTION')
})

t.test('the default limit is 20 per window, and is inert without @fastify/rate-limit', async t => {
  const app = Fastify()
  await app.register(rateLimit, { global: false })
  await app.register(jwtAuth, { secret, cookies: false })
  t.teardown(() => app.close())
  const statuses: number[] = []
  for (let i = 0; i < 21; i++) statuses.push((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'x' } })).statusCode)
  t.equal(statuses.filter(status => status === 204).length, 20)
  t.equal(statuses[20], 429)
  const plain = await buildApp()
  t.teardown(() => plain.close())
  for (let i = 0; i < 25; i++) await plain.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'x' } })
  t.equal((await plain.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'x' } })).statusCode, 204)
})
