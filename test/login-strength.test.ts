// Login strength and lifetimes (DESIGN §7): auth_time / acr / amr stored with the session and
// carried by every refresh, step-up in the same session, requireAuth's RFC 9470 challenges,
// remember-me and per-login lifetimes. On MemoryStore (a hand-moved clock) and RedisStore.
import t from 'tap'
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import diagnosticsChannel from 'node:diagnostics_channel'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { diagnosticsChannels, MemoryStore, RedisStore } from '../lib/index.js'
import type { AuthEvent, AuthRefusal, IssueTokensOptions, Store } from '../lib/index.js'
import { bearer, buildApp, cookieValues, decodePart, manualClock, refresh } from './helpers.js'
import { startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

let server: RedisServer
const clients: Redis[] = []
let prefixes = 0
t.before(async () => { server = await startRedis() })
t.teardown(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

interface StoreUnderTest {
  name: string
  /** A store, and a way to let `ms` of time pass for it. */
  create: () => { store: Store, advance: (ms: number) => Promise<void> }
  unit: number
}

const stores: StoreUnderTest[] = [
  {
    name: 'MemoryStore',
    unit: 60_000,
    create: () => {
      const clock = manualClock()
      return { store: new MemoryStore({ now: clock.now }), advance: async ms => { clock.advance(ms) } }
    }
  },
  {
    name: 'RedisStore',
    unit: 300,
    create: () => {
      const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
      clients.push(client)
      return { store: new RedisStore({ client, prefix: `login${++prefixes}:` }), advance: async ms => { await sleep(ms) } }
    }
  }
]

/** An app whose /login passes the body's `options` to issueTokens, with /confirm (step-up) and guarded routes. */
async function strengthApp (store: Store, extra: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ store, refreshToken: { reuseGrace: '1s' }, ...extra })
  app.post<{ Body: { options?: IssueTokensOptions } }>('/strong-login', async (request, reply) => {
    return await reply.issueTokens({ sub: 'alice', roles: ['user'] }, request.body?.options ?? {})
  })
  app.post<{ Body: { acr?: string, amr?: string[] } }>('/confirm', { preHandler: app.authenticate }, async (request, reply) => {
    return await reply.stepUp({ ...request.body })
  })
  app.get('/settings', { preHandler: [app.authenticate, app.requireAuth({ maxAge: '2s' })] }, async () => ({ ok: true }))
  app.get('/mfa', { preHandler: [app.authenticate, app.requireAuth({ acr: ['mfa', 'phr'] })] }, async () => ({ ok: true }))
  return app
}

async function strongLogin (app: FastifyInstance, options: IssueTokensOptions = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/strong-login', payload: { options } })
}

for (const { name, create, unit } of stores) {
  t.test(`${name}: auth_time, acr and amr survive refreshes unchanged`, async t => {
    const { store, advance } = create()
    const app = await strengthApp(store)
    t.teardown(() => app.close())
    const login = await strongLogin(app, { acr: 'mfa', amr: ['pwd', 'otp'] })
    t.equal(login.statusCode, 200)
    let tokens = login.json()
    const first = decodePart(tokens.access_token, 1)
    t.type(first.auth_time, 'number')
    t.ok(Math.abs((first.auth_time as number) - (first.iat as number)) <= 1, 'auth_time is the login')
    t.equal(first.acr, 'mfa')
    t.same(first.amr, ['pwd', 'otp'])
    for (let i = 0; i < 3; i++) {
      await advance(unit)
      const response = await refresh(app, tokens.refresh_token)
      t.equal(response.statusCode, 200)
      tokens = response.json()
      const claims = decodePart(tokens.access_token, 1)
      t.match(claims, { auth_time: first.auth_time, acr: 'mfa', amr: ['pwd', 'otp'], sid: first.sid }, `refresh ${i + 1} carries the login event unchanged`)
    }
    const [listed] = await app.jwtAuth.listSessions('alice')
    t.match(listed, { acr: 'mfa', amr: ['pwd', 'otp'], persistent: true })
    t.equal(Math.floor((listed?.authTime as number) / 1000), first.auth_time)
  })

  t.test(`${name}: a step-up keeps the sid, raises auth_time and spends the old refresh token`, async t => {
    const { store, advance } = create()
    const events: AuthEvent[] = []
    const app = await strengthApp(store, { onEvent: (event: AuthEvent) => events.push(event) })
    t.teardown(() => app.close())
    const login = (await strongLogin(app, { amr: ['pwd'] })).json()
    const before = decodePart(login.access_token, 1)
    await advance(3 * unit)
    const confirm = await app.inject({ method: 'POST', url: '/confirm', headers: bearer(login.access_token), payload: { acr: 'mfa', amr: ['pwd', 'otp'] } })
    t.equal(confirm.statusCode, 200)
    const stepped = confirm.json()
    const after = decodePart(stepped.access_token, 1)
    t.equal(after.sid, before.sid, 'same session')
    t.match(after, { acr: 'mfa', amr: ['pwd', 'otp'] })
    if (name === 'MemoryStore') t.equal(after.auth_time, (before.auth_time as number) + 3 * unit / 1000, 'auth_time is the step-up, by the store clock')
    else t.ok((after.auth_time as number) >= (before.auth_time as number), 'auth_time moved forward')
    t.not(stepped.refresh_token, login.refresh_token)
    t.same((await app.jwtAuth.listSessions('alice')).map(s => s.id), [before.sid], 'devices stay as they were')
    t.equal((await refresh(app, login.refresh_token)).statusCode, 400, 'the old refresh token is spent')
    const next = await refresh(app, stepped.refresh_token)
    t.equal(next.statusCode, 200, 'the new one refreshes')
    t.match(decodePart(next.json().access_token, 1), { auth_time: after.auth_time, acr: 'mfa' })
    t.ok(events.some(event => event.type === 'stepped-up' && event.sessionId === before.sid))
  })

  t.test(`${name}: a shortened session dies at its own end`, async t => {
    const { store, advance } = create()
    const app = await strengthApp(store)
    t.teardown(() => app.close())
    const idle = (await strongLogin(app, { idleTimeout: (2 * unit) / 1000 })).json()
    const absolute = (await strongLogin(app, { expiresIn: (5 * unit) / 1000 })).json()
    const [a, b] = await app.jwtAuth.listSessions('alice')
    t.equal(a?.idleTimeout, 2 * unit, 'the idle lifetime is listed')
    t.equal((b?.expiresAt as number) - (b?.createdAt as number), 5 * unit, 'so is the end')
    await advance(1.5 * unit)
    const idleNext = await refresh(app, idle.refresh_token)
    t.equal(idleNext.statusCode, 200)
    t.equal((await refresh(app, absolute.refresh_token)).statusCode, 200)
    await advance(2.5 * unit)
    t.equal((await refresh(app, idleNext.json().refresh_token)).statusCode, 400, 'idle past its own idle lifetime, though the configured one is 7 days')
    const [left] = await app.jwtAuth.listSessions('alice')
    t.equal(left?.id, decodePart(absolute.access_token, 1).sid)
    await advance(1.5 * unit)
    t.same(await app.jwtAuth.listSessions('alice'), [], 'past its own absolute end')
  })
}

t.test('per-login lifetimes may only shorten the configured ones', async t => {
  const app = await strengthApp(new MemoryStore(), { refreshToken: { expiresIn: '1d', idleTimeout: '1h' } })
  t.teardown(() => app.close())
  for (const [options, message] of [
    [{ expiresIn: '2d' }, /issueTokens expiresIn must not be longer than refreshToken.expiresIn/],
    [{ idleTimeout: '2h' }, /issueTokens idleTimeout must not be longer than refreshToken.idleTimeout/],
    [{ expiresIn: 'soon' }, /issueTokens expiresIn/],
    [{ persistent: 'no' }, /persistent must be a boolean/],
    [{ acr: '' }, /acr must be a non-empty string/],
    [{ amr: 'pwd' }, /amr must be a non-empty array/]
  ] as const) {
    const response = await strongLogin(app, options as IssueTokensOptions)
    t.equal(response.statusCode, 500, 'a programmer error in the login route')
    t.match(response.json().message, message)
  }
  t.equal((await strongLogin(app, { expiresIn: '1d', idleTimeout: '30m' })).statusCode, 200, 'equal or shorter is fine')
})

t.test('auth_time, acr and amr cannot be set through the claims', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (const claim of ['auth_time', 'acr', 'amr']) {
    app.post(`/forge-${claim}`, async (_request, reply) => await reply.issueTokens({ sub: 'alice', [claim]: claim === 'amr' ? ['pwd'] : 1 } as never))
  }
  for (const claim of ['auth_time', 'acr', 'amr']) {
    const response = await app.inject({ method: 'POST', url: `/forge-${claim}` })
    t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_CLAIMS')
    t.match(response.json().message, `the ${claim} claim is set by the plugin`)
    await t.rejects(app.jwtAuth.updateClaims('alice', { [claim]: 1 } as never), { code: 'FST_JWT_AUTH_INVALID_CLAIMS' })
  }
})

t.test('non-persistent logins get browser-session cookies, on refresh too', async t => {
  const app = await strengthApp(new MemoryStore(), { cookies: { secure: false, csrf: true }, fingerprint: true })
  t.teardown(() => app.close())
  const login = await strongLogin(app, { persistent: false })
  const names = (login.cookies as Array<{ name: string, maxAge?: number, expires?: Date }>)
  t.ok(names.length >= 4, 'access, refresh, fingerprint and csrf cookies')
  for (const cookie of names) t.ok(cookie.maxAge === undefined && cookie.expires === undefined, `${cookie.name} has no Max-Age or Expires`)
  for (const header of [login.headers['set-cookie']].flat()) t.notMatch(String(header), /Max-Age|Expires/i)
  t.equal((await app.jwtAuth.listSessions('alice'))[0]?.persistent, false)
  const refreshed = await refresh(app, login.json().refresh_token)
  t.equal(refreshed.statusCode, 200)
  for (const header of [refreshed.headers['set-cookie']].flat()) t.notMatch(String(header), /Max-Age|Expires/i, 'still session cookies')
  const remembered = await strongLogin(app)
  for (const header of [remembered.headers['set-cookie']].flat()) t.match(String(header), /Max-Age=\d+/, 'a default login is remembered')
  t.ok(Object.keys(cookieValues(remembered)).length >= 4)
})

t.test('requireAuth refuses with the RFC 9470 challenge', async t => {
  const clock = manualClock()
  const app = await strengthApp(new MemoryStore({ now: clock.now }), { realm: 'api' })
  t.teardown(() => app.close())
  const refusals: AuthRefusal[] = []
  const listener = (message: unknown): void => { refusals.push(message as AuthRefusal) }
  diagnosticsChannel.subscribe(diagnosticsChannels.refusal, listener)
  t.teardown(() => diagnosticsChannel.unsubscribe(diagnosticsChannels.refusal, listener))

  const fresh = (await strongLogin(app, { acr: 'mfa' })).json()
  t.equal((await app.inject({ url: '/settings', headers: bearer(fresh.access_token) })).statusCode, 200, 'fresh enough')
  t.equal((await app.inject({ url: '/mfa', headers: bearer(fresh.access_token) })).statusCode, 200, 'strong enough')

  // The store's clock puts the login 10 s in the past: older than maxAge (2 s).
  clock.advance(-10_000)
  const old = (await strongLogin(app)).json()
  clock.advance(10_000)
  const stale = await app.inject({ url: '/settings', headers: bearer(old.access_token) })
  t.equal(stale.statusCode, 401)
  t.equal(stale.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_user_authentication", error_description="The authentication is too old for this request: authenticate again (at most 2 s ago)", max_age=2')
  t.match(stale.json(), { code: 'FST_JWT_AUTH_INSUFFICIENT_USER_AUTHENTICATION', statusCode: 401 })
  t.match(refusals.at(-1), { code: 'FST_JWT_AUTH_INSUFFICIENT_USER_AUTHENTICATION', error: 'insufficient_user_authentication', route: '/settings', statusCode: 401 })

  const weak = await app.inject({ url: '/mfa', headers: bearer(old.access_token) })
  t.equal(weak.statusCode, 401)
  t.equal(weak.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_user_authentication", error_description="A stronger authentication is required: mfa phr", acr_values="mfa phr"')

  // After a step-up the same session passes both.
  const confirm = (await app.inject({ method: 'POST', url: '/confirm', headers: bearer(old.access_token), payload: { acr: 'phr' } })).json()
  t.equal((await app.inject({ url: '/settings', headers: bearer(confirm.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/mfa', headers: bearer(confirm.access_token) })).statusCode, 200)
})

t.test('a token without auth_time fails maxAge guards closed', async t => {
  const memory = new MemoryStore()
  // A store written before auth_time existed: its sessions say nothing about it.
  const older: Store = new Proxy(memory, {
    get (target, property) {
      const value = Reflect.get(target, property, target)
      if (property !== 'createSession' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
      return async (...args: Parameters<Store['createSession']>) => {
        const created = await memory.createSession(...args)
        const { authTime: _authTime, ...session } = created.session
        return { ...created, session }
      }
    }
  })
  const app = await strengthApp(older)
  t.teardown(() => app.close())
  const tokens = (await strongLogin(app)).json()
  t.notOk('auth_time' in decodePart(tokens.access_token, 1))
  const refused = await app.inject({ url: '/settings', headers: bearer(tokens.access_token) })
  t.equal(refused.statusCode, 401)
  t.match(refused.headers['www-authenticate'], /error="insufficient_user_authentication".*max_age=2$/)
})

t.test('requireAuth options are checked when the route is made', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  t.throws(() => app.requireAuth({}), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  t.throws(() => app.requireAuth({ maxAge: 'soon' as never }), { code: 'FST_JWT_AUTH_INVALID_DURATION' })
  t.throws(() => app.requireAuth({ maxAge: '500ms' }), /at least one second/)
  t.throws(() => app.requireAuth({ acr: [] }), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  t.throws(() => app.requireAuth({ acr: ['two words'] }), /acr_values/)
  const both = app.requireAuth({ maxAge: 90, acr: ['mfa'] })
  app.get('/both', { preHandler: [app.authenticate, both] }, async () => ({ ok: true }))
  app.get('/unguarded', { preHandler: both }, async () => ({ ok: true }))
  const tokens = (await app.inject({ method: 'POST', url: '/login' })).json()
  const response = await app.inject({ url: '/both', headers: bearer(tokens.access_token) })
  t.match(response.headers['www-authenticate'], /, max_age=90, acr_values="mfa"$/, 'both parameters')
  const unguarded = await app.inject({ url: '/unguarded' })
  t.equal(unguarded.statusCode, 401)
  t.equal(unguarded.json().code, 'FST_JWT_AUTH_GUARD_WITHOUT_AUTHENTICATE')
})

t.test('reply.stepUp needs an authenticated request', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  app.post('/confirm-anyone', async (_request, reply) => await reply.stepUp())
  app.post('/confirm', { preHandler: app.authenticate }, async (_request, reply) => await reply.stepUp({ amr: ['pwd'] }))
  const response = await app.inject({ method: 'POST', url: '/confirm-anyone' })
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'FST_JWT_AUTH_STEP_UP_WITHOUT_SESSION')
  // A session revoked between authenticate and the step-up cannot be stepped up (see below).
  const tokens = (await app.inject({ method: 'POST', url: '/login' })).json()
  const sid = decodePart(tokens.access_token, 1).sid as string
  t.equal((await app.inject({ method: 'POST', url: '/confirm', headers: bearer(tokens.access_token) })).statusCode, 200)
  const store = app.jwtAuth.store as MemoryStore
  await app.jwtAuth.revokeSession(sid)
  t.equal(await store.stepUpSession({ sub: 'alice', sessionId: sid, successorDigest: 'x', idleTimeout: 1000 }), null)
})

t.test('reply.stepUp options, and stores that cannot step up', async t => {
  const memory = new MemoryStore()
  let answerNull = false
  let hide = false
  const store = new Proxy(memory, {
    get (target, property) {
      if (property === 'stepUpSession') {
        if (hide) return undefined
        if (answerNull) return async () => null
      }
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  }) as Store
  const app = await buildApp({ store })
  t.teardown(() => app.close())
  app.post<{ Body: { options?: unknown } }>('/confirm', { preHandler: app.authenticate }, async (request, reply) => await reply.stepUp(request.body?.options as never))
  const tokens = (await app.inject({ method: 'POST', url: '/login' })).json()
  const confirm = async (options: unknown): Promise<LightMyRequestResponse> => await app.inject({ method: 'POST', url: '/confirm', headers: bearer(tokens.access_token), payload: { options } })
  t.match((await confirm('mfa')).json(), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /stepUp options must be an object/ })
  t.match((await confirm({ cookiesOnly: 'yes' })).json(), { message: /stepUp cookiesOnly must be a boolean/ })
  t.match((await confirm({ acr: 7 })).json(), { message: /stepUp acr must be a non-empty string/ })
  const cookiesOnly = await confirm({ cookiesOnly: true })
  t.equal(cookiesOnly.statusCode, 200)
  t.same(Object.keys(cookiesOnly.json()).sort(), ['expires_in', 'token_type'], 'no token text in the body')
  const next = cookieValues(cookiesOnly).access_token as string
  answerNull = true
  const revoked = await app.inject({ method: 'POST', url: '/confirm', headers: bearer(next), payload: {} })
  t.equal(revoked.statusCode, 401, 'a session that ended meanwhile')
  t.equal(revoked.json().code, 'FST_JWT_AUTH_TOKEN_REVOKED')
  t.match(revoked.headers['www-authenticate'], /error="invalid_token"/)
  answerNull = false
  hide = true
  t.match((await app.inject({ method: 'POST', url: '/confirm', headers: bearer(next), payload: {} })).json(), { statusCode: 500, message: /no stepUpSession method/ })
})

t.test('stepUp cookiesOnly needs cookies', async t => {
  const app = await buildApp({ cookies: false })
  t.teardown(() => app.close())
  app.post('/confirm', { preHandler: app.authenticate }, async (_request, reply) => await reply.stepUp({ cookiesOnly: true }))
  const tokens = (await app.inject({ method: 'POST', url: '/login' })).json()
  const response = await app.inject({ method: 'POST', url: '/confirm', headers: bearer(tokens.access_token) })
  t.match(response.json(), { code: 'FST_JWT_AUTH_INVALID_OPTION', message: /stepUp cookiesOnly needs cookies/ })
})
