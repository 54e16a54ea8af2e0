// Test harness: starts and stops real redis-server processes (standalone, 3-master Cluster,
// Sentinel) on free ports, each in its own temp dir. Never touches a Redis it did not start.
//
// The processes run with `--daemonize no` and are spawned by this module, so stop() can wait
// for the real exit of the very process it started. Children are unref'd (a forgotten stop()
// does not hang the test process) and any still alive when the test process exits are killed
// by an 'exit' hook, so a crashed or forgetful test does not leave daemons behind. A test
// process killed by a signal runs no hook: each temp dir names its owner, and the next test
// process that loads the harness stops the servers of owners that are gone (sweepOrphans).
import { spawn, execFile } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer, connect } from 'node:net'
import type { Server } from 'node:net'
import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const HOST = '127.0.0.1'
const REDIS_SERVER = 'redis-server'
const REDIS_CLI = 'redis-cli'
const POLL_MS = 50
const WAIT_MS = 10_000
const STOP_GRACE_MS = 3_000
// Measured on Redis 7.0.15, 30 starts each: with a 5000 ms node timeout, `redis-cli --cluster
// create` waits 2-8 s (once over 10 s) for the nodes to gossip each other in, because a node
// pings a peer it has not heard from only every node-timeout/2; with 1000 ms every start took
// ~2.15 s. The timeout also bounds how long a transient FAIL flag lasts (2 x node timeout).
const CLUSTER_NODE_TIMEOUT_MS = 1_000
const CLUSTER_CREATE_TIMEOUT_MS = 20_000

// ---------------------------------------------------------------------------------------------
// Ports

async function listenOnZero (): Promise<Server> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, HOST, () => { resolve(server) })
  })
}

async function closeServer (server: Server): Promise<void> {
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
}

/** `count` distinct free ports (all held open until every one is picked, so no duplicates). */
async function freePorts (count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnZero())
    return servers.map(server => {
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('freePort: no TCP address')
      return address.port
    })
  } finally {
    await Promise.all(servers.map(closeServer))
  }
}

/** A free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
export async function freePort (): Promise<number> {
  const [port] = await freePorts(1)
  if (port === undefined) throw new Error('freePort: no port')
  return port
}

// ---------------------------------------------------------------------------------------------
// A minimal RESP2 client: one command per connection, with a timeout. Used for PING, INFO,
// CLUSTER INFO, SENTINEL and SHUTDOWN, so the harness needs no ioredis and no reconnect logic.

type Reply = string | number | null | Reply[] | Error

function encode (args: string[]): string {
  return `*${args.length}\r\n` + args.map(arg => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')
}

/** Parses one reply at `offset`; returns undefined if `buffer` does not hold all of it yet. */
function parse (buffer: Buffer, offset: number): { reply: Reply, end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset)
  if (lineEnd === -1) return undefined
  const type = String.fromCharCode(buffer[offset] ?? 0)
  const line = buffer.toString('utf8', offset + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+': return { reply: line, end: next }
    case '-': return { reply: new Error(line), end: next }
    case ':': return { reply: Number(line), end: next }
    case '$': {
      const length = Number(line)
      if (length < 0) return { reply: null, end: next }
      if (buffer.length < next + length + 2) return undefined
      return { reply: buffer.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case '*': {
      const length = Number(line)
      if (length < 0) return { reply: null, end: next }
      const items: Reply[] = []
      let end = next
      for (let i = 0; i < length; i++) {
        const item = parse(buffer, end)
        if (item === undefined) return undefined
        items.push(item.reply)
        end = item.end
      }
      return { reply: items, end }
    }
    default: throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}

/**
 * Sends one command to 127.0.0.1:port and resolves with its reply (a Redis error reply
 * resolves as an Error value). Rejects on connection errors and after `timeoutMs`.
 * With `expectClose`, resolves with null when the server closes the connection (SHUTDOWN).
 */
async function command (port: number, args: string[], timeoutMs = 1000, expectClose = false): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0)
    let settled = false
    const socket = connect({ host: HOST, port })
    const finish = (error: Error | undefined, reply?: Reply): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error !== undefined) reject(error)
      else resolve(reply ?? null)
    }
    const timer = setTimeout(() => {
      finish(new Error(`${args.join(' ')} on port ${port}: no reply after ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', () => { socket.write(encode(args)) })
    socket.on('data', chunk => {
      buffer = Buffer.concat([buffer, chunk])
      try {
        const parsed = parse(buffer, 0)
        if (parsed !== undefined) finish(undefined, parsed.reply)
      } catch (error) {
        finish(error as Error)
      }
    })
    socket.once('error', error => { finish(error) })
    socket.once('close', () => {
      if (expectClose) finish(undefined, null)
      else finish(new Error(`${args.join(' ')} on port ${port}: connection closed without a reply`))
    })
  })
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => { setTimeout(resolve, ms) })
}

/**
 * Polls `check` every POLL_MS until it returns true; throws a clear error after WAIT_MS.
 * `abort` is checked first on each round; if it returns an Error, waiting stops with it.
 */
async function waitFor (what: string, check: () => Promise<boolean>, abort?: () => Promise<Error | undefined>): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  let last = 'no attempt'
  for (;;) {
    const aborted = abort === undefined ? undefined : await abort()
    if (aborted !== undefined) throw aborted
    try {
      if (await check()) return
      last = 'condition not met'
    } catch (error) {
      last = (error as Error).message
    }
    if (Date.now() > deadline) throw new Error(`redis-harness: gave up waiting for ${what} after ${WAIT_MS} ms (last: ${last})`)
    await sleep(POLL_MS)
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

const live = new Set<ChildProcess>()
const liveDirs = new Set<string>()
process.once('exit', () => {
  // Last resort for tests that crashed or forgot stop(): never leave a redis-server or a
  // temp dir behind. (Only 'exit': a test process killed by a signal skips this.)
  for (const child of live) {
    try { child.kill('SIGKILL') } catch {}
  }
  for (const dir of liveDirs) {
    try { rmSync(dir, { recursive: true, force: true }) } catch {}
  }
})

async function makeTempDir (prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  liveDirs.add(dir)
  // Who started what is in here: a later test process sweeps it if this one dies by a signal.
  writeFileSync(join(dir, ownerFile), String(process.pid))
  return dir
}

const ownerFile = 'owner.pid'

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Kills the redis-servers of test processes that died without their 'exit' hook (killed by a
 * signal, as tap does to a test past its timeout), and removes their temp dirs. Only dirs this
 * harness made (an owner.pid inside) whose owner is gone; only a process whose pidfile is in such
 * a dir and whose command line is still that redis-server on that port (a pid may be reused).
 * Runs once when the harness loads; returns how many servers it stopped.
 */
export function sweepOrphans (): number {
  let stopped = 0
  let entries: string[]
  try { entries = readdirSync(tmpdir()) } catch { return 0 }
  for (const entry of entries) {
    if (!entry.startsWith('fja-redis-')) continue
    const dir = join(tmpdir(), entry)
    let files: string[]
    let owner: number
    try {
      files = readdirSync(dir)
      owner = Number(readFileSync(join(dir, ownerFile), 'utf8'))
    } catch {
      continue // not ours, or being made right now
    }
    if (!Number.isSafeInteger(owner) || owner <= 0 || isAlive(owner)) continue
    for (const file of files) {
      const port = /^(?:redis|sentinel)-(\d+)\.pid$/.exec(file)?.[1]
      if (port === undefined) continue
      try {
        const pid = Number(readFileSync(join(dir, file), 'utf8'))
        const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        // The title redis-server gives itself: "redis-server 127.0.0.1:<port>" (maybe " [sentinel]").
        if (commandLine.startsWith('redis-server') && /:(\d+)\b/.exec(commandLine)?.[1] === port) {
          process.kill(pid, 'SIGKILL')
          stopped++
        }
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true })
  }
  return stopped
}
sweepOrphans()

async function removeTempDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  liveDirs.delete(dir)
}

interface Proc {
  child: ChildProcess
  pid: number
  exited: Promise<void>
  hasExited: () => boolean
}

function launch (args: string[]): Proc {
  const child = spawn(REDIS_SERVER, args, { stdio: 'ignore', detached: false })
  let exitedFlag = false
  const exited = new Promise<void>(resolve => {
    const done = (): void => { exitedFlag = true; live.delete(child); resolve() }
    child.once('exit', done)
    child.once('error', done) // e.g. ENOENT: redis-server is not installed
  })
  if (child.pid === undefined) {
    // spawn failed synchronously-ish (ENOENT is reported through 'error'); nothing runs.
    return { child, pid: -1, exited, hasExited: () => true }
  }
  live.add(child)
  child.unref()
  return { child, pid: child.pid, exited, hasExited: () => exitedFlag }
}

async function tail (file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log file)'
  }
}

/** Stops a process started by launch(): SIGCONT (if paused), SHUTDOWN NOSAVE, then SIGKILL. */
async function halt (proc: Proc, port: number): Promise<void> {
  if (proc.hasExited()) return
  proc.child.ref() // keep the event loop alive until the exit is seen
  try {
    try { proc.child.kill('SIGCONT') } catch {}
    try {
      const reply = await command(port, ['SHUTDOWN', 'NOSAVE'], STOP_GRACE_MS, true)
      if (reply instanceof Error) proc.child.kill('SIGTERM') // SHUTDOWN refused: ask by signal
    } catch {}
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      proc.exited.then(() => false),
      new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, STOP_GRACE_MS) })
    ])
    clearTimeout(timer)
    if (timedOut) {
      try { proc.child.kill('SIGKILL') } catch {}
      await proc.exited
    }
  } finally {
    proc.child.unref()
  }
}

/**
 * Spawns redis-server and waits until it answers PING on `port`. If it exits or does not
 * answer in time, it is killed and the error carries the log's tail.
 */
async function launchAndPing (args: string[], port: number, logfile: string): Promise<Proc> {
  const proc = launch(args)
  try {
    await waitFor(`redis-server on port ${port} to answer PING`,
      async () => (await command(port, ['PING'], 500)) === 'PONG',
      async () => proc.hasExited()
        ? new Error(`redis-harness: redis-server on port ${port} exited during start-up (${proc.child.exitCode ?? proc.child.signalCode ?? 'spawn error'}). Log:\n${await tail(logfile)}`)
        : undefined)
    return proc
  } catch (error) {
    await halt(proc, port)
    throw error
  }
}

function isPortClash (error: unknown): boolean {
  return error instanceof Error && /Address already in use|bind: /i.test(error.message)
}

/** Serialises async operations on one object (stop / restart may be called concurrently). */
function serial (): <T>(fn: () => Promise<T>) => Promise<T> {
  let chain: Promise<unknown> = Promise.resolve()
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => {})
    return await run
  }
}

function baseArgs (port: number, dir: string): string[] {
  return [
    '--port', String(port),
    '--bind', HOST,
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--logfile', join(dir, `redis-${port}.log`),
    '--pidfile', join(dir, `redis-${port}.pid`)
  ]
}

// ---------------------------------------------------------------------------------------------
// Standalone

export interface RedisServer {
  host: '127.0.0.1'
  port: number
  url: string // redis://127.0.0.1:PORT
  /** Stops the server (SHUTDOWN NOSAVE, then kill if still alive); idempotent. */
  stop: () => Promise<void>
  /** Starts it again on the same port (empty data) and waits until it answers PING. */
  restart: () => Promise<void>
  /** SIGSTOP / SIGCONT the process: it keeps its data but stops answering. */
  pause: () => void
  resume: () => void
}

/** Starts a standalone redis-server on a free port: --save '' --appendonly no, its own temp dir, logfile, pidfile; waits for PING. `args` are added to its command line. */
export async function startRedis (args: string[] = []): Promise<RedisServer> {
  const dir = await makeTempDir('fja-redis-')
  const startOn = async (port: number): Promise<Proc> => {
    await mkdir(dir, { recursive: true }) // restart() after stop() removed it
    liveDirs.add(dir)
    return await launchAndPing([...baseArgs(port, dir), ...args], port, join(dir, `redis-${port}.log`))
  }

  let port = 0
  let proc: Proc | undefined
  try {
    for (let attempt = 1; proc === undefined; attempt++) {
      port = await freePort()
      try {
        proc = await startOn(port)
      } catch (error) {
        if (attempt >= 3 || !isPortClash(error)) throw error // another process took the port: retry
      }
    }
  } catch (error) {
    await removeTempDir(dir)
    throw error
  }

  const queue = serial()
  const stopProcess = async (): Promise<void> => {
    if (proc !== undefined) await halt(proc, port)
    proc = undefined
  }
  const signal = (name: 'SIGSTOP' | 'SIGCONT'): void => {
    if (proc === undefined || proc.hasExited()) throw new Error(`redis-harness: redis-server on port ${port} is not running`)
    proc.child.kill(name)
  }
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    stop: async () => {
      await queue(async () => {
        await stopProcess()
        await removeTempDir(dir)
      })
    },
    restart: async () => {
      await queue(async () => {
        await stopProcess()
        proc = await startOn(port)
      })
    },
    pause: () => { signal('SIGSTOP') },
    resume: () => { signal('SIGCONT') }
  }
}

// ---------------------------------------------------------------------------------------------
// Replication

async function infoField (port: number, section: string, field: string): Promise<string | undefined> {
  const info = await command(port, ['INFO', section])
  return typeof info === 'string' ? new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(info)?.[1] : undefined
}

/** Resolves when `primary` counts `count` replicas online (each link up and synced). */
export async function awaitReplicas (primary: RedisServer, count: number): Promise<void> {
  await waitFor(`${count} replica(s) online at port ${primary.port}`, async () => {
    const info = await command(primary.port, ['INFO', 'replication'])
    return typeof info === 'string' && (info.match(/^slave\d+:.*state=online/gm) ?? []).length === count &&
      new RegExp(`^connected_slaves:${count}\\r?$`, 'm').test(info)
  })
}

/** Starts a redis-server replicating `primary` and waits until the primary counts it online. */
export async function startReplica (primary: RedisServer): Promise<RedisServer> {
  const replica = await startRedis(['--replicaof', HOST, String(primary.port)])
  try {
    await waitFor(`replica on port ${replica.port} to sync`, async () => await infoField(replica.port, 'replication', 'master_link_status') === 'up')
    await awaitReplicas(primary, 1)
  } catch (error) {
    await replica.stop()
    throw error
  }
  return replica
}

/** Cuts a replica's link for good (REPLICAOF NO ONE on it) and waits until `primary` counts it gone. */
export async function cutReplica (replica: RedisServer, primary: RedisServer): Promise<void> {
  const reply = await command(replica.port, ['REPLICAOF', 'NO', 'ONE'])
  if (reply instanceof Error) throw reply
  await waitFor(`port ${primary.port} to lose its replica`, async () => await infoField(primary.port, 'replication', 'connected_slaves') === '0')
}

/** Points `replica` at `primary` again and waits until it is online there. */
export async function reattachReplica (replica: RedisServer, primary: RedisServer): Promise<void> {
  const reply = await command(replica.port, ['REPLICAOF', HOST, String(primary.port)])
  if (reply instanceof Error) throw reply
  await awaitReplicas(primary, 1)
}

// ---------------------------------------------------------------------------------------------
// Cluster

export interface RedisCluster {
  /** Every node: the masters first, then (with `replicas`) their replicas. */
  nodes: Array<{ host: '127.0.0.1', port: number }>
  stop: () => Promise<void>
  /** SIGKILLs one node (a crash: no SHUTDOWN, nothing saved) and waits for its exit. */
  kill: (port: number) => Promise<void>
  /** The port of the master that serves `slot` now, as a live node sees it. */
  masterOf: (slot: number) => Promise<number>
  /** SIGSTOP / SIGCONT one node: it keeps its data but stops answering. */
  pause: (port: number) => void
  resume: (port: number) => void
  /** Resolves once every running node reports cluster_state:ok. */
  healthy: () => Promise<void>
}

export interface ClusterOptions {
  /** Replicas per master (`--cluster-replicas`). Default 0. */
  replicas?: number
  /**
   * `cluster-require-full-coverage` (Redis default true): while any slot has no master, every
   * node refuses every query (CLUSTERDOWN), healthy shards included. False keeps them serving.
   */
  requireFullCoverage?: boolean
}

async function clusterStateOk (port: number): Promise<boolean> {
  const info = await command(port, ['CLUSTER', 'INFO'])
  return typeof info === 'string' && /^cluster_state:ok\r?$/m.test(info)
}

async function execCli (args: string[], timeoutMs: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`redis-harness: redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`))
      else resolve(stdout)
    })
  })
}

/** Starts a 3-master Redis Cluster (by default no replicas) on free ports, creates it with `redis-cli --cluster create ... --cluster-replicas N --cluster-yes`, waits for cluster_state:ok on every node (and each replica in sync). */
export async function startCluster (options: ClusterOptions = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0
  const dir = await makeTempDir('fja-redis-cluster-')
  const started: Array<{ proc: Proc, port: number }> = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.splice(0).map(async ({ proc, port }) => { await halt(proc, port) }))
    await removeTempDir(dir)
  }
  try {
    // The bus port is chosen explicitly (--cluster-port): the default port + 10000 can be
    // taken, or above 65535 for ports from the upper ephemeral range.
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      for (let attempt = 1; ; attempt++) {
        const [port, busPort] = await freePorts(2) as [number, number]
        const args = [
          ...baseArgs(port, dir),
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPort),
          '--cluster-config-file', join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
          '--cluster-require-full-coverage', options.requireFullCoverage === false ? 'no' : 'yes'
        ]
        try {
          started.push({ port, proc: await launchAndPing(args, port, join(dir, `redis-${port}.log`)) })
          break
        } catch (error) {
          if (attempt >= 3 || !isPortClash(error)) throw error
        }
      }
    }
    const ports = started.map(node => node.port)
    await execCli(['--cluster', 'create', ...ports.map(port => `${HOST}:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], CLUSTER_CREATE_TIMEOUT_MS)
    for (const port of ports) await waitFor(`cluster_state:ok on port ${port}`, async () => await clusterStateOk(port))
    // redis-cli makes the first three nodes masters and the others their replicas.
    for (const port of ports.slice(3)) {
      await waitFor(`replica on port ${port} to sync`, async () => await infoField(port, 'replication', 'master_link_status') === 'up')
    }
    // Clients learn the replicas from CLUSTER SLOTS, which lists one only once gossip has told
    // that node of it: wait until every node lists every replica.
    for (const port of ports) {
      await waitFor(`${replicas} replica(s) per slot range in CLUSTER SLOTS on port ${port}`, async () => {
        const ranges = await command(port, ['CLUSTER', 'SLOTS'])
        return Array.isArray(ranges) && ranges.every(range => Array.isArray(range) && range.length === 3 + replicas)
      })
    }
  } catch (error) {
    await stopAll()
    throw error
  }

  const queue = serial()
  const nodeOn = (port: number): { proc: Proc, port: number } => {
    const node = started.find(candidate => candidate.port === port)
    if (node === undefined || node.proc.hasExited()) throw new Error(`redis-harness: no running Cluster node on port ${port}`)
    return node
  }
  return {
    nodes: started.map(({ port }) => ({ host: HOST, port })),
    stop: async () => { await queue(stopAll) },
    kill: async (port: number) => {
      const { proc } = nodeOn(port)
      proc.child.kill('SIGKILL')
      await proc.exited
    },
    pause: (port: number) => { nodeOn(port).proc.child.kill('SIGSTOP') },
    resume: (port: number) => { nodeOn(port).proc.child.kill('SIGCONT') },
    healthy: async () => {
      for (const { port, proc } of started) {
        if (!proc.hasExited()) await waitFor(`cluster_state:ok on port ${port}`, async () => await clusterStateOk(port))
      }
    },
    masterOf: async (slot: number) => {
      for (const { port, proc } of started) {
        if (proc.hasExited()) continue
        const ranges = await command(port, ['CLUSTER', 'SLOTS']).catch(() => null)
        if (!Array.isArray(ranges)) continue
        for (const range of ranges) {
          if (!Array.isArray(range)) continue
          const [from, to, master] = range
          if (typeof from === 'number' && typeof to === 'number' && from <= slot && slot <= to && Array.isArray(master)) return Number(master[1])
        }
      }
      throw new Error(`redis-harness: no live node knows the master of slot ${slot}`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sentinel

export interface RedisSentinel {
  host: '127.0.0.1'
  port: number
  masterName: string // e.g. 'fja-master'
  stop: () => Promise<void>
}

export interface SentinelOptions {
  /** Votes needed to call the master down. Default 1. */
  quorum?: number
  /** How long the master must be silent to be called down (ms). Default 5000. */
  downAfter?: number
  /** Sentinel's failover-timeout (ms). Default 60000. */
  failoverTimeout?: number
}

/** Starts a Sentinel (redis-server <tmp copy of a generated sentinel.conf> --sentinel) on a free port monitoring `master`, waits until `SENTINEL get-master-addr-by-name` answers with master's port. */
export async function startSentinel (master: RedisServer, options: SentinelOptions = {}): Promise<RedisSentinel> {
  const masterName = 'fja-master'
  const dir = await makeTempDir('fja-redis-sentinel-')
  let port = 0
  let proc: Proc | undefined
  try {
    for (let attempt = 1; proc === undefined; attempt++) {
      port = await freePort()
      const logfile = join(dir, `sentinel-${port}.log`)
      // Sentinel rewrites its config file, so it lives in the temp dir.
      const conf = join(dir, `sentinel-${port}.conf`)
      await writeFile(conf, [
        `port ${port}`,
        `bind ${HOST}`,
        'daemonize no',
        `dir ${dir}`,
        `logfile ${logfile}`,
        `pidfile ${join(dir, `sentinel-${port}.pid`)}`,
        'sentinel resolve-hostnames no',
        'sentinel announce-hostnames no',
        `sentinel monitor ${masterName} ${HOST} ${master.port} ${options.quorum ?? 1}`,
        `sentinel down-after-milliseconds ${masterName} ${options.downAfter ?? 5000}`,
        `sentinel failover-timeout ${masterName} ${options.failoverTimeout ?? 60000}`,
        `sentinel parallel-syncs ${masterName} 1`,
        ''
      ].join('\n'))
      try {
        proc = await launchAndPing([conf, '--sentinel'], port, logfile)
      } catch (error) {
        if (attempt >= 3 || !isPortClash(error)) throw error
      }
    }
    const sentinelPort = port
    await waitFor(`sentinel on port ${port} to report ${masterName} at port ${master.port}`, async () => {
      const reply = await command(sentinelPort, ['SENTINEL', 'get-master-addr-by-name', masterName])
      return Array.isArray(reply) && reply[0] === HOST && reply[1] === String(master.port)
    })
  } catch (error) {
    if (proc !== undefined) await halt(proc, port)
    await removeTempDir(dir)
    throw error
  }

  const queue = serial()
  const running: Proc = proc
  return {
    host: HOST,
    port,
    masterName,
    stop: async () => {
      await queue(async () => {
        await halt(running, port)
        await removeTempDir(dir)
      })
    }
  }
}

/** A client that can open a MONITOR connection (an ioredis Redis). */
interface Monitorable {
  monitor: () => Promise<{ on: (event: 'monitor', listener: (time: string, args: string[], source: string) => void) => unknown, disconnect: () => void }>
}

/**
 * The commands clients send to the server of `client` from now on (lower-cased names; what scripts
 * run inside Redis is left out, `skip` leaves out more), until `stop`. Waits until MONITOR is on.
 */
export async function watchSentCommands (client: Monitorable, skip: (args: string[]) => boolean = () => false): Promise<{ commands: string[], stop: () => void }> {
  const monitor = await client.monitor()
  const commands: string[] = []
  monitor.on('monitor', (_time, args, source) => {
    if (source !== 'lua' && !skip(args)) commands.push(String(args[0]).toLowerCase())
  })
  await new Promise(resolve => setTimeout(resolve, 50))
  return { commands, stop: () => { monitor.disconnect() } }
}
