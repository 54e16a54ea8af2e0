// Issue 12 §2: cookie tossing (two values under one token cookie name) is refused, and the
// __Host- / __Secure- prefixes are emitted with what they require or refused at registration.
import t from 'tap'
import { buildApp, login, registrationError, secret } from './helpers.js'

t.test('two different values under one token cookie name are refused', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const { access_token: access, refresh_token: refresh } = await login(app)
  const me = async (cookie: string): Promise<{ statusCode: number, code?: string }> => {
    const response = await app.inject({ url: '/me', headers: { cookie } })
    return { statusCode: response.statusCode, code: response.json().code }
  }
  t.same(await me(`access_token=planted; access_token=${access}`), { statusCode: 400, code: 'FST_JWT_AUTH_INVALID_REQUEST' })
  t.same(await me(`access_token=${access}; access_token=${access}`), { statusCode: 200, code: undefined }, 'the same value twice is one value')
  t.same(await me(`xaccess_token=${access}; access_token=${access}`), { statusCode: 200, code: undefined }, 'a longer name that ends alike is another cookie')
  t.same(await me(`access_token=${access}; other=access_token=x`), { statusCode: 200, code: undefined }, 'the name inside another value is not a cookie')

  for (const url of ['/auth/refresh', '/auth/logout']) {
    const response = await app.inject({ method: 'POST', url, headers: { cookie: `refresh_token=planted; refresh_token=${refresh}` } })
    t.equal(response.statusCode, 400, url)
    t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_REQUEST')
    t.same(response.cookies, [], 'and clears nothing')
  }
  const own = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie: `refresh_token=${refresh}` } })
  t.equal(own.statusCode, 200, 'the victim\'s own cookie alone still works')
})

t.test('Secure cookies get the strongest prefix their attributes allow', async t => {
  const names = async (options: Record<string, unknown>): Promise<string[]> => {
    const app = await buildApp(options)
    t.teardown(() => app.close())
    return (await app.inject({ method: 'POST', url: '/login' })).cookies.map(cookie => cookie.name).sort()
  }
  t.same(await names({ cookies: true }), ['__Host-access_token', '__Secure-refresh_token'], 'refresh Path /auth: __Secure-')
  t.same(await names({ cookies: true, routes: { prefix: '' } }), ['__Host-access_token', '__Host-refresh_token'], 'refresh Path /: __Host- for both')
  t.same(await names({ cookies: { domain: 'example.com' } }), ['__Secure-access_token', '__Secure-refresh_token'], 'a Domain rules out __Host-')
  t.same(await names({ cookies: { secure: false } }), ['access_token', 'refresh_token'], 'no prefix without Secure')
  t.same(await names({ cookies: { accessName: '__Host-at', refreshName: 'rt' } }), ['__Host-at', 'rt'], 'names given are kept')
})

t.test('a prefix whose requirements the cookie would not meet is refused at registration', async t => {
  for (const [cookies, routes] of [
    [{ secure: false, accessName: '__Secure-at' }, undefined],
    [{ secure: false, refreshName: '__Host-rt' }, undefined],
    [{ domain: 'example.com', accessName: '__Host-at' }, undefined],
    [{ refreshName: '__Host-rt' }, undefined],
    [{ refreshName: '__Host-rt' }, { prefix: '/api/auth' }]
  ] as const) {
    const error = await registrationError({ secret, cookies, ...(routes === undefined ? {} : { routes }) })
    t.equal(error.code, 'FST_JWT_AUTH_INVALID_OPTION', JSON.stringify(cookies))
    t.match(error.message, /prefix/)
  }
  t.equal((await registrationError({ secret, cookies: { refreshName: '__Host-rt' }, routes: false }).catch(() => ({ code: 'ok' }))).code, 'ok', 'without routes the refresh Path is /')
})
