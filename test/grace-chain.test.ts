// Grace covers the chain (issue 11, section 1), with a real HTTP client over a real socket:
// independent axios clients run the ordinary interceptor the guides describe ("on 401: POST
// /auth/refresh once, then retry"), all holding the same refresh token, and 10 parallel requests
// on an expired access token refresh in the order RT0, RT0, RT1 x4, RT2 x3, then a slow RT0.
// Server-side hooks hold each request until its turn (not timers), so the order is the same on a
// loaded machine. Every request must end 200 and the user stay logged in. Then the other side of
// the rule: a generation-skipping replay after grace still revokes the session.
import t from 'tap'
import type { Test } from 'tap'
import axios from 'axios'
import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios'
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import jwtAuth, { MemoryStore, RedisStore } from '../lib/index.js'
import type { AuthEvent, JwtAuthOptions, Store, TokenResponse } from '../lib/index.js'
import { decodePart, forge, secret } from './helpers.js'
import { startRedis } from './redis-harness.js'

interface Deferred { promise: Promise<void>, resolve: () => void }

function deferred (): Deferred {
  let resolve = (): void => {}
  const promise = new Promise<void>(done => { resolve = done })
  return { promise, resolve }
}

/** Where the server holds requests until the test lets them go on. */
interface Gates {
  /** The access token the clients start with (expired): requests carrying it are first attempts. */
  expired: string
  /** The first attempt of request `rN` waits here before its 401. */
  firstAttempts: Map<string, Deferred>
  /** The refreshes of the current wave wait until all `size` of them have arrived. */
  wave: { size: number, arrived: number, all: Deferred }
  /** Client C's refresh: held until the very end. */
  slow: Deferred
  slowArrived: Deferred
  /** The refresh tokens presented, in the order the refreshes went on to the store. */
  presented: string[]
}

interface Scenario { baseURL: string, events: AuthEvent[], gates: Gates }

/** The app of the guides (Bearer clients, no cookies), with hooks that hold requests until their turn. */
async function startApp (t: Test, store: Store, options: Partial<JwtAuthOptions> = {}): Promise<Scenario> {
  const events: AuthEvent[] = []
  const gates: Gates = {
    expired: '',
    firstAttempts: new Map(),
    wave: { size: 0, arrived: 0, all: deferred() },
    slow: deferred(),
    slowArrived: deferred(),
    presented: []
  }
  const app = Fastify()
  // Added before the plugin, so that they run for its routes too.
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const id = request.headers['x-request']
    if (request.url === '/me' && typeof id === 'string' && request.headers.authorization === `Bearer ${gates.expired}`) {
      await gates.firstAttempts.get(id)?.promise
    }
  })
  app.addHook('preHandler', async (request: FastifyRequest<{ Body: { refresh_token?: string } }>) => {
    // Only the scenario's clients are held; the test's own checks go straight through.
    if (request.url !== '/auth/refresh' || request.headers['x-client'] === undefined) return
    if (request.headers['x-client'] === 'C') {
      gates.slowArrived.resolve()
      await gates.slow.promise
    } else {
      const { wave } = gates
      if (++wave.arrived === wave.size) wave.all.resolve()
      await wave.all.promise
    }
    gates.presented.push(request.body.refresh_token as string)
  })
  await app.register(jwtAuth, { secret, cookies: false, store, onEvent: event => { events.push(event) }, ...options } as JwtAuthOptions)
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice', roles: ['user'] }))
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  t.teardown(() => app.close())
  return { baseURL: await app.listen({ host: '127.0.0.1', port: 0 }), events, gates }
}

interface TokenClient { http: AxiosInstance, tokens: { access: string, refresh: string } }
type RetriedConfig = InternalAxiosRequestConfig & { retried?: boolean }

/**
 * One client (a tab, a device) with its own token storage and the ordinary interceptor: every
 * request that answers 401 refreshes once with the refresh token stored now, then is retried.
 */
function tokenClient (baseURL: string, name: string, tokens: { access: string, refresh: string }): TokenClient {
  const http = axios.create({ baseURL, headers: { 'x-client': name } })
  http.interceptors.request.use(config => {
    if (config.url !== '/auth/refresh') config.headers.set('authorization', `Bearer ${tokens.access}`)
    return config
  })
  http.interceptors.response.use(undefined, async (error: AxiosError) => {
    const original = error.config as RetriedConfig
    if (error.response?.status !== 401 || original.url === '/auth/refresh' || original.retried === true) throw error
    original.retried = true
    const refreshed = await http.post<TokenResponse>('/auth/refresh', { refresh_token: tokens.refresh })
    tokens.access = refreshed.data.access_token
    tokens.refresh = refreshed.data.refresh_token
    return await http(original)
  })
  return { http, tokens }
}

async function login (baseURL: string): Promise<TokenResponse> {
  return (await axios.post<TokenResponse>(`${baseURL}/login`, {})).data
}

/** The login's access token as it is once it has expired: the same claims, exp in the past. */
function expiredCopy (accessToken: string): string {
  const claims = decodePart(accessToken, 1)
  const now = Math.floor(Date.now() / 1000)
  return forge({ ...claims, iat: now - 3600, exp: now - 1800 })
}

async function refreshWith (baseURL: string, refreshToken: string): Promise<AxiosResponse<TokenResponse & { error?: string }>> {
  return await axios.post(`${baseURL}/auth/refresh`, { refresh_token: refreshToken }, { validateStatus: () => true })
}

async function me (baseURL: string, accessToken: string): Promise<number> {
  return (await axios.get(`${baseURL}/me`, { headers: { authorization: `Bearer ${accessToken}` }, validateStatus: () => true })).status
}

async function unevenLatency (t: Test, store: Store, options: Partial<JwtAuthOptions> = {}): Promise<void> {
  const { baseURL, events, gates } = await startApp(t, store, options)
  const first = await login(baseURL)
  gates.expired = expiredCopy(first.access_token)
  t.equal(await me(baseURL, gates.expired), 401, 'the access token the clients hold has expired')

  // Three independent clients (tabs, devices) holding the same pair; A and B send most requests.
  const clients = {
    A: tokenClient(baseURL, 'A', { access: gates.expired, refresh: first.refresh_token }),
    B: tokenClient(baseURL, 'B', { access: gates.expired, refresh: first.refresh_token }),
    C: tokenClient(baseURL, 'C', { access: gates.expired, refresh: first.refresh_token })
  }
  const clientOf = { r1: 'A', r2: 'B', r3: 'A', r4: 'B', r5: 'A', r6: 'B', r7: 'A', r8: 'B', r9: 'A', r10: 'C' } as const
  const ids = Object.keys(clientOf) as Array<keyof typeof clientOf>
  for (const id of ids) gates.firstAttempts.set(id, deferred())
  // All ten at once; each outcome is kept (never a rejection left waiting unhandled).
  const responses = new Map(ids.map(id => [id, clients[clientOf[id]].http.get<{ sub: string }>('/me', { headers: { 'x-request': id } })
    .then(response => ({ status: response.status, sub: response.data.sub }), (error: AxiosError) => ({ status: error.response?.status ?? 0, sub: '' }))]))
  /** Lets the requests `wave` have their 401 and waits until they have refreshed and retried. */
  const release = async (wave: Array<keyof typeof clientOf>): Promise<void> => {
    gates.wave = { size: wave.length, arrived: 0, all: deferred() }
    for (const id of wave) gates.firstAttempts.get(id)?.resolve()
    await Promise.all(wave.map(async id => await responses.get(id)))
  }

  // r10 (C) gets its 401 first, with r1, but its refresh is the slow one, held until the end.
  gates.firstAttempts.get('r10')?.resolve()
  await gates.slowArrived.promise
  await release(['r1']) // RT0: rotated to RT1
  await release(['r2']) // RT0 again (B has not seen RT1): grace
  await release(['r3', 'r4', 'r5', 'r6']) // RT1 x4: one rotation to RT2, three grace
  await release(['r7', 'r8', 'r9']) // RT2 x3: one rotation to RT3, two grace
  gates.slow.resolve() // the slow RT0, three generations behind: grace over the chain
  const results = await Promise.all(ids.map(async id => await responses.get(id)))

  t.same(results.map(result => result?.status), ids.map(() => 200), 'every request ends 200')
  t.ok(results.every(result => result?.sub === 'alice'), 'as alice')
  const names = new Map<string, string>()
  for (const token of gates.presented) if (!names.has(token)) names.set(token, `RT${names.size}`)
  t.same(gates.presented.map(token => names.get(token)), ['RT0', 'RT0', 'RT1', 'RT1', 'RT1', 'RT1', 'RT2', 'RT2', 'RT2', 'RT0'], 'the refreshes landed in the order of the scenario')
  t.equal(gates.presented[0], first.refresh_token, 'RT0 is the login\'s refresh token')

  const held = Object.values(clients).map(client => client.tokens.refresh)
  t.equal(new Set(held).size, 1, 'all three clients ended on the same refresh token: one live chain')
  t.notOk(gates.presented.includes(held[0] as string), 'a token none of the refreshes presented (RT3)')
  t.equal(events.filter(event => event.type === 'refreshed').length, 3, 'three rotations, one per generation')
  const last = await refreshWith(baseURL, held[0] as string)
  t.equal(last.status, 200, 'the user stays logged in: the final refresh token still refreshes')
  t.equal(await me(baseURL, last.data.access_token), 200, 'and its access token is accepted')
  t.notOk(events.some(event => event.type === 'reuse-detected'), 'no reuse-detected event')
}

async function replayAfterGrace (t: Test, store: Store): Promise<void> {
  const grace = 300
  const { baseURL, events } = await startApp(t, store, { refreshToken: { reuseGrace: `${grace}ms` } })
  const first = await login(baseURL)
  const chain = [first]
  for (let i = 0; i < 3; i++) {
    const next = await refreshWith(baseURL, (chain.at(-1) as TokenResponse).refresh_token)
    t.equal(next.status, 200, `refresh ${i + 1} rotates`)
    chain.push(next.data)
  }
  // Waiting longer than grace is all this needs: a slow machine only waits longer.
  await sleep(grace * 2)
  const replay = await refreshWith(baseURL, (chain[1] as TokenResponse).refresh_token)
  t.equal(replay.status, 400, 'RT1, two generations behind RT3, presented after grace')
  t.equal(replay.data.error, 'invalid_grant', 'invalid_grant')
  const reuse = events.filter(event => event.type === 'reuse-detected')
  t.equal(reuse.length, 1, 'reuse-detected')
  t.equal(reuse[0]?.sessionId, decodePart(first.access_token, 1).sid, 'for this session')
  for (const tokens of chain) t.equal(await me(baseURL, tokens.access_token), 401, 'the session\'s access tokens are rejected')
  const current = await refreshWith(baseURL, (chain.at(-1) as TokenResponse).refresh_token)
  t.equal(current.status, 400, 'the session is revoked: its current refresh token is refused too')
  t.equal(current.data.error, 'invalid_grant', 'invalid_grant')
}

// With a claims hook every refresh asks the store twice (peek, then rotate with the hook's
// claims), so concurrent refreshes interleave differently: the rule must hold there too.
const claimsHook: Partial<JwtAuthOptions> = { refreshToken: { claims: async ({ claims }) => ({ ...claims, roles: ['user', 'fresh'] }) } }

t.test('MemoryStore: uneven latency over three generations logs nobody out', async t => {
  await unevenLatency(t, new MemoryStore())
})

t.test('MemoryStore: the same with a claims hook', async t => {
  await unevenLatency(t, new MemoryStore(), claimsHook)
})

t.test('MemoryStore: a generation-skipping replay after grace revokes the session', async t => {
  await replayAfterGrace(t, new MemoryStore())
})

t.test('RedisStore', async t => {
  const server = await startRedis()
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    client.disconnect()
    await server.stop()
  })
  t.test('uneven latency over three generations logs nobody out', async t => {
    await unevenLatency(t, new RedisStore({ client, prefix: 'grace-chain:' }))
  })
  t.test('the same with a claims hook', async t => {
    await unevenLatency(t, new RedisStore({ client, prefix: 'grace-hook:' }), claimsHook)
  })
  t.test('a generation-skipping replay after grace revokes the session', async t => {
    await replayAfterGrace(t, new RedisStore({ client, prefix: 'grace-replay:' }))
  })
})
