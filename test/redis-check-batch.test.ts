// RedisStore on a single Redis sends the revocation checks asked in one event-loop round as one
// script call (lib/store/check-batch.ts): each check still gets its own answer, a round of one is
// the plain EXISTS, a large round goes as several calls, and a failed call fails each of its
// checks (a 503 for each request), never another round's. On a real redis-server, counted with
// MONITOR.
import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisStore } from '../lib/index.js'
import { maxBatch } from '../lib/store/check-batch.js'
import { bearer, buildApp, decodePart, login } from './helpers.js'
import { startRedis, watchSentCommands } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

let server: RedisServer
const clients: Redis[] = []
let prefixes = 0

t.before(async () => { server = await startRedis() })
t.teardown(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

function client (options: Record<string, unknown> = {}): Redis {
  const made = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, ...options })
  clients.push(made)
  return made
}

interface Check { sub: string, sid: string, jti: string }

/** What clients send from now on (not what scripts run), until the test ends. */
async function watchCommands (t: Test): Promise<string[]> {
  const base = client()
  await base.ping()
  const { commands, stop } = await watchSentCommands(base)
  t.teardown(stop)
  return commands
}

/** An app on its own prefix with `users` logged in, one session each: their tokens' checks. */
async function withUsers (t: Test, users: number): Promise<{ store: RedisStore, checks: Check[], tokens: string[] }> {
  const store = new RedisStore({ client: client(), prefix: `batch${++prefixes}:`, selfCheck: false })
  const app = await buildApp({ store })
  t.teardown(() => app.close())
  const tokens: string[] = []
  const checks: Check[] = []
  for (let i = 0; i < users; i++) {
    const token = (await login(app, { sub: `user-${i}` })).access_token
    const payload = decodePart(token, 1)
    tokens.push(token)
    checks.push({ sub: String(payload.sub), sid: String(payload.sid), jti: String(payload.jti) })
  }
  // The revocations below: a denylisted token, an ended session, every session of a user.
  await app.jwtAuth.revokeToken(tokens[1] as string)
  await store.revokeSession('user-2', (checks[2] as Check).sid)
  await store.revokeUser('user-3')
  return { store, checks, tokens }
}

const expected = (i: number): boolean => i >= 1 && i <= 3

t.test('checks asked together get their own answers from one script call', async t => {
  const { store, checks } = await withUsers(t, 8)
  const commands = await watchCommands(t)
  // A session that never existed and a made-up jti of a live session, asked in the same round.
  const asked = [...checks, { sub: 'user-0', sid: 'never-existed', jti: 'x' }, { ...(checks[0] as Check), jti: 'made-up' }]
  const answers = await Promise.all(asked.map(async check => await store.isRevoked(check.sub, check.sid, check.jti)))
  t.same(answers, [...checks.map((_, i) => expected(i)), true, false], 'revoked, live and unknown answered each for itself')
  await sleep(100)
  t.equal(commands.length, 1, 'one command for the whole round')
  t.match(commands, [/^eval(sha)?$/], 'a script call, not one EXISTS per check')
})

t.test('a check alone is the plain EXISTS', async t => {
  const { store, checks } = await withUsers(t, 4)
  const commands = await watchCommands(t)
  t.equal(await store.isRevoked('user-1', (checks[1] as Check).sid, (checks[1] as Check).jti), true, 'the denylisted token')
  t.equal(await store.isRevoked('user-0', (checks[0] as Check).sid, (checks[0] as Check).jti), false, 'the live token, in the next round')
  await sleep(100)
  t.same(commands, ['exists', 'exists'], 'one EXISTS per round of one check')
})

t.test(`a round of more than ${maxBatch} checks goes as several script calls, each answered`, async t => {
  const { store, checks } = await withUsers(t, 5)
  const commands = await watchCommands(t)
  const count = maxBatch * 2 + 3
  const answers = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const check = checks[i % checks.length] as Check
    return await store.isRevoked(check.sub, check.sid, check.jti)
  }))
  t.same(answers, Array.from({ length: count }, (_, i) => expected(i % checks.length)), 'every check its own answer')
  await sleep(100)
  t.equal(commands.length, 3, `${count} checks in ${Math.ceil(count / maxBatch)} calls`)
})

t.test('concurrent requests over HTTP: each token judged on its own while sharing calls', async t => {
  const { checks, tokens } = await withUsers(t, 6)
  const app = await buildApp({ store: new RedisStore({ client: client(), prefix: `batch${prefixes}:`, selfCheck: false }) })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const send = async (): Promise<number[]> => await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const response = await fetch(`http://127.0.0.1:${port}/me`, { headers: bearer(tokens[i % tokens.length] as string) })
    await response.arrayBuffer()
    return response.status
  }))
  // The first wave opens the connections (one by one); the second arrives on them at once.
  await send()
  const commands = await watchCommands(t)
  const statuses = await send()
  t.same(statuses, statuses.map((_, i) => expected(i % checks.length) ? 401 : 200), 'revoked tokens 401, live ones 200')
  await sleep(100)
  t.ok(commands.length < 60, `fewer store commands than requests (${commands.length} for 60)`)
})

t.test('a failed call fails each of its checks, and the next round is unaffected', async t => {
  // No offline queue: until the connection is ready a command fails at once.
  const offline = client({ enableOfflineQueue: false })
  const store = new RedisStore({ client: offline, prefix: `batch${++prefixes}:`, selfCheck: false })
  const results = await Promise.allSettled([store.isRevoked('a', 's', 'j'), store.isRevoked('b', 's', 'j'), store.isRevoked('c', 's', 'j')])
  t.same(results.map(result => result.status), ['rejected', 'rejected', 'rejected'], 'a batch of three: each rejected')
  await t.rejects(store.isRevoked('a', 's', 'j'), 'a round of one: rejected')
  if (offline.status !== 'ready') await new Promise(resolve => offline.once('ready', resolve))
  t.equal(await store.isRevoked('a', 's', 'j'), true, 'once connected, the next round is answered (no such session: revoked)')
})

t.test('with enableAutoPipelining the batch goes out as it is, in no pipeline of its own', async t => {
  const pipelining = client({ enableAutoPipelining: true })
  const defaults = (Redis as unknown as { defaultOptions: { autoPipeliningIgnoredCommands: string[] } }).defaultOptions
  const shared = [...defaults.autoPipeliningIgnoredCommands]
  const store = new RedisStore({ client: pipelining, prefix: `batch${++prefixes}:`, selfCheck: false })
  const again = new RedisStore({ client: pipelining, prefix: `batch${++prefixes}:`, selfCheck: false })
  const ignored = pipelining.options.autoPipeliningIgnoredCommands ?? []
  t.ok(ignored.includes('fastifyJwtAuthExistsBatch') && ignored.includes('fastifyJwtAuthRotate') && ignored.includes('fastifyJwtAuthCreateSession'), 'the batch, rotations and logins are left out')
  t.ok(ignored.every(name => name.startsWith('fastifyJwtAuth')), 'only the store\'s own scripts')
  t.equal(new Set(ignored).size, ignored.length, 'each once, for two stores')
  t.same(defaults.autoPipeliningIgnoredCommands, shared, 'the defaults other clients share are untouched')
  await pipelining.ping()
  const answers = Promise.all([store.isRevoked('a', 's', 'j'), store.isRevoked('b', 's', 'j'), store.isRevoked('c', 's', 'j')])
  // The round's batch is sent in the check phase; a command ioredis auto-pipelined would wait in its queue.
  await new Promise(resolve => setImmediate(resolve))
  t.equal(pipelining.autoPipelineQueueSize, 0, 'nothing waits in the auto-pipeline queue')
  t.same(await answers, [true, true, true])
  t.equal(await again.isRevoked('d', 's', 'j'), true, 'the second store checks as well')

  // A login and a rotation: their scripts go out at once as well, and do their work.
  const made = store.createSession({ sub: 'erin', sessionId: 'erin-1', refreshDigest: 'd0', claims: {}, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
  t.equal(pipelining.autoPipelineQueueSize, 0, 'a login waits in no auto-pipeline queue')
  const session = (await made).session
  const rotated = store.rotateRefreshToken({ sub: 'erin', sessionId: session.id, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 60_000, reuseGrace: 0 })
  t.equal(pipelining.autoPipelineQueueSize, 0, 'nor does a rotation')
  t.equal((await rotated).status, 'rotated')

  // A client whose options have no such list (not every client an app passes in is ioredis's own).
  const bare = client()
  delete (bare.options as { autoPipeliningIgnoredCommands?: unknown }).autoPipeliningIgnoredCommands
  const plain = new RedisStore({ client: bare, prefix: `batch${++prefixes}:`, selfCheck: false })
  t.same(await Promise.all([plain.isRevoked('a', 's', 'j'), plain.isRevoked('b', 's', 'j')]), [true, true], 'its checks are batched all the same')
})

t.test('the { url } client has the recommended options: no ioredis timer per command, calls still bounded', async t => {
  const paused = await startRedis()
  t.teardown(async () => { await paused.stop() })
  const store = new RedisStore({ url: paused.url, commandTimeout: 300, selfCheck: false })
  t.teardown(async () => { await store.close() })
  t.match(store.client.options, { maxRetriesPerRequest: 1, enableAutoPipelining: true }, 'fail fast, auto-pipelining')
  t.equal((store.client.options as { commandTimeout?: unknown }).commandTimeout, undefined, 'no ioredis commandTimeout')
  t.equal(await store.isRevoked('a', 's', 'j'), true, 'answers')
  paused.pause()
  t.teardown(() => { paused.resume() })
  const started = Date.now()
  const results = await Promise.allSettled([store.isRevoked('a', 's', 'j'), store.isRevoked('b', 's', 'j')])
  t.same(results.map(result => result.status), ['rejected', 'rejected'], 'a hung Redis: each check refused')
  t.ok(Date.now() - started < 300 + 1000, `by the store's own bound (${Date.now() - started} ms)`)
})

t.test('a Redis in cluster mode behind a plain client: a round over several users falls back to one EXISTS each', async t => {
  // One node holding every slot, as some managed services offer it: it refuses a script whose
  // keys are in several slots (CROSSSLOT), which the batch of several users is.
  const node = await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${++prefixes}.conf`])
  t.teardown(async () => { await node.stop() })
  const admin = new Redis(node.port, '127.0.0.1')
  clients.push(admin)
  await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')
  for (let i = 0; i < 100 && !/cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO'))); i++) await sleep(50)
  const plain = new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  clients.push(plain)
  const store = new RedisStore({ client: plain, prefix: `batch${prefixes}:`, selfCheck: false })
  const app = await buildApp({ store })
  t.teardown(() => app.close())
  const tokens = [(await login(app, { sub: 'one' })).access_token, (await login(app, { sub: 'two' })).access_token]
  await app.jwtAuth.revokeToken(tokens[1] as string)
  const checks = tokens.map(token => decodePart(token, 1))
  const ask = async (): Promise<boolean[]> => await Promise.all(checks.map(async c => await store.isRevoked(String(c.sub), String(c.sid), String(c.jti))))
  const { commands, stop } = await watchSentCommands(admin)
  t.teardown(stop)
  t.same(await ask(), [false, true], 'the refused batch is sent again as one EXISTS per check, each answered')
  t.same(await ask(), [false, true], 'and so is every round after it')
  await sleep(100)
  // (MONITOR does not show the script call Redis refused.)
  t.same(commands, ['exists', 'exists', 'exists', 'exists'], 'EXISTS only: the batch is not tried again')
})
