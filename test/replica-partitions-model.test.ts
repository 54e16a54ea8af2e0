// Model-based test of the revocation replica over notice partitions, on a real 3-master Cluster:
// fast-check drives random revocations, reads of the feed, partitions that cannot be read (their
// stream moved aside, as when their master is away, then back) and partitions that lose their
// data, against a small model of what the replica must know; after each step every user's token
// (issued before the run) is checked against it. MODEL_SEED and MODEL_RUNS as in store-model.test.ts.
import t from 'tap'
import fc from 'fast-check'
import { Cluster } from 'ioredis'
import Fastify from 'fastify'
import { RedisStore } from '../lib/index.js'
import { RevocationReplica } from '../lib/session/replica.js'
import { noticePartitionCount, noticePartitionTags, partitionOfKey } from '../lib/store/notice-partitions.js'
import type { AccessTokenPayload } from '../lib/types.js'
import { startCluster } from './redis-harness.js'

const seed = process.env.MODEL_SEED === undefined ? 0x9a27 : Number(process.env.MODEL_SEED)
const runs = process.env.MODEL_RUNS === undefined ? 25 : Number(process.env.MODEL_RUNS)
const lifetime = 60_000
/** The repeat window (a quarter of the lifetime, at most 10 s), less a margin for a slow machine. */
const surelyInWindow = 9000

const b64 = (sub: string): string => Buffer.from(sub, 'utf8').toString('base64url')
const partitionOf = (prefix: string, sub: string): number => partitionOfKey(`${prefix}{u:${b64(sub)}}`)
const streamOf = (prefix: string, partition: number): string => `${prefix}{${noticePartitionTags[partition] as string}}`

/** Two users in each of three partitions (the same ones whatever the prefix's length: found per run). */
function pool (prefix: string): { subs: string[], partitions: number[] } {
  const byPartition = new Map<number, string[]>()
  for (let i = 0; [...byPartition.values()].filter(subs => subs.length >= 2).length < 3; i++) {
    const sub = `user-${i}`
    const partition = partitionOf(prefix, sub)
    const subs = byPartition.get(partition) ?? []
    if (subs.length < 2 && (subs.length > 0 || byPartition.size < 3)) byPartition.set(partition, [...subs, sub])
  }
  const partitions = [...byPartition.keys()]
  return { subs: partitions.flatMap(partition => byPartition.get(partition) as string[]), partitions }
}

interface Model {
  prefix: string
  subs: string[]
  partitions: number[]
  /** By partition: its stream is moved aside (unreadable, unwritable). */
  unreadable: Set<number>
  /** Read at least once by the replica. */
  confirmed: Set<number>
  /** Lost its data, and the replica has (or has not yet) read its new history. */
  lost: Set<number>
  losing: Set<number>
  /** Notices written and not read yet, by partition. */
  pending: Map<number, Set<string>>
  /** Users the replica has a notice for. */
  watched: Set<string>
  /** When each user's last notice was written (its repeat window: later revocations write none). */
  noticedAt: Map<string, number>
  /** Users whose state the model no longer knows (a repeat window that may have ended). */
  unknown: Set<string>
}

interface Real { writer: RedisStore, replica: RevocationReplica, admin: Cluster }

const oldToken = (sub: string): AccessTokenPayload => {
  const iat = Math.floor(Date.now() / 1000) - 30
  return { sub, iat, exp: iat + 600, iss: 'i', aud: 'a', jti: 'j', sid: 's' }
}

/** Every user's token issued before the run: answered from memory exactly when the model says so. */
function checkAll (model: Model, real: Real): void {
  for (const sub of model.subs) {
    if (model.unknown.has(sub)) continue
    const partition = partitionOf(model.prefix, sub)
    const expected = model.confirmed.has(partition) && !model.lost.has(partition) && !model.watched.has(sub)
    if (real.replica.clears(oldToken(sub)) !== expected) {
      throw new Error(`${sub} (partition ${partition}): the replica ${expected ? 'sends it to the store' : 'answers it from memory'}, the model says otherwise`)
    }
  }
}

class Revoke implements fc.AsyncCommand<Model, Real> {
  constructor (readonly index: number) {}
  check = (): boolean => true
  async run (model: Model, real: Real): Promise<void> {
    const sub = model.subs[this.index % model.subs.length] as string
    const partition = partitionOf(model.prefix, sub)
    const noticedAt = model.noticedAt.get(sub)
    if (noticedAt !== undefined && Date.now() - noticedAt > surelyInWindow) {
      // The window may have ended: whether a notice is written is no longer known.
      model.unknown.add(sub)
      await real.writer.revokeUser(sub).catch(() => {})
      return
    }
    const covered = noticedAt !== undefined
    const outcome = await real.writer.revokeUser(sub).then(() => 'done', () => 'failed')
    // A notice within the repeat window covers this one (no write); otherwise the notice must be written first.
    const expected = covered || !model.unreadable.has(partition) ? 'done' : 'failed'
    if (outcome !== expected) throw new Error(`revoking ${sub}: ${outcome}, expected ${expected}`)
    if (!covered && outcome === 'done') {
      model.noticedAt.set(sub, Date.now())
      model.pending.get(partition)?.add(sub)
    }
    checkAll(model, real)
  }

  toString = (): string => `revoke(${this.index})`
}

class Read implements fc.AsyncCommand<Model, Real> {
  check = (): boolean => true
  async run (model: Model, real: Real): Promise<void> {
    await real.replica.start()
    for (const partition of model.partitions) {
      if (model.unreadable.has(partition)) continue
      for (const sub of model.pending.get(partition) ?? []) model.watched.add(sub)
      model.pending.get(partition)?.clear()
      model.confirmed.add(partition)
      if (model.losing.delete(partition)) model.lost.add(partition)
    }
    checkAll(model, real)
  }

  toString = (): string => 'read'
}

/** A step on one of the pool's partitions: `ready` says when it applies, `act` does it. */
abstract class PartitionCommand implements fc.AsyncCommand<Model, Real> {
  constructor (readonly index: number, readonly name: string) {}
  partition (model: Readonly<Model>): number {
    return model.partitions[this.index % model.partitions.length] as number
  }

  check (model: Readonly<Model>): boolean {
    return this.ready(model, this.partition(model))
  }

  async run (model: Model, real: Real): Promise<void> {
    const partition = this.partition(model)
    await this.act(model, real, partition, streamOf(model.prefix, partition))
    checkAll(model, real)
  }

  abstract ready (model: Readonly<Model>, partition: number): boolean
  abstract act (model: Model, real: Real, partition: number, stream: string): Promise<void>
  toString (): string {
    return `${this.name}(${this.index})`
  }
}

/** The partition's stream moves aside: it can be neither read nor written, as while its master is away. */
class Cut extends PartitionCommand {
  constructor (index: number) { super(index, 'cut') }
  ready (model: Readonly<Model>, partition: number): boolean { return !model.unreadable.has(partition) }
  async act (model: Model, real: Real, partition: number, stream: string): Promise<void> {
    if (await real.admin.exists(stream) === 1) await real.admin.rename(stream, `${stream}:aside`)
    await real.admin.set(stream, 'not a stream', 'PX', 60_000)
    model.unreadable.add(partition)
  }
}

/** The stream comes back, with the notices it held. */
class Mend extends PartitionCommand {
  constructor (index: number) { super(index, 'mend') }
  ready (model: Readonly<Model>, partition: number): boolean { return model.unreadable.has(partition) }
  async act (model: Model, real: Real, partition: number, stream: string): Promise<void> {
    await real.admin.del(stream)
    if (await real.admin.exists(`${stream}:aside`) === 1) await real.admin.rename(`${stream}:aside`, stream)
    model.unreadable.delete(partition)
  }
}

/** What a failover to an empty replica does: every key of the partition is gone. */
class Lose extends PartitionCommand {
  constructor (index: number) { super(index, 'lose') }
  ready (model: Readonly<Model>, partition: number): boolean { return !model.unreadable.has(partition) }
  async act (model: Model, real: Real, partition: number, stream: string): Promise<void> {
    await real.admin.del(stream, `${stream}:epoch`, `${stream}:keep`, ...model.subs.map(sub => `${stream}:r:${b64(sub)}`))
    model.pending.get(partition)?.clear()
    for (const sub of model.subs) if (partitionOf(model.prefix, sub) === partition) model.noticedAt.delete(sub)
    model.losing.add(partition)
  }
}

const commands = [
  fc.integer({ min: 0, max: 5 }).map(index => new Revoke(index)),
  fc.constant(new Read()),
  fc.integer({ min: 0, max: 2 }).map(index => new Cut(index)),
  fc.integer({ min: 0, max: 2 }).map(index => new Mend(index)),
  fc.integer({ min: 0, max: 2 }).map(index => new Lose(index))
]

t.test('the replica over notice partitions agrees with the model (real 3-master Cluster)', async t => {
  const cluster = await startCluster({ requireFullCoverage: false })
  t.teardown(cluster.stop)
  const admin = new Cluster(cluster.nodes)
  const writerClient = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  const readerClient = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  t.teardown(() => { admin.disconnect(); writerClient.disconnect(); readerClient.disconnect() })
  let run = 0
  const details = await fc.check(fc.asyncProperty(fc.commands(commands, { maxCommands: 15 }), async steps => {
    const prefix = `model${++run}:`
    // The notices' histories began a minute ago, as for replicas that have run a while.
    for (let partition = 0; partition < noticePartitionCount; partition++) {
      await admin.hset(`${streamOf(prefix, partition)}:epoch`, 'id', 'aged', 'since', Date.now() - 60_000)
      await admin.pexpire(`${streamOf(prefix, partition)}:epoch`, 600_000)
    }
    const writer = new RedisStore({ client: writerClient, prefix })
    writer.useAccessLifetime(lifetime)
    const reader = new RedisStore({ client: readerClient, prefix })
    // Reads only when the model says so: a poll every 30 s never comes within a run.
    const replica = new RevocationReplica(reader.openRevocationFeed(), { maxStaleness: 120_000, watchFor: lifetime, clockTolerance: 0 }, Fastify({ logger: false }).log)
    const { subs, partitions } = pool(prefix)
    const model: Model = {
      prefix, subs, partitions, unreadable: new Set(), confirmed: new Set(), lost: new Set(), losing: new Set(),
      pending: new Map(partitions.map(partition => [partition, new Set()])), watched: new Set(), noticedAt: new Map(), unknown: new Set()
    }
    try {
      await fc.asyncModelRun(() => ({ model, real: { writer, replica, admin } }), steps)
    } finally {
      await replica.close()
      await writer.close()
      await reader.close()
    }
  }), { seed, numRuns: runs, plugins: [fc.interruptAfterTimeLimit(60_000)] })
  if (details.failed) t.fail(`the replica disagrees with the model: ${String(details.errorInstance)}`, { report: fc.defaultReportMessage(details) })
  t.ok(details.numRuns > 0, `the replica agrees with the model (seed ${seed}, ${details.numRuns} runs)`)
})
