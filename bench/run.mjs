// npm run bench: builds dist (the npm script does), then loads each server variant in turn
// with autocannon and prints a Markdown table, plus refresh, sign/verify and Redis memory figures.
// Uses its own redis-server on a free port (never a Redis already running on the machine).
import { fork, spawn, execFileSync } from 'node:child_process'
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
// Distinct access tokens per variant, used round-robin. 1 (default): every request carries the
// same token (no variant caches verified tokens, so this costs them all the same).
const TOKENS = Number(process.env.BENCH_TOKENS ?? 1)

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
  { id: 'g', name: 'fastify-jwt-auth, RedisStore + revocation replica', file: 'g-plugin-replica.mjs', token: 'login' }
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
  const tokens = []
  for (let i = 0; i < TOKENS; i++) tokens.push(await tokenFor(variant, port, i))
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

async function refreshRotations (redisPort) {
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1, enableAutoPipelining: true })
  const app = await pluginApp(new RedisStore({ client: redis, prefix: 'bench-refresh:' }))
  let { refresh_token: refreshToken } = await login(app, 'refresh-user')
  let ops = 0
  const start = performance.now()
  while (performance.now() - start < LOOP_MS) {
    const response = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } })
    if (response.statusCode !== 200) throw new Error(`refresh: ${response.statusCode} ${response.body}`)
    refreshToken = response.json().refresh_token
    ops++
  }
  const seconds = (performance.now() - start) / 1000
  await app.close()
  redis.disconnect()
  return { ops, perSecond: ops / seconds }
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

async function memory (redisPort) {
  const prefix = `bench-mem-${randomBytes(4).toString('hex')}:`
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1, enableAutoPipelining: true })
  const app = await pluginApp(new RedisStore({ client: redis, prefix }))
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
  const samples = new Map(runnable.map(v => [v.id, []]))
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order across rounds so that no variant always runs first or last.
      const order = runnable.map((_, i) => runnable[(i + round) % runnable.length])
      for (const variant of order) {
        const server = await startServer(variant, env)
        try {
          const tokens = await tokensFor(variant, server.port)
          await load(server.port, tokens, WARMUP_S) // discarded
          const cpuBefore = await server.cpu()
          const sample = await load(server.port, tokens, DURATION_S)
          // Server CPU per request: steadier than req/s when load generator, server and Redis
          // share two cores, since it does not count time the server spent waiting for a core.
          sample.cpuPerRequest = (await server.cpu() - cpuBefore) / sample.total
          samples.get(variant.id).push(sample)
          console.error(`round ${round + 1}/${ROUNDS} (${variant.id}) ${fmt(sample.rps)} req/s, p99 ${sample.p99} ms, ${fmt(sample.cpuPerRequest, 1)} µs CPU/request`)
        } finally {
          await server.stop()
        }
      }
    }
    console.error('refresh rotations...')
    const refresh = await refreshRotations(redis.port)
    console.error('sign/verify...')
    const crypto = await signVerify()
    console.error('memory...')
    const mem = await memory(redis.port)

    const stats = new Map([...samples].map(([id, list]) => [id, {
      rps: median(list.map(s => s.rps)), p99: median(list.map(s => s.p99)), runs: list.map(s => Math.round(s.rps)),
      cpu: median(list.map(s => s.cpuPerRequest))
    }]))
    const base = stats.get('b')
    const cpu = cpus()
    const out = []
    out.push(`Date: ${startedAt.toISOString()}`)
    out.push(`Machine: ${cpu[0].model}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}`)
    out.push(`Node ${process.version}; fastify ${versionOf('fastify')}, @fastify/jwt ${versionOf('@fastify/jwt')}, fast-jwt ${versionOf('fast-jwt')}, ` +
      `ioredis ${versionOf('ioredis')}, express ${versionOf('express')}, express-jwt ${versionOf('express-jwt')}, jsonwebtoken ${versionOf('jsonwebtoken')}, ` +
      `autocannon ${versionOf('autocannon')}, fastify-jwt-auth ${versionOf('..')}; redis-server ${redis.version}`)
    out.push(`Load: autocannon, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${WARMUP_S} s warm-up (discarded) + ${DURATION_S} s measured, ` +
      `${ROUNDS} rounds alternating the variants; medians of the rounds. GET /data with a Bearer token ` +
      `(${TOKENS === 1 ? 'the same token on every request' : `${TOKENS} distinct tokens, round-robin`}), all on one machine (load generator included).`)
    out.push('')
    out.push('| variant | req/s (median) | vs (b) | p99 ms (median) | p99 vs (b) | server CPU µs/request (median) | requests per CPU-second vs (b) | req/s per round |')
    out.push('|---|--:|--:|--:|--:|--:|--:|---|')
    for (const variant of variants) {
      const s = stats.get(variant.id)
      if (s === undefined) {
        out.push(`| (${variant.id}) ${variant.name} | ${variant.file === null ? 'not implemented' : 'not run'} | | | | | | |`)
        continue
      }
      const vsRps = base ? `${(s.rps / base.rps).toFixed(2)}x` : 'n/a'
      const vsP99 = base ? `${(s.p99 / base.p99).toFixed(2)}x` : 'n/a'
      const vsCpu = base ? `${(base.cpu / s.cpu).toFixed(2)}x` : 'n/a'
      out.push(`| (${variant.id}) ${variant.name} | ${fmt(s.rps)} | ${vsRps} | ${s.p99} | ${vsP99} | ${fmt(s.cpu, 1)} | ${vsCpu} | ${s.runs.map(r => fmt(r)).join(' / ')} |`)
    }
    out.push('')
    out.push(`Refresh rotations on RedisStore: ${fmt(refresh.perSecond)} /s (sequential chain of POST /auth/refresh through app.inject, in-process, no HTTP socket; ${refresh.ops} rotations in ${LOOP_MS / 1000} s)`)
    out.push(`Access token (HS256, ${crypto.tokenBytes} bytes): fast-jwt sign ${fmt(crypto.fastJwtSign, 1)} µs/op, fast-jwt verify ${fmt(crypto.fastJwtVerify, 1)} µs/op ` +
      '(fast-jwt directly, configured as the plugin does); ' +
      `fast-jwt verify with its cache, a hit ${fmt(crypto.fastJwtCacheHit, 1)} µs/op, plus a structuredClone of the payload ${fmt(crypto.payloadCopy, 1)} µs/op; ` +
      `app.jwtAuth.verifyAccessToken with MemoryStore ${fmt(crypto.pluginVerify, 1)} µs/op (signature, claims, revocation check); ` +
      `login (app.inject POST /login, MemoryStore) ${fmt(crypto.pluginLogin, 1)} µs/op`)
    out.push('')
    out.push(`Redis memory (RedisStore, ${MEMORY_N} sessions of ${MEMORY_N} users, then ${MEMORY_N} access tokens revoked; MEMORY USAGE ... SAMPLES 0):`)
    out.push(`- session hash: ${fmt(mem.hashBytes)} bytes each (${mem.sessions} keys)`)
    out.push(`- session index (zset) with 1 session: ${fmt(mem.indexBytes)} bytes each (${mem.indexes} keys); with 10 sessions of one user: ${fmt(mem.indexShareOfTen)} bytes per session`)
    out.push(`- per active session: ${fmt(mem.hashBytes + mem.indexBytes)} bytes (one session per user), ${fmt(mem.hashBytes + mem.indexShareOfTen)} bytes (10 sessions per user)`)
    out.push(`- per revoked access token (denylist string): ${fmt(mem.denyBytes)} bytes (${mem.denied} keys), plus its revocation notice (stream entry, kept one access lifetime): ${fmt(mem.noticeBytes)} bytes`)
    out.push(`- cross-check, INFO used_memory delta: ${fmt(mem.usedPerSession)} bytes per login, ${fmt(mem.usedPerRevoked)} bytes per revocation`)
    out.push(`- key examples: \`${mem.sampleKeys.session}\`, \`${mem.sampleKeys.index}\`, \`${mem.sampleKeys.deny}\``)
    out.push('')
    out.push(`Total bench time: ${fmt((Date.now() - startedAt.getTime()) / 1000)} s`)
    console.log(out.join('\n'))
  } finally {
    await redis.stop()
  }
}

await main()
