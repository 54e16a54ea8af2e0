// Secret hygiene: a whole flow with the logger at its most verbose never writes a token, a
// refresh token, a binding value or the secret.
import t from 'tap'
import { MemoryStore } from '../lib/index.js'
import { bearer, buildApp, cookieValues, interceptStore, refresh, secret } from './helpers.js'

t.test('no token, refresh token, cookie value or secret in any log line', async t => {
  const lines: string[] = []
  let failNext = false
  const store = interceptStore(new MemoryStore(), async call => {
    if (failNext) {
      failNext = false
      throw new Error('store down')
    }
    return await call()
  })
  const app = await buildApp(
    { store, fingerprint: true, cookies: { secure: false, csrf: true }, refreshToken: { reuseGrace: 0 } },
    { logger: { level: 'trace', stream: { write: (line: string) => { lines.push(line) } } } }
  )
  t.teardown(() => app.close())
  const sensitive: string[] = [secret]
  const remember = (values: Record<string, string | undefined>): void => {
    for (const value of Object.values(values)) if (typeof value === 'string' && value.length > 8) sensitive.push(value)
  }

  const loggedIn = await app.inject({ method: 'POST', url: '/login' })
  const cookies = cookieValues(loggedIn)
  remember(cookies)
  const { access_token: token, refresh_token: refreshToken } = loggedIn.json()
  sensitive.push(refreshToken.split('.')[1])
  const bound = { fgp: cookies.fgp as string }
  await app.inject({ url: '/me', headers: bearer(token), cookies: bound })
  await app.inject({ url: '/me', headers: bearer(token) }) // no fingerprint: refused
  await app.inject({ url: '/me', headers: bearer(`${token}x`), cookies: bound }) // bad signature
  await app.inject({ url: '/me', headers: { authorization: `Bearer ${token} trailing` } }) // malformed
  const rotated = await refresh(app, refreshToken)
  remember(cookieValues(rotated))
  sensitive.push(rotated.json().refresh_token.split('.')[1], rotated.json().access_token)
  await refresh(app, refreshToken) // reuse: logged at warn
  failNext = true
  await app.inject({ url: '/me', headers: bearer(token), cookies: bound }) // store failure: logged at error
  const second = await app.inject({ method: 'POST', url: '/login' })
  remember(cookieValues(second))
  await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: second.json().refresh_token } })
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: second.json().refresh_token } })
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'garbage-token-value' } })

  t.ok(lines.length > 20, `the flow was logged (${lines.length} lines)`)
  t.ok(lines.some(line => line.includes('refresh token reuse detected')), 'including the reuse warning')
  t.ok(lines.some(line => line.includes('store call failed')), 'and the store failure')
  for (const value of sensitive) {
    const leaked = lines.find(line => line.includes(value))
    t.equal(leaked, undefined, `no log line holds ${value.slice(0, 6)}…`)
  }
})

t.test('a failed store call is logged at error with the operation, the message and the request id, never a token', async t => {
  const lines: Array<Record<string, unknown>> = []
  let failing: string | null = null
  const store = interceptStore(new MemoryStore(), async (call, _args, method) => {
    if (method === failing) throw new Error(`connection lost during ${method}`)
    return await call()
  })
  const app = await buildApp({ store }, {
    requestIdHeader: 'x-request-id',
    logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } }
  })
  t.teardown(() => app.close())
  const session = (await app.inject({ method: 'POST', url: '/login' })).json()
  const spare = (await app.inject({ method: 'POST', url: '/login' })).json()
  const tokens = [session.access_token, session.refresh_token, spare.access_token, spare.refresh_token] as string[]

  const cases: Array<[string, { method?: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, headers?: Record<string, string> }]> = [
    ['isRevoked', { url: '/me', headers: bearer(session.access_token) }],
    ['createSession', { method: 'POST', url: '/login' }],
    ['rotateRefreshToken', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: spare.refresh_token } }],
    ['revokeSession', { method: 'POST', url: '/auth/logout', payload: { refresh_token: spare.refresh_token } }],
    ['revokeToken', { method: 'POST', url: '/auth/revoke', payload: { token: spare.access_token } }],
    ['revokeUser', { method: 'POST', url: '/auth/logout-all', headers: bearer(session.access_token) }],
    ['listSessions', { url: '/auth/sessions', headers: bearer(session.access_token) }]
  ]
  for (const [operation, request] of cases) {
    failing = operation
    const requestId = `case-${operation}`
    const response = await app.inject({ ...request, headers: { ...request.headers, 'x-request-id': requestId } })
    failing = null
    t.equal(response.statusCode, 503, `${operation}: 503`)
    const logged = lines.filter(line => line.msg === 'fastify-jwt-auth store call failed' && line.storeOperation === operation)
    t.equal(logged.length, 1, `${operation}: logged once`)
    t.match(logged[0], { level: 50, reqId: requestId, storeOperation: operation, error: `connection lost during ${operation}` }, `${operation}: with its context`)
  }
  const text = JSON.stringify(lines)
  for (const token of tokens) t.notOk(text.includes(token), 'no token in the log')
})
