// npm run bench:durability: what RedisStore's waitForReplicas costs. Starts its own primary and a
// replica on this machine (never a Redis already running), then measures rotations/s and
// revocations/s in-process (app.inject, no HTTP socket) with and without WAIT, at 1 and 50
// concurrent clients, and prints a Markdown table.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import jwtAuth, { RedisStore } from '../dist/esm/index.js'
import { freePort } from './free-port.mjs'

const LOOP_MS = Number(process.env.BENCH_LOOP_MS ?? 2000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECRET = 'bench-durability-secret-of-at-least-32-bytes!'
const modes = [
  { name: 'no WAIT', options: {} },
  { name: 'waitForReplicas { replicas: 1, timeout: 50 }', options: { waitForReplicas: { replicas: 1, timeout: 50 } } }
]

const children = new Set()
process.on('exit', () => { for (const child of children) child.kill('SIGKILL') })

const cli = (port, ...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()

async function startRedis (extra = []) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-durability-'))
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--dir', dir, '--loglevel', 'warning', ...extra
  ], { stdio: 'ignore' })
  children.add(child)
  for (let i = 0; i < 200; i++) {
    try { if (cli(port, 'ping') === 'PONG') break } catch {}
    await sleep(50)
  }
  return {
    port,
    async stop () {
      try { cli(port, 'shutdown', 'nosave') } catch {}
      await new Promise(resolve => { if (child.exitCode !== null) resolve(); else child.once('exit', resolve) })
      children.delete(child)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function pluginApp (redis, prefix, options) {
  const app = Fastify()
  await app.register(jwtAuth, { secret: SECRET, store: new RedisStore({ client: redis, prefix, ...options }) })
  app.post('/login', async (request, reply) => reply.issueTokens({ sub: request.body.sub, roles: ['user'] }))
  await app.ready()
  return app
}

async function login (app, sub) {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { sub } })
  if (response.statusCode !== 200) throw new Error(`login: ${response.statusCode} ${response.body}`)
  return response.json()
}

/** `clients` chains of POST /auth/refresh for LOOP_MS; rotations per second. */
async function rotations (app, clients, round) {
  const tokens = await Promise.all(Array.from({ length: clients }, async (_, i) => (await login(app, `rotate-${round}-${i}`)).refresh_token))
  let ops = 0
  const start = performance.now()
  await Promise.all(tokens.map(async token => {
    while (performance.now() - start < LOOP_MS) {
      const response = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
      // A WAIT that timed out: counted, and the same token retried (within grace), as a client would.
      if (response.statusCode === 503) { failures.count++; continue }
      if (response.statusCode !== 200) throw new Error(`refresh: ${response.statusCode} ${response.body}`)
      token = response.json().refresh_token
      ops++
    }
  }))
  return ops / ((performance.now() - start) / 1000)
}

/** Logouts (POST /auth/logout with the refresh token) by `clients` at once for LOOP_MS; per second. */
async function revocations (app, clients, round) {
  // Sessions made ahead, outside the timed part: one per logout, of distinct users.
  const perClient = Math.ceil(clients === 1 ? 4000 : 12000 / clients)
  const queues = []
  for (let i = 0; i < clients; i++) {
    const queue = []
    for (let j = 0; j < perClient; j++) queue.push((await login(app, `revoke-${round}-${i}-${j}`)).refresh_token)
    queues.push(queue)
  }
  let ops = 0
  const start = performance.now()
  await Promise.all(queues.map(async queue => {
    while (performance.now() - start < LOOP_MS && queue.length > 0) {
      const response = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: queue.pop() } })
      if (response.statusCode === 503) { failures.count++; continue }
      if (response.statusCode !== 204) throw new Error(`logout: ${response.statusCode} ${response.body}`)
      ops++
    }
  }))
  return ops / ((performance.now() - start) / 1000)
}

/** 503s (WAIT timed out) seen by the measurements. */
const failures = { count: 0 }
const median = values => [...values].sort((x, y) => x - y)[values.length >> 1]
const fmt = value => Math.round(value).toLocaleString('en-US')

const primary = await startRedis()
const replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port)])
try {
  for (let i = 0; i < 200 && !/connected_slaves:1/.test(cli(primary.port, 'info', 'replication')); i++) await sleep(50)
  const version = cli(primary.port, 'info', 'server').match(/redis_version:(\S+)/)[1]
  const apps = []
  for (const [index, mode] of modes.entries()) {
    const redis = new Redis({ host: '127.0.0.1', port: primary.port, maxRetriesPerRequest: 1, enableAutoPipelining: true })
    apps.push({ mode, redis, app: await pluginApp(redis, `bench-durability-${index}:`, mode.options), samples: { 1: { rotated: [], revoked: [] }, 50: { rotated: [], revoked: [] } } })
  }
  // Rounds alternate the order of the modes, so that load from elsewhere on the machine does not
  // always fall on the same one.
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? apps : [...apps].reverse()
    for (const clients of [1, 50]) {
      for (const { mode, app, samples } of order) {
        const rotated = await rotations(app, clients, `${clients}-${round}`)
        const revoked = await revocations(app, clients, `${clients}-${round}`)
        samples[clients].rotated.push(rotated)
        samples[clients].revoked.push(revoked)
        console.error(`round ${round + 1}, ${mode.name}, ${clients} client(s): ${fmt(rotated)} rotations/s, ${fmt(revoked)} logouts/s`)
      }
    }
  }
  const rows = apps.map(({ mode, samples }) => ({
    mode,
    figures: Object.fromEntries([1, 50].map(clients => [clients, { rotated: median(samples[clients].rotated), revoked: median(samples[clients].revoked) }]))
  }))
  for (const { app, redis } of apps) {
    await app.close()
    redis.disconnect()
  }
  const base = rows[0].figures
  console.log(`Machine: ${cpus()[0].model}, ${cpus().length} cores; Node ${process.version}; redis-server ${version}, primary and one replica on 127.0.0.1`)
  console.log(`In-process (app.inject), ${LOOP_MS / 1000} s per figure, median of ${ROUNDS} rounds alternating the modes; ${failures.count} calls answered 503 (a WAIT that timed out).`)
  console.log('')
  console.log('| RedisStore | rotations/s, 1 client | rotations/s, 50 clients | logouts/s, 1 client | logouts/s, 50 clients |')
  console.log('|---|--:|--:|--:|--:|')
  for (const { mode, figures } of rows) {
    const cell = (clients, kind) => `${fmt(figures[clients][kind])}${mode === modes[0] ? '' : ` (${(figures[clients][kind] / base[clients][kind]).toFixed(2)}x)`}`
    console.log(`| ${mode.name} | ${cell(1, 'rotated')} | ${cell(50, 'rotated')} | ${cell(1, 'revoked')} | ${cell(50, 'revoked')} |`)
  }
} finally {
  await replica.stop()
  await primary.stop()
}
