// npm run bench: builds dist (the npm script does), then loads each server variant in turn
// with autocannon, each with 1 and with 1,000 distinct tokens, and prints a Markdown table (ratios
// to (b) per round, their range, the issue's targets), plus refresh over HTTP, sign/verify and
// Redis memory figures. About 8 minutes with the defaults.
// Uses its own redis-server on a free port (never a Redis already running on the machine).
import { fork, spawn, execFileSync } from 'node:child_process'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir, cpus, platform, release, totalmem } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { createSigner, createVerifier } from 'fast-jwt'
import jwtAuth, { MemoryStore, RedisStore } from '../dist/esm/index.js'
import { freePort } from './free-port.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')

const CONNECTIONS = 50
const PIPELINING = 1
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 2)
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const LOOP_MS = 3000
const MEMORY_N = 200
// Each variant is loaded with each of these counts of distinct access tokens (one per user),
// cycled round-robin, in the same round: 1 (every request the same token, the best case of a
// verified-token cache) and 1,000 (the cache's default size: users' tokens interleaved).
const TOKEN_COUNTS = (process.env.BENCH_TOKENS ?? '1,1000').split(',').map(Number)
const MAX_TOKENS = Math.max(...TOKEN_COUNTS)
// The issue's targets (1,000 distinct tokens): the ratio to (b) each variant must reach.
const targets = { e: 1.5, g: 1.5, f: 1.1, i: 1.0 }

const SECRET = randomBytes(32).toString('base64url')
const ISSUER = 'bench-issuer'
const AUDIENCE = 'bench-api'

const variants = [
  { id: 'a', name: 'Fastify, no auth', file: 'a-fastify-bare.mjs', token: 'none' },
  { id: 'b', name: '@fastify/jwt `request.jwtVerify()`', file: 'b-fastify-jwt.mjs', token: 'signed' },
  { id: 'c', name: '@fastify/jwt + hand-written Redis denylist `EXISTS`', file: 'c-fastify-jwt-redis.mjs', token: 'signed' },
  { id: 'd', name: 'Express 5 + express-jwt', file: 'd-express-jwt.mjs', token: 'signed' },
  { id: 'e', name: 'fastify-jwt-auth, MemoryStore', file: 'e-plugin-memory.mjs', token: 'login' },
  { id: 'f', name: 'fastify-jwt-auth, RedisStore (auto-pipelining)', file: 'f-plugin-redis.mjs', token: 'login' },
  { id: 'g', name: 'fastify-jwt-auth, RedisStore + revocation replica', file: 'g-plugin-replica.mjs', token: 'login' },
  { id: 'i', name: 'fastify-jwt-auth, RedisStore, plain `new Redis()`', file: 'i-plugin-redis-plain.mjs', token: 'login' }
]
const only = process.env.BENCH_ONLY?.split(',') // e.g. BENCH_ONLY=b,f for a quick look

// ---------------------------------------------------------------------------------------------
// Processes: every child is tracked and killed on exit, so an error leaves nothing behind.

const children = new Set()
function track (child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}
process.on('exit', () => { for (const child of children) child.kill('SIGKILL') })
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

const exited = child => new Promise(resolve => {
  if (child.exitCode !== null || child.signalCode !== null) resolve()
  else child.once('exit', resolve)
})

async function startRedis () {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const child = track(spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--dir', dir, '--loglevel', 'warning'
  ], { stdio: 'ignore' }))
  for (let i = 0; i < 200; i++) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() === 'PONG') break
    } catch {}
    await sleep(50)
  }
  const version = execFileSync('redis-cli', ['-p', String(port), 'info', 'server']).toString().match(/redis_version:(\S+)/)?.[1]
  return {
    port,
    version,
    async stop () {
      try { execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'ignore' }) } catch {}
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited(child)
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function startServer (variant, env) {
  const execArgv = process.env.BENCH_CPU_PROF?.split(',').includes(variant.id) ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench', 'profiles')}`] : []
  const child = track(fork(join(here, 'servers', variant.file), [], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const port = await new Promise((resolve, reject) => {
    child.once('message', message => resolve(message.port))
    child.once('exit', code => reject(new Error(`server ${variant.id} exited with ${code}`)))
  })
  return {
    port,
    /** CPU time (µs) the server process has used so far. */
    async cpu () {
      const reply = new Promise(resolve => {
        const listener = message => { if (message?.cpu !== undefined) { child.off('message', listener); resolve(message.cpu) } }
        child.on('message', listener)
      })
      child.send('cpu')
      return await reply
    },
    async stop () {
      child.send('stop')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited(child)
      clearTimeout(timer)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens. (e)/(f) log in like a client; the others get an equivalent token: same secret,
// HS256, header typ at+jwt, iss, aud, sub, iat, exp (15 min), jti, sid, roles.

const signEquivalent = createSigner({
  key: SECRET, algorithm: 'HS256', iss: ISSUER, aud: AUDIENCE, expiresIn: 15 * 60 * 1000, header: { typ: 'at+jwt' }
})
const sid = randomBytes(16).toString('base64url').slice(0, 22) + Buffer.from('bench-user').toString('base64url')

async function tokenFor (variant, port, i) {
  if (variant.token === 'none') return null
  if (variant.token === 'signed') return signEquivalent({ sub: `bench-user-${i}`, roles: ['user'], jti: randomUUID(), sid })
  const response = await fetch(`http://127.0.0.1:${port}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub: `bench-user-${i}` })
  })
  if (response.status !== 200) throw new Error(`login on ${variant.id}: ${response.status}`)
  return (await response.json()).access_token
}

async function tokensFor (variant, port) {
  const tokens = new Array(MAX_TOKENS)
  // Ten logins at a time: 1,000 users log in within a few seconds.
  let next = 0
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (next < MAX_TOKENS) {
      const i = next++
      tokens[i] = await tokenFor(variant, port, i)
    }
  }))
  return tokens
}

async function load (port, tokens, duration) {
  let next = 0
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/data`,
    connections: CONNECTIONS,
    pipelining: PIPELINING,
    duration,
    ...(tokens[0] === null
      ? {}
      : tokens.length === 1
        ? { headers: { authorization: `Bearer ${tokens[0]}` } }
        : {
            requests: [{
              setupRequest (request) {
                const token = tokens[next++ % tokens.length]
                return { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } }
              }
            }]
          })
  })
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0) throw new Error(`${bad} failed requests (non2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`)
  return { rps: result.requests.average, p99: result.latency.p99, total: result.requests.total }
}

const median = values => {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// ---------------------------------------------------------------------------------------------
// In-process figures: refresh rotations on Redis, sign/verify, memory per session / token.

async function pluginApp (store) {
  const app = Fastify()
  await app.register(jwtAuth, { secret: SECRET, issuer: ISSUER, audience: AUDIENCE, store })
  app.post('/login', async (request, reply) => reply.issueTokens({ sub: request.body?.sub ?? 'bench-user', roles: ['user'] }))
  await app.ready()
  return app
}

const login = async (app, sub) => {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { sub } })
  if (response.statusCode !== 200) throw new Error(`login: ${response.statusCode} ${response.body}`)
  return response.json()
}

const REFRESH_CLIENTS = 50

/** One JSON POST over a keep-alive connection; resolves to [status, parsed body]. */
function post (agent, port, path, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const request = httpRequest({ agent, host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, response => {
      const chunks = []
      response.on('data', chunk => chunks.push(chunk))
      response.on('end', () => {
        try { resolve([response.statusCode, JSON.parse(Buffer.concat(chunks).toString())]) } catch (error) { reject(error) }
      })
    })
    request.on('error', reject)
    request.end(payload)
  })
}

/**
 * Refresh rotations over HTTP: the RedisStore server (f) in its own process, 50 clients each
 * rotating its own chain (its own user) as fast as its answers come, for LOOP_MS; logins too.
 */
async function refreshRotations (env) {
  const server = await startServer(variants.find(v => v.id === 'f'), env)
  const agent = new HttpAgent({ keepAlive: true, maxSockets: REFRESH_CLIENTS })
  try {
    const chains = []
    const loginStart = performance.now()
    let logins = 0
    // Logins for the chains, then as many more as the window allows, 50 at a time.
    await Promise.all(Array.from({ length: REFRESH_CLIENTS }, async (_, client) => {
      const [status, body] = await post(agent, server.port, '/login', { sub: `refresh-user-${client}` })
      if (status !== 200) throw new Error(`login: ${status}`)
      chains[client] = body.refresh_token
      logins++
      while (performance.now() - loginStart < LOOP_MS) {
        const [again] = await post(agent, server.port, '/login', { sub: `login-user-${client}-${logins}` })
        if (again !== 200) throw new Error(`login: ${again}`)
        logins++
      }
    }))
    const loginSeconds = (performance.now() - loginStart) / 1000
    let ops = 0
    const cpuBefore = await server.cpu()
    // The load generator's own CPU (this process, which shares the cores with the server and Redis).
    const clientCpuBefore = process.cpuUsage()
    const start = performance.now()
    await Promise.all(chains.map(async (token, client) => {
      let refreshToken = token
      while (performance.now() - start < LOOP_MS) {
        const [status, body] = await post(agent, server.port, '/auth/refresh', { refresh_token: refreshToken })
        if (status !== 200) throw new Error(`refresh of chain ${client}: ${status} ${JSON.stringify(body)}`)
        refreshToken = body.refresh_token
        ops++
      }
    }))
    const seconds = (performance.now() - start) / 1000
    const clientCpu = process.cpuUsage(clientCpuBefore)
    const cpuPerRotation = (await server.cpu() - cpuBefore) / ops
    const clientCpuPerRotation = (clientCpu.user + clientCpu.system) / ops
    return { ops, perSecond: ops / seconds, cpuPerRotation, clientCpuPerRotation, logins, loginsPerSecond: logins / loginSeconds }
  } finally {
    agent.destroy()
    await server.stop()
  }
}

async function timeLoop (fn) {
  for (let i = 0; i < 2000; i++) await fn() // warm-up
  let ops = 0
  const start = performance.now()
  while (performance.now() - start < 1000) {
    for (let i = 0; i < 100; i++) await fn()
    ops += 100
  }
  return ((performance.now() - start) * 1000) / ops // µs per op
}

async function signVerify () {
  // fast-jwt directly, configured as the plugin configures it (lib/tokens/access.ts).
  const signer = createSigner({ key: SECRET, algorithm: 'HS256', iss: ISSUER, aud: AUDIENCE, expiresIn: 15 * 60 * 1000, header: { typ: 'at+jwt' } })
  const verifier = createVerifier({
    key: SECRET, algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, checkTyp: 'at+jwt',
    requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid'], clockTolerance: 5000
  })
  const token = signer({ sub: 'bench-user', roles: ['user'], jti: randomUUID(), sid })
  const fastJwtSign = await timeLoop(() => signer({ sub: 'bench-user', roles: ['user'], jti: randomUUID(), sid }))
  const fastJwtVerify = await timeLoop(() => verifier(token))
  // What fast-jwt's verified-token cache would save, and what a safe use of it would cost: a hit
  // returns the cached payload object itself, so each request would need its own deep copy.
  const cachingVerifier = createVerifier({
    key: SECRET, algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, checkTyp: 'at+jwt',
    requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid'], clockTolerance: 5000, cache: true
  })
  const fastJwtCacheHit = await timeLoop(() => cachingVerifier(token))
  const payload = verifier(token)
  const payloadCopy = await timeLoop(() => structuredClone(payload))
  // The plugin's own API with MemoryStore: verify = signature + claims + revocation check;
  // login = app.inject POST /login (session creation, refresh token, signing, reply).
  const app = await pluginApp(new MemoryStore())
  const { access_token: accessToken } = await login(app, 'bench-user')
  const pluginVerify = await timeLoop(() => app.jwtAuth.verifyAccessToken(accessToken))
  let n = 0
  const pluginLogin = await timeLoop(() => login(app, `login-${n++ % 5000}`))
  await app.close()
  return { fastJwtSign, fastJwtVerify, fastJwtCacheHit, payloadCopy, pluginVerify, pluginLogin, tokenBytes: accessToken.length }
}

// Each session layout under two prefixes: the default 'fja:', as a default install stores it,
// and a 19-character one like the earlier bench's 'bench-mem-xxxxxxxx:' (the issue's figures were
// measured with it). Each character of the prefix is in every key, and moves a session's key
// across allocator size classes. The bench's Redis is its own, and the load variants use 'bench:'.
const memoryCases = [
  { prefix: 'fja:', sessionLayout: 'compatible' },
  { prefix: 'fja:', sessionLayout: 'compact' },
  { prefix: `bench-mem-${randomBytes(4).toString('hex')}:`, sessionLayout: 'compatible' },
  { prefix: `bench-mem-${randomBytes(4).toString('hex')}:`, sessionLayout: 'compact' }
]

async function memory (redisPort, { prefix, sessionLayout }) {
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1, enableAutoPipelining: true })
  const app = await pluginApp(new RedisStore({ client: redis, prefix, sessionLayout }))
  const usedMemory = async () => Number((await redis.info('memory')).match(/used_memory:(\d+)/)[1])
  const usage = async key => Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))
  const keysOf = async pattern => {
    const keys = []
    let cursor = '0'
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', prefix + pattern, 'COUNT', 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    return keys
  }
  const sumUsage = async keys => { let sum = 0; for (const key of keys) sum += await usage(key); return sum }

  // N sessions, one per user (each user's index holds one id).
  const before = await usedMemory()
  const tokens = []
  for (let i = 0; i < MEMORY_N; i++) tokens.push((await login(app, `mem-user-${i}`)).access_token)
  const afterSessions = await usedMemory()
  // N revoked access tokens.
  for (const token of tokens) await app.jwtAuth.revokeToken(token)
  const afterRevoked = await usedMemory()
  const sessionKeys = (await keysOf('*:s:*'))
  const indexKeys = (await keysOf('*:ss'))
  const denyKeys = (await keysOf('*:j:*'))
  // Each revocation also appended a notice (the sub) to the replicas' stream.
  const noticeBytes = await usage(`${prefix}{revocations}`) / Number(await redis.xlen(`${prefix}{revocations}`))
  // One user with 10 sessions (the default cap): the index share per session is smaller.
  for (let i = 0; i < 10; i++) await login(app, 'mem-user-ten')
  const tenIndex = await usage(`${prefix}{u:${Buffer.from('mem-user-ten').toString('base64url')}}:ss`)

  const result = {
    sessions: sessionKeys.length,
    indexes: indexKeys.length,
    denied: denyKeys.length,
    hashBytes: (await sumUsage(sessionKeys)) / sessionKeys.length,
    indexBytes: (await sumUsage(indexKeys)) / indexKeys.length,
    indexShareOfTen: tenIndex / 10,
    denyBytes: (await sumUsage(denyKeys)) / denyKeys.length,
    noticeBytes,
    usedPerSession: (afterSessions - before) / MEMORY_N,
    usedPerRevoked: (afterRevoked - afterSessions) / MEMORY_N,
    sampleKeys: { session: sessionKeys[0], index: indexKeys[0], deny: denyKeys[0] }
  }
  await app.close()
  // The next case starts from an empty prefix (the two layouts share 'fja:').
  for (const key of await keysOf('*')) await redis.del(key)
  redis.disconnect()
  return result
}

// ---------------------------------------------------------------------------------------------

function versionOf (name) {
  return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
}

const fmt = (value, digits = 0) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

async function main () {
  const startedAt = new Date()
  const redis = await startRedis()
  // Start the replicas' notice history now, as on a service whose replicas have been running:
  // tokens issued before it began would be checked at the store (see the README).
  const seedClient = new Redis({ host: '127.0.0.1', port: redis.port })
  await new RedisStore({ client: seedClient, prefix: 'bench:' }).openRevocationFeed().read(null)
  seedClient.disconnect()
  const env = { ...process.env, BENCH_SECRET: SECRET, BENCH_REDIS_PORT: String(redis.port), BENCH_PREFIX: 'bench:' }
  const runnable = variants.filter(v => v.file !== null && (only === undefined || only.includes(v.id)))
  const key = (id, count) => `${id}:${count}`
  const samples = new Map(runnable.flatMap(v => TOKEN_COUNTS.map(count => [key(v.id, count), []])))
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order across rounds so that no variant always runs first or last.
      const order = runnable.map((_, i) => runnable[(i + round) % runnable.length])
      for (const variant of order) {
        const server = await startServer(variant, env)
        try {
          const allTokens = await tokensFor(variant, server.port)
          // The token counts alternate too: the first one of a server is not always the same.
          const counts = TOKEN_COUNTS.map((_, i) => TOKEN_COUNTS[(i + round) % TOKEN_COUNTS.length])
          for (const count of counts) {
            const tokens = allTokens.slice(0, count)
            await load(server.port, tokens, WARMUP_S) // discarded
            const cpuBefore = await server.cpu()
            const sample = await load(server.port, tokens, DURATION_S)
            // Server CPU per request: steadier than req/s when load generator, server and Redis
            // share two cores, since it does not count time the server spent waiting for a core.
            sample.cpuPerRequest = (await server.cpu() - cpuBefore) / sample.total
            sample.round = round
            samples.get(key(variant.id, count)).push(sample)
            console.error(`round ${round + 1}/${ROUNDS} (${variant.id}, ${count} token${count === 1 ? '' : 's'}) ${fmt(sample.rps)} req/s, p99 ${sample.p99} ms, ${fmt(sample.cpuPerRequest, 1)} µs CPU/request`)
          }
        } finally {
          await server.stop()
        }
      }
    }
    console.error('refresh rotations...')
    const refresh = await refreshRotations(env)
    console.error('sign/verify...')
    const crypto = await signVerify()
    console.error('memory...')
    const mems = []
    for (const memoryCase of memoryCases) mems.push({ ...memoryCase, ...await memory(redis.port, memoryCase) })

    // Per round and token count, each variant against (b) of the same round: the ratios do not
    // mix a busy round of one variant with a quiet round of another.
    const ratiosOf = (id, count, field, invert = false) => {
      const base = samples.get(key('b', count)) ?? []
      return (samples.get(key(id, count)) ?? []).flatMap(sample => {
        const same = base.find(b => b.round === sample.round)
        return same === undefined ? [] : [invert ? same[field] / sample[field] : sample[field] / same[field]]
      })
    }
    const spread = list => list.length === 0 ? 'n/a' : `${(Math.min(...list)).toFixed(2)}-${(Math.max(...list)).toFixed(2)}x`
    const cpu = cpus()
    const out = []
    out.push(`Date: ${startedAt.toISOString()}`)
    out.push(`Machine: ${cpu[0].model}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}`)
    out.push(`Node ${process.version}; fastify ${versionOf('fastify')}, @fastify/jwt ${versionOf('@fastify/jwt')}, fast-jwt ${versionOf('fast-jwt')}, ` +
      `ioredis ${versionOf('ioredis')}, express ${versionOf('express')}, express-jwt ${versionOf('express-jwt')}, jsonwebtoken ${versionOf('jsonwebtoken')}, ` +
      `autocannon ${versionOf('autocannon')}, fastify-jwt-auth ${versionOf('..')}; redis-server ${redis.version}`)
    out.push(`Load: autocannon, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${WARMUP_S} s warm-up (discarded) + ${DURATION_S} s measured, ` +
      `${ROUNDS} rounds alternating the variants and, within each server, the token counts (${TOKEN_COUNTS.map(n => fmt(n)).join(' and ')} distinct tokens of as many users, round-robin). ` +
      'GET /data with a Bearer token, all on one machine (load generator included). "vs (b)": the median over the rounds of the ratio to (b) in the same round ' +
      '(req/s; CPU: (b)\'s server CPU per request over this one\'s), then the range of those per-round ratios.')
    out.push('')
    const head = ['variant']
    for (const count of TOKEN_COUNTS) {
      const label = `${fmt(count)} token${count === 1 ? '' : 's'}`
      head.push(`req/s, ${label}`, 'vs (b)', 'range', 'CPU µs/req', 'CPU vs (b)', 'p99 ms')
    }
    head.push('target (vs (b), most tokens)', 'req/s per round')
    out.push(`| ${head.join(' | ')} |`)
    out.push(`|---|${head.slice(1, -1).map(() => '--:').join('|')}|---|`)
    const most = MAX_TOKENS
    for (const variant of variants) {
      const row = [`(${variant.id}) ${variant.name}`]
      if (!runnable.includes(variant)) {
        out.push(`| ${row[0]} | not run |`)
        continue
      }
      for (const count of TOKEN_COUNTS) {
        const list = samples.get(key(variant.id, count))
        const rpsRatios = ratiosOf(variant.id, count, 'rps')
        const cpuRatios = ratiosOf(variant.id, count, 'cpuPerRequest', true)
        row.push(fmt(median(list.map(s => s.rps))), rpsRatios.length === 0 ? 'n/a' : `${median(rpsRatios).toFixed(2)}x`, spread(rpsRatios),
          fmt(median(list.map(s => s.cpuPerRequest)), 1), cpuRatios.length === 0 ? 'n/a' : `${median(cpuRatios).toFixed(2)}x`, String(median(list.map(s => s.p99))))
      }
      const target = targets[variant.id]
      const achieved = median(ratiosOf(variant.id, most, 'rps'))
      row.push(target === undefined || !Number.isFinite(achieved)
        ? '—'
        : achieved >= target ? `≥ ${target}x: met` : `≥ ${target}x: missed by ${((1 - achieved / target) * 100).toFixed(0)}%`)
      row.push(TOKEN_COUNTS.map(count => samples.get(key(variant.id, count)).map(s => fmt(s.rps)).join(' / ')).join(' ; '))
      out.push(`| ${row.join(' | ')} |`)
    }
    out.push('')
    out.push(`Refresh rotations on RedisStore (server (f) in its own process): ${fmt(refresh.perSecond)} /s with ${REFRESH_CLIENTS} concurrent HTTP clients each rotating its own chain ` +
      `(${fmt(refresh.ops)} rotations in ${LOOP_MS / 1000} s, ${fmt(refresh.cpuPerRotation, 1)} µs server CPU and ${fmt(refresh.clientCpuPerRotation, 1)} µs of the load generator's per rotation; target 5,000 /s); ` +
      `logins (POST /login, ${REFRESH_CLIENTS} concurrent): ${fmt(refresh.loginsPerSecond)} /s`)
    out.push(`Access token (HS256, ${crypto.tokenBytes} bytes): fast-jwt sign ${fmt(crypto.fastJwtSign, 1)} µs/op, fast-jwt verify ${fmt(crypto.fastJwtVerify, 1)} µs/op ` +
      '(fast-jwt directly, configured as the plugin does); ' +
      `fast-jwt verify with its cache, a hit ${fmt(crypto.fastJwtCacheHit, 1)} µs/op, plus a structuredClone of the payload ${fmt(crypto.payloadCopy, 1)} µs/op; ` +
      `app.jwtAuth.verifyAccessToken with MemoryStore, one token again and again ${fmt(crypto.pluginVerify, 1)} µs/op (a verified-token cache hit, its copy and the revocation check); ` +
      `login (app.inject POST /login, MemoryStore) ${fmt(crypto.pluginLogin, 1)} µs/op`)
    out.push('')
    out.push(`Redis memory per active session (RedisStore, ${MEMORY_N} sessions of ${MEMORY_N} users; MEMORY USAGE ... SAMPLES 0), one session per user / 10 sessions per user:`)
    for (const mem of mems) out.push(`- sessionLayout '${mem.sessionLayout}', prefix ${mem.prefix} (${mem.prefix.length} characters): ${fmt(mem.hashBytes + mem.indexBytes)} / ${fmt(mem.hashBytes + mem.indexShareOfTen)} bytes`)
    for (const mem of mems) {
      out.push('')
      out.push(`Redis memory, sessionLayout '${mem.sessionLayout}', prefix ${mem.prefix} (${MEMORY_N} sessions of ${MEMORY_N} users, then ${MEMORY_N} access tokens revoked; MEMORY USAGE ... SAMPLES 0):`)
      out.push(`- session hash: ${fmt(mem.hashBytes)} bytes each (${mem.sessions} keys)`)
      out.push(`- session index (zset) with 1 session: ${fmt(mem.indexBytes)} bytes each (${mem.indexes} keys); with 10 sessions of one user: ${fmt(mem.indexShareOfTen)} bytes per session`)
      out.push(`- per active session: ${fmt(mem.hashBytes + mem.indexBytes)} bytes (one session per user), ${fmt(mem.hashBytes + mem.indexShareOfTen)} bytes (10 sessions per user)`)
      out.push(`- per revoked access token (denylist string): ${fmt(mem.denyBytes)} bytes (${mem.denied} keys), plus its revocation notice (stream entry, kept one access lifetime): ${fmt(mem.noticeBytes)} bytes`)
      out.push(`- cross-check, INFO used_memory delta: ${fmt(mem.usedPerSession)} bytes per login, ${fmt(mem.usedPerRevoked)} bytes per revocation`)
      out.push(`- key examples: \`${mem.sampleKeys.session}\`, \`${mem.sampleKeys.index}\`, \`${mem.sampleKeys.deny}\``)
    }
    out.push('')
    out.push(`Total bench time: ${fmt((Date.now() - startedAt.getTime()) / 1000)} s`)
    console.log(out.join('\n'))
  } finally {
    await redis.stop()
  }
}

await main()
