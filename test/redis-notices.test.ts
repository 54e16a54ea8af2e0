// RedisStore's revocation notices after conditional revocations, on a real Redis that the tests
// pause: only a session that existed causes a notice, the retries of all of them share one
// bounded set, and beyond its bound one notice makes every replica check every token.
import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import Fastify from 'fastify'
import { RedisStore } from '../lib/index.js'
import { RevocationReplica } from '../lib/session/replica.js'
import type { AccessTokenPayload } from '../lib/types.js'
import { until } from './helpers.js'
import { startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

const lifetime = 60_000
const commandTimeout = 300
let prefixes = 0

/** A token issued after the notices' history began (a second from now). */
function tokenOf (sub: string): AccessTokenPayload {
  const iat = Math.ceil(Date.now() / 1000) + 1
  return { sub, iat, exp: iat + 600, iss: 'i', aud: 'a', jti: 'j', sid: 's' }
}

interface Setup {
  client: Redis
  store: RedisStore
  replica: RevocationReplica
  prefix: string
  notices: () => Promise<string[][]>
}

/** A store whose client times out after 300 ms, with this process's replica following it. */
async function setup (t: Test, server: RedisServer, maxPendingNotices?: number): Promise<Setup> {
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, commandTimeout })
  client.on('error', () => {})
  const prefix = `notices${++prefixes}:`
  const store = new RedisStore({ client, prefix, ...(maxPendingNotices === undefined ? {} : { maxPendingNotices }) })
  store.useAccessLifetime(lifetime)
  const replica = new RevocationReplica(store.openRevocationFeed(), { maxStaleness: 60_000, watchFor: lifetime, clockTolerance: 0 }, Fastify().log)
  await replica.start()
  t.teardown(async () => { await replica.close(); await store.close(); client.disconnect() })
  const notices = async (): Promise<string[][]> => (await client.xrange(`${prefix}{revocations}`, '-', '+')).map(([, fields]) => fields)
  return { client, store, replica, prefix, notices }
}

const madeUp = (store: RedisStore, sub: string): Promise<unknown> => store.rotateRefreshToken({
  sub, sessionId: `sid-${sub}`, presentedDigest: 'made-up', successorDigest: 'next', sealedSuccessor: 'sealed', idleTimeout: lifetime, reuseGrace: 0
})

t.test('notices after conditional revocations', async t => {
  const server = await startRedis()
  t.teardown(server.stop)

  t.test('made-up refresh tokens while Redis is slow leave no notice; a real reuse in the same outage does', async t => {
    const { client, store, replica, prefix, notices } = await setup(t, server)
    await store.createSession({ sub: 'alice', sessionId: 'alice-1', refreshDigest: 'd0', claims: {}, lifetime, idleTimeout: lifetime, maxSessions: 5 })
    await store.rotateRefreshToken({ sub: 'alice', sessionId: 'alice-1', presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: lifetime, reuseGrace: 0 })
    server.pause()
    const failures = await Promise.allSettled([
      // The spent d0 again: reuse, which Redis runs once it answers again.
      store.rotateRefreshToken({ sub: 'alice', sessionId: 'alice-1', presentedDigest: 'd0', successorDigest: 'd2', sealedSuccessor: 's2', idleTimeout: lifetime, reuseGrace: 0 }),
      ...Array.from({ length: 50 }, async (_, i) => await madeUp(store, `attacker-${i}`)),
      madeUp(store, 'attacker-0') // the same sub twice: one entry
    ])
    t.ok(failures.every(result => result.status === 'rejected'), 'every call timed out')
    t.equal(store.pendingNotices, 51, 'one entry per user whose revocation may have happened')
    t.ok(replica.clears(tokenOf('attacker-3')), 'an unknown outcome alone does not make this replica send tokens to the store')
    server.resume()
    await until('the pending notices to be settled', () => store.pendingNotices === 0)
    t.same(await notices(), [['sub', 'alice']], 'one notice, for the session that existed')
    t.equal(await client.exists(`${prefix}{u:${Buffer.from('alice').toString('base64url')}}:rv`), 1, 'the reuse left its marker')
    const markerTtl = await client.pttl(`${prefix}{u:${Buffer.from('alice').toString('base64url')}}:rv`)
    t.ok(markerTtl > 0 && markerTtl <= lifetime + 10_000, `the marker expires within a notice coverage (${markerTtl} ms)`)
    t.equal(await client.exists(`${prefix}{u:${Buffer.from('attacker-3').toString('base64url')}}:rv`), 0, 'a made-up token left none')
    t.notOk(replica.clears(tokenOf('alice')), "alice's tokens go to the store once Redis showed the reuse")
    t.ok(replica.clears(tokenOf('attacker-3')), "a made-up token's sub does not")
  })

  t.test('a revocation whose notice cannot be written is heeded here at once and retried in one merged set', async t => {
    const { client, store, replica, prefix, notices } = await setup(t, server)
    // A key of the wrong type makes every notice fail with WRONGTYPE, while sessions still work.
    await client.set(`${prefix}{revocations}`, 'not a stream')
    for (const sub of ['bob', 'carol', 'dave']) {
      for (const sessionId of ['first', 'second', 'third']) {
        // A cap of one: each login evicts the one before, a revocation that happened.
        await store.createSession({ sub, sessionId, refreshDigest: sessionId, claims: {}, lifetime, idleTimeout: lifetime, maxSessions: 1 })
      }
    }
    t.notOk(replica.clears(tokenOf('bob')), 'heeded by this replica at once')
    await until('the failed notices to be queued', () => store.pendingNotices === 3)
    t.equal(store.pendingNotices, 3, 'six evictions of three users: three entries')
    await client.del(`${prefix}{revocations}`)
    await until('the retry', () => store.pendingNotices === 0)
    t.same((await notices()).map(fields => fields[1]).sort(), ['bob', 'carol', 'dave'], 'one round wrote every waiting notice')
  })

  t.test('beyond maxPendingNotices one notice makes every replica check every token', async t => {
    const { client, store, replica, prefix, notices } = await setup(t, server, 3)
    // Another instance of the service, whose replica learns only from the notices in Redis.
    const otherClient = new Redis(server.port, '127.0.0.1')
    t.teardown(() => otherClient.disconnect())
    const other = new RedisStore({ client: otherClient, prefix })
    const otherReplica = async (): Promise<RevocationReplica> => {
      const started = new RevocationReplica(other.openRevocationFeed(), { maxStaleness: 60_000, watchFor: lifetime, clockTolerance: 0 }, Fastify().log)
      t.teardown(() => started.close())
      await started.start() // one complete read of the feed: fresh
      return started
    }
    t.ok((await otherReplica()).clears(tokenOf('anyone')), 'before: the other replica answers alone')
    // The notice for every user cannot be written at first (WRONGTYPE), and is retried.
    await client.set(`${prefix}{revocations}`, 'not a stream')
    server.pause()
    await Promise.allSettled(Array.from({ length: 6 }, async (_, i) => await madeUp(store, `overflow-${i}`)))
    t.equal(store.pendingNotices, 3, 'the set stays within its bound')
    t.notOk(replica.clears(tokenOf('anyone')), 'this replica checks every token at the store at once')
    server.resume()
    // The made-up subs are settled (no marker) in the round whose notice for every user failed.
    await until('the first round', () => store.pendingNotices === 0)
    await client.del(`${prefix}{revocations}`)
    await until('the notice for every user', async () => (await notices()).length > 0)
    t.same(await notices(), [['all', '']], 'one notice, for every user')
    t.notOk((await otherReplica()).clears(tokenOf('anyone')), 'after: the other replica checks every token at the store')
    t.equal(await client.exists(`${prefix}{u:${Buffer.from('overflow-0').toString('base64url')}}:rv`), 0, 'no marker for a made-up token')
  })
})

t.test('a session revoked by id waits for its notice: when the notice fails, the session is untouched', async t => {
  const server = await startRedis()
  t.teardown(server.stop)
  const { client, store, prefix } = await setup(t, server)
  await store.createSession({ sub: 'erin', sessionId: 'erin-1', refreshDigest: 'd0', claims: {}, lifetime, idleTimeout: lifetime, maxSessions: 5 })
  await client.set(`${prefix}{revocations}`, 'not a stream')
  await t.rejects(store.revokeSession('erin', 'erin-1'), /WRONGTYPE/, 'the revocation fails with its notice')
  t.equal((await store.listSessions('erin')).length, 1, 'and did not take effect unnoticed')
})

t.test('maxPendingNotices must be a positive integer', async t => {
  for (const maxPendingNotices of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new RedisStore({ url: 'redis://127.0.0.1:1', redisOptions: { lazyConnect: true }, maxPendingNotices }), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  }
})
