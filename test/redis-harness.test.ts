// Proves the Redis test harness: every start function gives a server a real ioredis client can
// use, and every stop function leaves nothing running.
import t from 'tap'
import type { Test } from 'tap'
import { createServer, connect } from 'node:net'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis, Cluster } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { freePort, startRedis, startCluster, startSentinel, sweepOrphans } from './redis-harness.js'
import { spawn } from 'node:child_process'
import { once } from 'node:events'

function client (t: Test, options: RedisOptions): Redis {
  const redis = new Redis(options)
  redis.on('error', () => {}) // reconnect noise while servers stop and start is expected
  t.teardown(() => { redis.disconnect() })
  return redis
}

/** Resolves true when 127.0.0.1:port refuses connections. */
async function refused (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', error => { resolve((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') })
  })
}

async function pidOf (redis: Redis): Promise<number> {
  const info = await redis.info('server')
  const match = /^process_id:(\d+)/m.exec(info)
  if (match?.[1] === undefined) throw new Error('no process_id in INFO server')
  return Number(match[1])
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

t.test('freePort gives a port that can be listened on', async t => {
  const port = await freePort()
  t.ok(Number.isInteger(port) && port > 0 && port < 65536, `port ${port}`)
  t.not(port, 6379)
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  t.pass('listened on it')
})

t.test('startRedis: SET/GET work, stop() kills the process and is idempotent', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  t.equal(server.host, '127.0.0.1')
  t.not(server.port, 6379)
  t.equal(server.url, `redis://127.0.0.1:${server.port}`)
  const redis = client(t, { host: server.host, port: server.port, maxRetriesPerRequest: 0, retryStrategy: () => null })
  t.equal(await redis.set('fja:harness', 'v1'), 'OK')
  t.equal(await redis.get('fja:harness'), 'v1')
  t.match(await redis.config('GET', 'save'), ['save', ''], 'no RDB snapshots')
  t.match(await redis.config('GET', 'appendonly'), ['appendonly', 'no'], 'no AOF')
  const pid = await pidOf(redis)
  t.ok(alive(pid), 'process is running')
  await server.stop()
  t.notOk(alive(pid), 'process is gone after stop()')
  t.ok(await refused(server.port), 'port refuses connections')
  await server.stop()
  t.pass('a second stop() resolves')
})

t.test('restart() brings back an empty server on the same port, also after stop()', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const port = server.port
  const redis = client(t, { host: server.host, port })
  await redis.set('fja:harness', 'before')
  const pidBefore = await pidOf(redis)
  await server.restart()
  t.equal(server.port, port, 'same port')
  t.notOk(alive(pidBefore), 'the old process is gone')
  t.equal(await redis.get('fja:harness'), null, 'the data is gone (the client reconnected)')
  t.not(await pidOf(redis), pidBefore, 'a new process answers')
  await server.stop()
  t.ok(await refused(port), 'stopped')
  await server.restart()
  t.equal(await redis.ping(), 'PONG', 'restart() after stop() starts it again')
  const pid = await pidOf(redis)
  await server.stop()
  t.notOk(alive(pid), 'and stop() stops it again')
})

t.test('pause() makes commands time out, resume() makes the server answer again with its data', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const redis = client(t, { host: server.host, port: server.port, commandTimeout: 300 })
  await redis.set('fja:harness', 'kept')
  server.pause()
  const started = Date.now()
  await t.rejects(redis.get('fja:harness'), /timed out/i, 'paused: the command times out')
  t.ok(Date.now() - started < 2000, 'after about commandTimeout')
  server.resume()
  t.equal(await redis.get('fja:harness'), 'kept', 'resumed: answers, data kept')
  server.pause()
  const pid = await pidOf(redis).catch(() => 0)
  t.equal(pid, 0, 'paused again')
  await server.stop()
  t.ok(await refused(server.port), 'stop() also stops a paused server')
  t.throws(() => { server.pause() }, /not running/, 'pause() on a stopped server throws')
})

t.test('startCluster: 3 masters, keys spread over all nodes, stop() stops every node', async t => {
  const cluster = await startCluster()
  t.teardown(cluster.stop)
  t.equal(cluster.nodes.length, 3)
  t.equal(new Set(cluster.nodes.map(node => node.port)).size, 3, 'distinct ports')

  const clusterClient = new Cluster(cluster.nodes)
  clusterClient.on('error', () => {})
  t.teardown(() => { clusterClient.disconnect() })
  const keys = Array.from({ length: 30 }, (_, i) => `fja:harness:${i}`)
  for (const key of keys) await clusterClient.set(key, `value-${key}`)
  for (const key of keys) t.equal(await clusterClient.get(key), `value-${key}`)

  const pids: number[] = []
  let total = 0
  for (const node of cluster.nodes) {
    const direct = client(t, { ...node, retryStrategy: () => null })
    const info = await direct.cluster('INFO')
    t.match(info, /^cluster_state:ok/m, `node ${node.port}: cluster_state:ok`)
    t.match(info, /^cluster_known_nodes:3/m)
    t.match(info, /^cluster_slots_assigned:16384/m)
    const size = await direct.dbsize()
    t.ok(size > 0, `node ${node.port} holds ${size} of the keys`)
    total += size
    pids.push(await pidOf(direct))
  }
  t.equal(total, keys.length, 'every key is on exactly one node')

  await cluster.stop()
  for (const [i, node] of cluster.nodes.entries()) {
    t.notOk(alive(pids[i] ?? 0), `node ${node.port}: process gone`)
    t.ok(await refused(node.port), `node ${node.port}: connection refused`)
  }
  await cluster.stop()
  t.pass('a second stop() resolves')
})

t.test('startSentinel: a sentinel client writes to the master; stop() stops the sentinel only', async t => {
  const master = await startRedis()
  t.teardown(master.stop)
  const sentinel = await startSentinel(master)
  t.teardown(sentinel.stop)
  t.equal(sentinel.host, '127.0.0.1')
  t.not(sentinel.port, master.port)
  t.equal(sentinel.masterName, 'fja-master')

  const viaSentinel = client(t, { sentinels: [{ host: sentinel.host, port: sentinel.port }], name: sentinel.masterName })
  t.equal(await viaSentinel.set('fja:harness', 'via-sentinel'), 'OK')
  const direct = client(t, { host: master.host, port: master.port })
  t.equal(await direct.get('fja:harness'), 'via-sentinel', 'read back directly from the master')

  const probe = client(t, { host: sentinel.host, port: sentinel.port, retryStrategy: () => null })
  t.same(await probe.call('SENTINEL', 'get-master-addr-by-name', sentinel.masterName), ['127.0.0.1', String(master.port)])
  const pid = await pidOf(probe)

  await sentinel.stop()
  t.notOk(alive(pid), 'sentinel process gone')
  t.ok(await refused(sentinel.port), 'sentinel port refuses connections')
  t.equal(await direct.get('fja:harness'), 'via-sentinel', 'the master still runs')
  await sentinel.stop()
  t.pass('a second stop() resolves')
})

t.test('a start that fails half-way leaves no process and no temp dir behind', async t => {
  const scratch = await mkdtemp(join(tmpdir(), 'fja-harness-test-'))
  const bin = join(scratch, 'bin')
  const temp = join(scratch, 'tmp')
  await mkdir(bin)
  await mkdir(temp)
  const saved = { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR }
  t.teardown(async () => {
    process.env.PATH = saved.PATH
    if (saved.TMPDIR === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = saved.TMPDIR
    await rm(scratch, { recursive: true, force: true })
  })
  process.env.PATH = `${bin}:${saved.PATH ?? ''}`
  process.env.TMPDIR = temp // the harness's temp dirs go here, so leftovers are visible

  // The 3 nodes start, then `redis-cli --cluster create` fails: every node must be stopped.
  const argsFile = join(scratch, 'cli-args')
  await writeFile(join(bin, 'redis-cli'), `#!/bin/sh\necho "$@" > '${argsFile}'\necho 'simulated create failure' >&2\nexit 1\n`)
  await chmod(join(bin, 'redis-cli'), 0o755)
  await t.rejects(startCluster(), /simulated create failure/)
  const ports = [...(await readFile(argsFile, 'utf8')).matchAll(/127\.0\.0\.1:(\d+)/g)].map(match => Number(match[1]))
  t.equal(ports.length, 3, 'the nodes were up when create ran')
  for (const port of ports) t.ok(await refused(port), `node ${port} was stopped`)
  t.same(await readdir(temp), [], 'its temp dir was removed')

  // redis-server itself dies at start-up: a clear error, nothing left behind.
  await writeFile(join(bin, 'redis-server'), '#!/bin/sh\nexit 3\n')
  await chmod(join(bin, 'redis-server'), 0o755)
  await t.rejects(startRedis(), /exited during start-up \(3\)/)
  await t.rejects(startCluster(), /exited during start-up \(3\)/)
  t.same(await readdir(temp), [], 'no temp dir left')
})

t.test('a test process killed by a signal leaves a redis-server that the next harness load stops', async t => {
  const fixture = join(__dirname, 'fixtures', 'orphan-redis.ts')
  const child = spawn(process.execPath, [...process.execArgv, fixture], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => { output += chunk })
  while (!output.includes('\n')) await once(child.stdout, 'data')
  const port = Number(output.trim())
  const redis = client(t, { port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null })
  const pid = await pidOf(redis)
  child.kill('SIGKILL')
  await once(child, 'exit')
  t.equal(alive(pid), true, 'the killed test process left its redis-server running (no exit hook ran)')
  const dirs = (await readdir(tmpdir())).filter(name => name.startsWith('fja-redis-'))
  t.ok(sweepOrphans() >= 1, 'the sweep stopped it')
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(alive(pid), false, 'the orphan is gone')
  t.ok(await refused(port), 'its port refuses connections')
  const left = (await readdir(tmpdir())).filter(name => name.startsWith('fja-redis-'))
  t.ok(left.length < dirs.length, 'its temp dir is removed')
  t.equal(sweepOrphans(), 0, 'the servers of live test processes, this one\'s included, are left alone')
})
