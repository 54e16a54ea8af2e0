// node bench/stages.mjs (after npm run build): the cost of each stage of a protected request,
// each timed alone in this process with many iterations (no HTTP, no load generator), so that
// the figures hold on a loaded machine better than req/s do. Prints a Markdown table in ns/op
// (median of STAGES_RUNS runs of STAGES_N iterations each), for docs/benchmarks.md.
// With STAGES_REDIS_PORT the RedisStore check and rotations are timed too (against that redis-server).
import { createHash, createHmac, hash, randomBytes, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import Fastify from 'fastify'
import { createVerifier } from 'fast-jwt'
import jwtAuth, { MemoryStore, RedisStore } from '../dist/esm/index.js'
import { randomBase64url } from '../dist/esm/tokens/random.js'
import { digestRefreshToken, mintRefreshToken, mintSessionId, sealSuccessor } from '../dist/esm/tokens/refresh.js'

const N = Number(process.env.STAGES_N ?? 200_000)
const RUNS = Number(process.env.STAGES_RUNS ?? 5)
const SECRET = randomBytes(32).toString('base64url')
const ISSUER = 'bench-issuer'
const AUDIENCE = 'bench-api'

/** ns per call of fn, median of RUNS runs; fn may return a promise (then each call is awaited). */
async function time (fn, n = N) {
  const probe = fn()
  const isAsync = typeof probe?.then === 'function' // app.inject answers a thenable, not a Promise
  if (isAsync) await probe
  const results = []
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now()
    if (isAsync) for (let i = 0; i < n; i++) await fn()
    else for (let i = 0; i < n; i++) fn()
    results.push((performance.now() - start) * 1e6 / n)
  }
  results.sort((x, y) => x - y)
  return { median: results[Math.floor(RUNS / 2)], min: results[0], max: results[RUNS - 1] }
}

const rows = []
async function stage (name, fn, n) {
  const result = await time(fn, n)
  rows.push({ name, ...result })
  process.stderr.write(`${name}: ${result.median.toFixed(0)} ns\n`)
}

// One app with the plugin and MemoryStore: its own login makes the token every stage uses.
const store = new MemoryStore()
const app = Fastify()
await app.register(jwtAuth, { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, store })
app.post('/login', async (request, reply) => reply.issueTokens({ sub: request.body?.sub ?? 'bench-user', roles: ['user'] }))
app.get('/data', { preHandler: app.authenticate }, async request => ({ ok: true, sub: request.user.sub }))
app.get('/bare', async () => ({ ok: true, sub: 'bench-user' }))
await app.ready()
const login = await app.inject({ method: 'POST', url: '/login' })
const token = login.json().access_token
const header = `Bearer ${token}`
const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

// Extraction: the RFC 6750 header pattern as the plugin had it, against a character scan.
const bearerPattern = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i
await stage('extraction: Bearer regex exec + capture', () => bearerPattern.exec(header)[1])
await stage('extraction: char scan + slice', () => {
  if (header.length < 8 || (header.charCodeAt(0) | 32) !== 98 || header.charCodeAt(6) !== 32) return undefined
  let i = 7
  while (header.charCodeAt(i) === 32) i++
  return header.slice(i)
})

// Signature alone, then fast-jwt with and without the claim checks the plugin makes.
const [h, p, s] = token.split('.')
await stage('signature: HMAC-SHA256 of header.payload (node:crypto)', () => createHmac('sha256', Buffer.from(SECRET)).update(`${h}.${p}`).digest('base64url') === s)
const bare = createVerifier({ key: SECRET, algorithms: ['HS256'] })
await stage('fast-jwt verify, no claim checks', () => bare(token))
const full = createVerifier({ key: SECRET, algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, checkTyp: 'at+jwt', requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid'], maxAge: 900_000 })
await stage('fast-jwt verify + the plugin\'s claim checks', () => full(token))
const cached = createVerifier({ key: SECRET, algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, checkTyp: 'at+jwt', cache: 1000 })
await stage('fast-jwt verify with its own cache (same token)', () => cached(token))

// The payload copy a verified-token cache must hand each request.
await stage('payload copy: object spread', () => ({ ...payload }))
await stage('payload copy: structuredClone', () => structuredClone(payload))

// Revocation check.
await stage('revocation: MemoryStore.isRevoked (awaited)', () => store.isRevoked(payload.sub, payload.sid, payload.jti))
if (process.env.STAGES_REDIS_PORT) {
  const redis = new RedisStore({ url: `redis://127.0.0.1:${process.env.STAGES_REDIS_PORT}`, prefix: `stages-${randomUUID()}:` })
  await stage('revocation: RedisStore.isRevoked, one at a time (round trip)', () => redis.isRevoked(payload.sub, payload.sid, payload.jti), 20_000)
  await stage('revocation: RedisStore.isRevoked, 50 concurrent, per call', async () => {
    const calls = []
    for (let i = 0; i < 50; i++) calls.push(redis.isRevoked(payload.sub, payload.sid, payload.jti))
    await Promise.all(calls)
  }, 2_000)
  rows[rows.length - 1].median /= 50; rows[rows.length - 1].min /= 50; rows[rows.length - 1].max /= 50

  // Rotations, 50 chains at once (each its own user), with the { url } client's auto-pipelining:
  // the store's scripts sent as they are (autoPipeliningIgnoredCommands), then auto-pipelined as
  // they were before 2026-12-03. Each chain's next token is minted, digested and sealed as the plugin does.
  const ignored = [...redis.client.options.autoPipeliningIgnoredCommands]
  const chains = []
  for (let c = 0; c < 50; c++) {
    const sub = `rotating-${c}`
    const sessionId = mintSessionId(sub)
    const token = mintRefreshToken(sessionId)
    await redis.createSession({ sub, sessionId, refreshDigest: digestRefreshToken(token), claims: {}, lifetime: 3_600_000, idleTimeout: 3_600_000, maxSessions: 5 })
    chains.push({ sub, sessionId, token })
  }
  const rotateAll = () => Promise.all(chains.map(async chain => {
    const next = mintRefreshToken(chain.sessionId)
    const rotated = await redis.rotateRefreshToken({ sub: chain.sub, sessionId: chain.sessionId, presentedDigest: digestRefreshToken(chain.token), successorDigest: digestRefreshToken(next), sealedSuccessor: sealSuccessor(chain.token, next), idleTimeout: 3_600_000, reuseGrace: 0 })
    if (rotated.status !== 'rotated') throw new Error(`rotation: ${rotated.status}`)
    chain.token = next
  }))
  for (const [label, list] of [['scripts sent as they are', ignored], ['scripts auto-pipelined (before 2026-12-03)', []]]) {
    redis.client.options.autoPipeliningIgnoredCommands = list
    await stage(`rotation: RedisStore.rotateRefreshToken, 50 chains at once, ${label}, per rotation`, rotateAll, 400)
    rows[rows.length - 1].median /= 50; rows[rows.length - 1].min /= 50; rows[rows.length - 1].max /= 50
  }
  redis.client.options.autoPipeliningIgnoredCommands = ignored
  await redis.close()
}

// Login and rotation primitives: random values and digests.
await stage('random: crypto.randomBytes(32) as base64url', () => randomBytes(32).toString('base64url'))
await stage('random: the pool (randomBase64url(32))', () => randomBase64url(32))
const refreshToken = mintRefreshToken(mintSessionId('bench-user'))
await stage('digest: createHash(sha256).update().digest(base64url)', () => createHash('sha256').update(refreshToken).digest('base64url'))
await stage('digest: crypto.hash(sha256, ..., base64url)', () => hash('sha256', refreshToken, 'base64url'))

// Hook and promise overhead: an async function awaiting a value, against a plain call.
const syncFn = x => x
const asyncFn = async x => x
await stage('hook: plain function call', () => syncFn(payload))
await stage('hook: async function + await (one promise, one microtask)', () => asyncFn(payload))

// The whole hook, on a fake request, and the whole request through app.inject (reply included).
const reply = { header () { return this }, code () { return this } }
const request = { headers: { authorization: header }, cookies: {}, method: 'GET', log: app.log, user: undefined }
await stage('app.authenticate(request, reply) alone, awaited (MemoryStore)', () => app.authenticate(request, reply))
// As Fastify calls a hook: with `done`, a synchronous answer makes no promise at all.
const done = () => {}
await stage('app.authenticate(request, reply, done) as Fastify calls it (MemoryStore, 1 token)', () => app.authenticate(request, reply, done))
const requests = []
for (let i = 0; i < 1000; i++) {
  const other = (await app.inject({ method: 'POST', url: '/login', payload: { sub: `user-${i}` } })).json().access_token
  requests.push({ headers: { authorization: `Bearer ${other}` }, cookies: {}, method: 'GET', log: app.log, user: undefined })
}
let next = 0
await stage('the same, 1,000 distinct tokens cycled', () => app.authenticate(requests[next++ % 1000], reply, done))
// From a socket, each request's header is a new string (whose hash a Map has not computed yet).
const headerBytes = requests.map(r => Buffer.from(r.headers.authorization, 'latin1'))
const fresh = { headers: { authorization: '' }, cookies: {}, method: 'GET', log: app.log, user: undefined }
await stage('a new header string per request alone (Buffer to string, the baseline of the next row)', () => { fresh.headers.authorization = headerBytes[next++ % 1000].toString('latin1') })
await stage('the same, 1,000 tokens, each request a new header string (as from a socket)', () => {
  fresh.headers.authorization = headerBytes[next++ % 1000].toString('latin1')
  fresh.user = undefined
  return app.authenticate(fresh, reply, done)
})
const uncached = Fastify()
await uncached.register(jwtAuth, { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, store, accessToken: { cacheSize: 0 } })
await uncached.ready()
await stage('the same, accessToken.cacheSize: 0 (every token verified by fast-jwt)', () => uncached.authenticate(requests[next++ % 1000], reply, done))
await uncached.close()
await stage('app.inject GET /bare (routing + reply, no auth)', () => app.inject({ method: 'GET', url: '/bare' }), 20_000)
await stage('app.inject GET /data (the same + app.authenticate)', () => app.inject({ method: 'GET', url: '/data', headers: { authorization: header } }), 20_000)

console.log(`Stages, ${RUNS} runs of ${N} iterations (fewer for the slow ones), Node ${process.version}; ns per operation:\n`)
console.log('| stage | ns/op (median) | min | max |')
console.log('|---|--:|--:|--:|')
for (const row of rows) console.log(`| ${row.name} | ${row.median.toFixed(0)} | ${row.min.toFixed(0)} | ${row.max.toFixed(0)} |`)
await app.close()
