// Cookie clients never see token text: a refresh made with the refresh cookie answers in the
// cookies alone; a refresh with a body token answers in the body (RFC 6749 §5.1); a login
// chooses with issueTokens(claims, { cookiesOnly }).
import t from 'tap'
import Fastify from 'fastify'
import jwtAuth from '../lib/index.js'
import { buildApp, cookieValues, secret } from './helpers.js'

const refreshCookie = 'refresh_token'

t.test('a refresh made with the refresh cookie answers in the cookies alone', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
  const first = cookieValues(login)
  const byCookie = await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { [refreshCookie]: first[refreshCookie] as string } })
  t.equal(byCookie.statusCode, 200)
  t.same(byCookie.json(), { token_type: 'Bearer', expires_in: 900 }, 'no token text in the body')
  t.equal(byCookie.headers['cache-control'], 'no-store')
  const next = cookieValues(byCookie)
  t.ok(next.access_token !== undefined && next[refreshCookie] !== undefined && next[refreshCookie] !== first[refreshCookie], 'the new pair is in the cookies')
  const grace = await app.inject({ method: 'POST', url: '/auth/refresh', cookies: { [refreshCookie]: first[refreshCookie] as string } })
  t.same(Object.keys(grace.json()).sort(), ['expires_in', 'token_type'], 'a grace replay by cookie answers in cookies too')
  t.equal(cookieValues(grace)[refreshCookie], next[refreshCookie])

  const byBody = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: next[refreshCookie] } })
  t.equal(byBody.statusCode, 200)
  t.same(Object.keys(byBody.json()).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'], 'a body token is answered in the body')
})

t.test('issueTokens(claims, { cookiesOnly: true }) keeps the login body free of tokens', async t => {
  const app = Fastify()
  await app.register(jwtAuth, { secret, cookies: { secure: false } })
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }, { cookiesOnly: true }))
  app.post<{ Body: unknown }>('/login-with', async (request, reply) => await reply.issueTokens({ sub: 'alice' }, request.body as never))
  app.get('/me', { preHandler: app.authenticate }, async (request) => request.user.sub)
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/login' })
  t.same(login.json(), { token_type: 'Bearer', expires_in: 900 })
  t.equal((await app.inject({ url: '/me', cookies: { access_token: cookieValues(login).access_token as string } })).body, 'alice', 'the cookie works')
  for (const bad of [{ cookiesOnly: 'yes' }, 'cookies']) {
    const refused = await app.inject({ method: 'POST', url: '/login-with', payload: JSON.stringify(bad), headers: { 'content-type': 'application/json' } })
    t.equal(refused.json().code, 'FST_JWT_AUTH_INVALID_OPTION', `options ${JSON.stringify(bad)}`)
  }
})

t.test('cookiesOnly without cookies is refused: the tokens would go nowhere', async t => {
  const app = Fastify()
  await app.register(jwtAuth, { secret, cookies: false })
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice' }, { cookiesOnly: true }))
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_OPTION')
  t.match(response.json().message, /needs cookies/)
})
