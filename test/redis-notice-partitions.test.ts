// RedisStore's revocation notices on a real 3-master Cluster: each user's notice goes to the
// partition of its own slots, on its own master; the replica confirms each partition on its own,
// so a master that stops answering, or a partition that lost its data, sends to the store only
// the tokens of that partition's users; the single stream of older versions is read until it
// expires.
import t from 'tap'
import type { Test } from 'tap'
import { Cluster, Redis } from 'ioredis'
import Fastify from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisStore } from '../lib/index.js'
import { RevocationReplica } from '../lib/session/replica.js'
import { keySlot, noticePartitionCount, noticePartitionTags, partitionOfKey } from '../lib/store/notice-partitions.js'
import type { AccessTokenPayload } from '../lib/types.js'
import { until } from './helpers.js'
import { startCluster } from './redis-harness.js'
import type { RedisCluster } from './redis-harness.js'

const lifetime = 60_000
let prefixes = 0

const userKey = (prefix: string, sub: string): string => `${prefix}{u:${Buffer.from(sub, 'utf8').toString('base64url')}}`
const streamOf = (prefix: string, partition: number): string => `${prefix}{${noticePartitionTags[partition] as string}}`
const partitionOf = (prefix: string, sub: string): number => partitionOfKey(userKey(prefix, sub))

/** A token issued `ago` ms before now. */
function tokenOf (sub: string, ago = 0): AccessTokenPayload {
  const iat = Math.floor((Date.now() - ago) / 1000)
  return { sub, iat, exp: iat + 600, iss: 'i', aud: 'a', jti: 'j', sid: 's' }
}

/** The first users (user-0, user-1, ...) for whom `accept` holds. */
function usersWhere (count: number, accept: (sub: string) => boolean): string[] {
  const found: string[] = []
  for (let i = 0; found.length < count; i++) if (accept(`user-${i}`)) found.push(`user-${i}`)
  return found
}

interface Setup { store: RedisStore, replica: RevocationReplica, prefix: string, admin: Cluster }

/**
 * A store and a replica on their own prefix, whose notice histories began a minute ago (as for a
 * replica that has run a while), so tokens issued since are not sent to the store for that.
 */
async function setup (t: Test, cluster: RedisCluster, before?: (admin: Cluster, prefix: string) => Promise<void>): Promise<Setup> {
  const prefix = `partitions${++prefixes}:`
  const admin = new Cluster(cluster.nodes)
  const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  client.on('error', () => {})
  for (let partition = 0; partition < noticePartitionCount; partition++) {
    await admin.hset(`${streamOf(prefix, partition)}:epoch`, 'id', 'aged', 'since', Date.now() - 60_000)
    await admin.pexpire(`${streamOf(prefix, partition)}:epoch`, 600_000)
  }
  await before?.(admin, prefix)
  const store = new RedisStore({ client, prefix, commandTimeout: 2000 })
  store.useAccessLifetime(lifetime)
  const replica = new RevocationReplica(store.openRevocationFeed(), { maxStaleness: 1000, watchFor: lifetime, clockTolerance: 0 }, Fastify().log)
  await replica.start()
  t.teardown(async () => { await replica.close(); await store.close(); client.disconnect(); admin.disconnect() })
  return { store, replica, prefix, admin }
}

t.test('notice partitions on a Cluster', async t => {
  // Healthy masters keep serving while one is stopped (see docs/revocation-replica.md).
  const cluster = await startCluster({ requireFullCoverage: false })
  t.teardown(cluster.stop)
  const master = async (slot: number): Promise<number> => await cluster.masterOf(slot)

  t.test('each partition tag sits in its own sixteenth of the slots', async t => {
    t.equal(noticePartitionTags.length, 16)
    for (const [partition, tag] of noticePartitionTags.entries()) {
      t.equal(Math.floor(keySlot(`{${tag}}`) / 1024), partition, `${tag} is in sixteenth ${partition}`)
    }
    t.equal(keySlot('{u:dXNlci0w}'), keySlot('x:{u:dXNlci0w}:ss'), 'the tag decides the slot, wherever it is in the key')
    // Redis's own answer, for keys with and without a usable tag.
    const node = new Redis((cluster.nodes[0] as { port: number }).port, '127.0.0.1')
    t.teardown(() => { node.disconnect() })
    for (const key of ['123456789', '{}123456789', 'a{b}c', '{u:dXNlci0w}:ss', 'x{', '}{y}', `{${noticePartitionTags[7] as string}}:epoch`]) {
      t.equal(keySlot(key), await node.cluster('KEYSLOT', key) as number, `the slot of ${key} is Redis's`)
    }
  })

  t.test("each user's notice goes to its own partition, on its own master", async t => {
    const { store, prefix, admin } = await setup(t, cluster)
    const users = usersWhere(40, () => true)
    for (const sub of users) await store.revokeUser(sub)
    const mastersWithNotices = new Set<number>()
    let sameMaster = 0
    for (const sub of users) {
      const partition = partitionOf(prefix, sub)
      const stream = streamOf(prefix, partition)
      const notices = (await admin.xrange(stream, '-', '+')).map(([, fields]) => fields[1])
      t.ok(notices.includes(sub), `${sub}'s notice is in partition ${partition}`)
      const [own, noticeMaster] = [await master(keySlot(userKey(prefix, sub))), await master(keySlot(stream))]
      mastersWithNotices.add(noticeMaster)
      if (own === noticeMaster) sameMaster++
      // A sixteenth inside one master's range puts the notice beside the user's keys.
      const [first, last] = [partition * 1024, partition * 1024 + 1023]
      if (await master(first) === await master(last)) t.equal(noticeMaster, own, `${sub}: notice and keys on one master`)
    }
    t.equal(mastersWithNotices.size, 3, 'the notices are spread over the three masters')
    t.ok(sameMaster >= users.length * 0.8, `${sameMaster} of ${users.length} notices beside their user's keys`)
    t.equal(await admin.exists(`${prefix}{revocations}`), 0, 'the single stream of older versions is not written')
    const batch = await store.openRevocationFeed().read(null)
    t.same(new Set(batch.subs), new Set(users), 'one read of the feed, without a time limit, brings every notice')
    t.ok(batch.partitions?.every(read => 'complete' in read && read.complete), 'and confirms every partition')
  })

  t.test('a notice for every user goes to every partition', async t => {
    const { prefix, admin } = await setup(t, cluster)
    const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
    t.teardown(() => { client.disconnect() })
    const store = new RedisStore({ client, prefix, maxPendingNotices: 1 })
    store.useAccessLifetime(lifetime)
    t.teardown(async () => { await store.close() })
    // Two users' partitions cannot be written: their conditional revocations (evictions) overflow the one place.
    const [alice, bob] = usersWhere(2, sub => partitionOf(prefix, sub) !== partitionOf(prefix, 'user-0'))
    const broken = [partitionOf(prefix, alice as string), partitionOf(prefix, 'user-0')]
    const [carol] = usersWhere(1, sub => partitionOf(prefix, sub) === broken[1])
    for (const partition of broken) await admin.set(streamOf(prefix, partition), 'not a stream', 'PX', 60_000)
    for (const sub of [alice, carol, bob] as string[]) {
      for (const id of ['1', '2']) await store.createSession({ sub, sessionId: `${sub}-${id}`, refreshDigest: id, claims: {}, lifetime, idleTimeout: lifetime, maxSessions: 1 })
    }
    await sleep(200)
    for (const partition of broken) await admin.del(streamOf(prefix, partition))
    await until('the notice for every user to be written everywhere', async () => {
      const kinds = await Promise.all(Array.from({ length: noticePartitionCount }, async (_, partition) => (await admin.xrange(streamOf(prefix, partition), '-', '+')).map(([, fields]) => fields[0])))
      return kinds.every(fields => fields.includes('all'))
    })
    const batch = await store.openRevocationFeed().read(null, 1000)
    t.equal(batch.everyone, true, 'a replica reading any partition learns that every user is concerned')
  })

  t.test('with waitForReplicas, a notice on another master than its user waits for its own replicas', async t => {
    const prefix = `partitions${++prefixes}:`
    const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
    t.teardown(() => { client.disconnect() })
    // This Cluster has no replicas: every WAIT counts none.
    const store = new RedisStore({ client, prefix, waitForReplicas: { replicas: 1, timeout: 20 } })
    t.teardown(async () => { await store.close() })
    const masterOfKey = new Map<string, number>()
    const on = async (key: string): Promise<number> => masterOfKey.get(key) ?? await master(keySlot(key))
    const candidates = usersWhere(400, () => true)
    let apart: string | undefined
    let beside: string | undefined
    for (const sub of candidates) {
      const same = await on(userKey(prefix, sub)) === await on(streamOf(prefix, partitionOf(prefix, sub)))
      if (same) beside ??= sub
      else apart ??= sub
      if (apart !== undefined && beside !== undefined) break
    }
    for (const sub of [apart, beside] as string[]) {
      await client.zadd(`${userKey(prefix, sub)}:ss`, 1, 'one')
      await client.hset(`${userKey(prefix, sub)}:s:one`, 'cur', 'd', 'c', 1, 'l', 1, 'exp', Date.now() + lifetime)
      await client.pexpire(`${userKey(prefix, sub)}:s:one`, lifetime)
      await client.pexpire(`${userKey(prefix, sub)}:ss`, lifetime)
    }
    await t.rejects(store.revokeUser(apart as string), /acknowledged/, 'a notice on another master: its WAIT fails the call')
    t.equal((await store.listSessions(apart as string)).length, 1, '...before the revocation ran')
    await t.rejects(store.revokeUser(beside as string), /acknowledged/, 'a notice beside the user\'s keys: the revocation\'s WAIT counts it')
    t.equal((await store.listSessions(beside as string)).length, 0, '...so the revocation ran, then its WAIT failed')
  })

  t.test('a master that stops answering sends only its partitions\' users to the store', async t => {
    const { replica, prefix } = await setup(t, cluster)
    const stopped = await master(keySlot(streamOf(prefix, 0)))
    const partitionMaster = new Map<number, number>()
    for (let partition = 0; partition < noticePartitionCount; partition++) partitionMaster.set(partition, await master(keySlot(streamOf(prefix, partition))))
    const [affected] = usersWhere(1, sub => partitionMaster.get(partitionOf(prefix, sub)) === stopped)
    const [healthy] = usersWhere(1, sub => partitionMaster.get(partitionOf(prefix, sub)) !== stopped)
    await until('the replica to follow every partition', () => replica.clears(tokenOf(affected as string)) && replica.clears(tokenOf(healthy as string)))
    cluster.pause(stopped)
    try {
      // Longer than maxStaleness; each poll waits for the stopped master at most a quarter of it.
      await sleep(1600)
      t.notOk(replica.clears(tokenOf(affected as string)), 'a user of a partition on the stopped master: checked at the store')
      t.ok(replica.clears(tokenOf(healthy as string)), 'a user of a partition on a healthy master: still answered from memory')
    } finally {
      cluster.resume(stopped)
    }
    await cluster.healthy()
    await until('the partition to be confirmed again', () => replica.clears(tokenOf(affected as string)))
  })

  t.test('a partition that lost its data starts a new history for its users alone', async t => {
    const { replica, prefix, admin } = await setup(t, cluster)
    const [lost, kept] = [0, 9]
    const [inLost] = usersWhere(1, sub => partitionOf(prefix, sub) === lost)
    const [inKept] = usersWhere(1, sub => partitionOf(prefix, sub) === kept)
    const issuedBefore = (sub: string): AccessTokenPayload => tokenOf(sub, 5000)
    await until('the replica to follow', () => replica.clears(issuedBefore(inLost as string)) && replica.clears(issuedBefore(inKept as string)))
    // What a failover to an empty replica does to the partition: its stream and epoch are gone.
    await admin.del(streamOf(prefix, lost), `${streamOf(prefix, lost)}:epoch`)
    await until('the new history to be read', () => !replica.clears(issuedBefore(inLost as string)))
    t.ok(replica.clears(issuedBefore(inKept as string)), 'a token issued before the loss, of a user of another partition: still answered from memory')
    t.ok(replica.clears(tokenOf(inLost as string, -2000)), 'a token of the lost partition\'s user issued after the new history began: answered from memory')
  })

  t.test('the single stream of older versions is read until it expires', async t => {
    const legacy = (prefix: string): string => `${prefix}{revocations}`
    // An older version's replica cannot be read while its stream is broken: every token goes to the store.
    const broken = await setup(t, cluster, async (admin, prefix) => { await admin.set(legacy(prefix), 'not a stream', 'PX', 60_000) })
    await sleep(300)
    t.notOk(broken.replica.clears(tokenOf('alice')), 'an unreadable old stream sends every token to the store')

    const { replica, prefix, admin } = await setup(t, cluster, async (admin, prefix) => {
      // What an older version's notice looks like: one stream for every user, and its keep key.
      await admin.xadd(legacy(prefix), '*', 'sub', 'bob')
      await admin.pexpire(legacy(prefix), 60_000)
      await admin.set(`${legacy(prefix)}:keep`, String(lifetime), 'PX', 60_000)
    })
    await until('the replica to follow', () => replica.clears(tokenOf('alice')))
    t.notOk(replica.clears(tokenOf('bob')), 'a notice an older version wrote is heeded')
    await admin.xadd(legacy(prefix), '*', 'sub', 'carol')
    await until('the next notice to be read', () => !replica.clears(tokenOf('carol')))
    // Expired: no older version wrote for one access lifetime. Nothing of it is read again.
    await admin.del(legacy(prefix), `${legacy(prefix)}:keep`)
    await sleep(600)
    await admin.xadd(legacy(prefix), '*', 'sub', 'dave')
    await sleep(600)
    t.ok(replica.clears(tokenOf('dave')), 'once the old stream expired, it is no longer read')
  })
})
