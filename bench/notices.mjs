// npm run bench:notices: revocation notices on a 3-master Redis Cluster this script starts on free
// ports (never a Redis already running). Prints, as Markdown rows:
// - revocations per second (revokeToken of distinct users: one notice and one denylist entry
//   each), from CONCURRENCY callers for DURATION_S, and how the notices spread over the masters;
// - what an idle instance with the revocation replica (maxStaleness 1 s) costs Redis: script
//   calls per second and every command per second, summed over the masters, for IDLE_S.
// FJA_DIST points at another build (e.g. an older version's dist/esm/index.js) to compare.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { Cluster, Redis } from 'ioredis'
import { freePort } from './free-port.mjs'

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64)
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5)
const IDLE_S = Number(process.env.BENCH_IDLE ?? 10)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const dist = process.env.FJA_DIST === undefined ? new URL('../dist/esm/index.js', import.meta.url) : pathToFileURL(resolve(process.env.FJA_DIST))
const { default: jwtAuth, RedisStore } = await import(dist.href)

async function startCluster () {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'))
  const nodes = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const bus = await freePort()
    const child = spawn('redis-server', [
      '--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--dir', dir, '--loglevel', 'warning', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000'
    ], { stdio: 'ignore' })
    nodes.push({ host: '127.0.0.1', port, child })
  }
  for (const { port } of nodes) {
    for (let i = 0; i < 200; i++) {
      try {
        if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() === 'PONG') break
      } catch {}
      await sleep(50)
    }
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map(({ port }) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' })
  for (const { port } of nodes) {
    while (!execFileSync('redis-cli', ['-p', String(port), 'cluster', 'info']).toString().includes('cluster_state:ok')) await sleep(50)
  }
  return {
    nodes: nodes.map(({ host, port }) => ({ host, port })),
    async stop () {
      for (const { port, child } of nodes) {
        try { execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'ignore' }) } catch {}
        child.kill('SIGKILL')
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Command counts per master (INFO commandstats), by command name. */
async function commandStats (admins) {
  return await Promise.all(admins.map(async admin => {
    const counts = {}
    for (const [, name, calls] of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[name] = Number(calls)
    return counts
  }))
}

const cluster = await startCluster()
const admins = cluster.nodes.map(({ port }) => new Redis(port, '127.0.0.1'))
const rows = []
try {
  for (let round = 1; round <= ROUNDS; round++) {
    const client = new Cluster(cluster.nodes, { enableAutoPipelining: true })
    const store = new RedisStore({ client, prefix: `bench${round}:` })
    store.useAccessLifetime(900_000)
    await Promise.all(admins.map(admin => admin.config('RESETSTAT')))
    let next = 0
    let done = 0
    const end = Date.now() + DURATION_S * 1000
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        await store.revokeToken(`user-${round}-${next++}`, 'jti', 60_000)
        done++
      }
    }))
    const xadds = (await commandStats(admins)).map(counts => counts.xadd ?? 0)
    rows.push(`| revocations/s, round ${round} | ${Math.round(done / DURATION_S)} | notices per master: ${xadds.join(' / ')} |`)
    await store.close()
    client.disconnect()
  }

  const client = new Cluster(cluster.nodes, { enableAutoPipelining: true })
  const app = Fastify()
  await app.register(jwtAuth, { secret: randomBytes(32).toString('base64url'), store: new RedisStore({ client, prefix: 'idle:' }), revocation: { replica: true, maxStaleness: '1s' } })
  await app.ready()
  await sleep(1000)
  await Promise.all(admins.map(admin => admin.config('RESETSTAT')))
  await sleep(IDLE_S * 1000)
  const stats = await commandStats(admins)
  const sum = pick => stats.reduce((total, counts) => total + Object.entries(counts).filter(([name]) => pick(name)).reduce((part, [, calls]) => part + calls, 0), 0)
  // RESETSTAT and INFO are this script's own.
  const ours = name => name === 'info' || name.startsWith('config')
  rows.push(`| idle replica: script calls/s | ${(sum(name => name === 'evalsha' || name === 'eval') / IDLE_S).toFixed(1)} | every command/s (inside scripts too): ${(sum(name => !ours(name)) / IDLE_S).toFixed(1)} |`)
  await app.close()
  client.disconnect()
} finally {
  for (const admin of admins) admin.disconnect()
  await cluster.stop()
}
console.log(`| Measure (${dist.pathname.includes('/dist/') ? dist.pathname.split('/dist/')[0].split('/').at(-1) : dist.pathname}) | Value | Detail |\n|---|---|---|\n${rows.join('\n')}`)
