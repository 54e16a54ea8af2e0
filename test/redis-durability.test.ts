// Durability of acknowledged rotations and revocations on a real primary with a real replica:
// with waitForReplicas (WAIT on the connection that wrote) or Redis's own min-replicas-to-write,
// a write the replica did not get answers 503 instead of success; with a healthy replica an
// acknowledged revocation survives a Sentinel failover.
import t from 'tap'
import type { Test } from 'tap'
import { Cluster, Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { RedisStore } from '../lib/index.js'
import type { RedisStoreOptions } from '../lib/index.js'
import { mintSessionId } from '../lib/tokens/refresh.js'
import { bearer, buildApp, decodePart, login, refresh } from './helpers.js'
import { cutReplica, reattachReplica, startCluster, startRedis, startReplica, startSentinel } from './redis-harness.js'
import type { RedisSentinel, RedisServer } from './redis-harness.js'

const acknowledgement = { replicas: 1, timeout: 100 }
let prefixes = 0

/** Resolves once `check` holds, polled every 20 ms. */
async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return
    await sleep(20)
  }
  throw new Error(`gave up waiting for ${what}`)
}

async function replicated (t: Test): Promise<{ primary: RedisServer, replica: RedisServer }> {
  const primary = await startRedis()
  t.teardown(primary.stop)
  const replica = await startReplica(primary)
  t.teardown(replica.stop)
  return { primary, replica }
}

async function appOn (t: Test, client: Redis, options: Partial<RedisStoreOptions> = {}): Promise<{ app: FastifyInstance, store: RedisStore, prefix: string }> {
  const prefix = options.prefix ?? `durable${++prefixes}:`
  const store = new RedisStore({ client, prefix, ...options })
  const app = await buildApp({ store, refreshToken: { reuseGrace: '30s' } })
  t.teardown(() => app.close())
  return { app, store, prefix }
}

function clientOf (t: Test, server: RedisServer): Redis {
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  return client
}

function expect503 (t: Test, response: LightMyRequestResponse, name: string): void {
  t.equal(response.statusCode, 503, `${name}: 503`)
  t.equal(response.json().code, 'FST_JWT_AUTH_STORE_UNAVAILABLE', name)
}

const logoutAll = async (app: FastifyInstance, accessToken: string): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(accessToken) })

t.test('waitForReplicas: with the replica link cut, rotations and revocations answer 503; retried once it is back, they succeed', async t => {
  const { primary, replica } = await replicated(t)
  const client = clientOf(t, primary)
  const { app, store, prefix } = await appOn(t, client, { waitForReplicas: acknowledgement })
  const alice = await login(app)
  const rotated = await refresh(app, alice.refresh_token)
  t.equal(rotated.statusCode, 200, 'a healthy replica acknowledges a rotation')
  const bob = await login(app, { sub: 'bob' })
  const dave = await login(app, { sub: 'dave' })
  const erin = await login(app, { sub: 'erin' })
  const frank = decodePart((await login(app, { sub: 'frank' })).access_token, 1).sid as string
  const stepUp = async (): Promise<unknown> => await store.stepUpSession({ sub: 'frank', sessionId: frank, successorDigest: `d${Math.random()}`, idleTimeout: 60_000, acr: 'mfa' })
  t.match(await stepUp(), { id: frank, acr: 'mfa' }, 'a healthy replica acknowledges a step-up')
  const made = await store.createSession({ sub: 'carol', sessionId: 'carol-1', refreshDigest: 'd0', claims: {}, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
  await store.rotateRefreshToken({ sub: 'carol', sessionId: made.session.id, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 60_000, reuseGrace: 0 })

  await cutReplica(replica, primary)
  const current = rotated.json().refresh_token as string
  expect503(t, await refresh(app, current), 'rotation')
  expect503(t, await logoutAll(app, bob.access_token), 'logout-all')
  expect503(t, await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: dave.refresh_token } }), 'logout with the refresh token')
  await t.rejects(app.jwtAuth.revokeToken(erin.access_token), { code: 'FST_JWT_AUTH_STORE_UNAVAILABLE' }, 'revokeToken')
  await t.rejects(app.jwtAuth.updateClaims('erin', { roles: [] }), { code: 'FST_JWT_AUTH_STORE_UNAVAILABLE' }, 'updateClaims (a demotion) waits too')
  await t.rejects(stepUp(), /acknowledged a write 0 of 1 times/, 'a step-up spends a refresh token: it waits too')
  // Reuse detection ran on the primary: its notice is written although the call failed.
  await t.rejects(store.rotateRefreshToken({ sub: 'carol', sessionId: 'carol-1', presentedDigest: 'd0', successorDigest: 'd2', sealedSuccessor: 's2', idleTimeout: 60_000, reuseGrace: 0 }))
  t.same((await client.xrange(`${prefix}{revocations}`, '-', '+')).map(([, fields]) => fields).filter(fields => fields[1] === 'carol'), [['sub', 'carol']], 'the reuse is noticed')
  // A made-up token writes nothing, so it waits for nobody.
  const secretPart = current.slice(current.indexOf('.') + 1).replace(/./g, 'A')
  t.equal((await refresh(app, `${mintSessionId('mallory')}.${secretPart}`)).statusCode, 400, 'a made-up token: 400 at once')

  await reattachReplica(replica, primary)
  const retried = await refresh(app, current)
  t.equal(retried.statusCode, 200, `the rotation retried within grace succeeds (${retried.body})`)
  // The logout-all that answered 503 ran on the primary, which the replica has now caught up with.
  t.equal((await app.inject({ url: '/me', headers: bearer(bob.access_token) })).statusCode, 401, 'a revocation that answered 503 still holds')
})

t.test('waitForReplicas: a replica that does not answer within the timeout fails the revocation', async t => {
  const { primary, replica } = await replicated(t)
  const { app } = await appOn(t, clientOf(t, primary), { waitForReplicas: acknowledgement })
  const alice = await login(app)
  replica.pause()
  try {
    expect503(t, await logoutAll(app, alice.access_token), 'logout-all')
  } finally {
    replica.resume()
  }
})

t.test('waitForReplicas: a WAIT answered on a connection made after the write counts nothing', async t => {
  const { primary, replica } = await replicated(t)
  const client = clientOf(t, primary)
  const { app } = await appOn(t, client, { waitForReplicas: { replicas: 1, timeout: 1000 } })
  const alice = await login(app)
  const admin = clientOf(t, primary)
  const id = await client.client('ID')
  replica.pause() // the WAIT blocks
  const revoked = app.jwtAuth.revokeUser('alice')
  await until('the WAIT to block', async () => /blocked_clients:1/.test(await admin.info('clients')))
  // The connection dies; ioredis sends the WAIT again on a new one, where it counts the replica at once.
  await admin.client('KILL', 'ID', String(id))
  replica.resume()
  await t.rejects(revoked, { code: 'FST_JWT_AUTH_STORE_UNAVAILABLE' }, 'not taken as acknowledged')
  t.equal((await app.inject({ url: '/me', headers: bearer(alice.access_token) })).statusCode, 401, 'the revocation itself ran on the primary')
})

t.test('min-replicas-to-write 1 without WAIT: with the replica link cut the same writes answer 503', async t => {
  const { primary, replica } = await replicated(t)
  const client = clientOf(t, primary)
  await client.config('SET', 'min-replicas-to-write', '1')
  await client.config('SET', 'min-replicas-max-lag', '10')
  const { app } = await appOn(t, client)
  const alice = await login(app)
  await cutReplica(replica, primary)
  expect503(t, await refresh(app, alice.refresh_token), 'rotation')
  expect503(t, await logoutAll(app, alice.access_token), 'logout-all')
  await reattachReplica(replica, primary)
  t.equal((await refresh(app, alice.refresh_token)).statusCode, 200, 'nothing was spent: the same token rotates')
})

t.test('Sentinel failover: acknowledged revocations and rotations survive on the new primary', async t => {
  const { primary, replica } = await replicated(t)
  const sentinels: RedisSentinel[] = []
  for (let i = 0; i < 3; i++) {
    const sentinel = await startSentinel(primary, { quorum: 2, downAfter: 500, failoverTimeout: 5000 })
    t.teardown(sentinel.stop)
    sentinels.push(sentinel)
  }
  const probe = new Redis(sentinels[0]?.port as number, '127.0.0.1')
  t.teardown(() => probe.disconnect())
  // Each Sentinel must know the other two (they meet through the primary) before it can be elected.
  await until('the Sentinels to meet', async () => {
    const known = await Promise.all(sentinels.map(async sentinel => {
      const connection = new Redis(sentinel.port, '127.0.0.1')
      try {
        return (await connection.call('SENTINEL', 'SENTINELS', sentinel.masterName) as unknown[]).length
      } finally {
        connection.disconnect()
      }
    }))
    return known.every(count => count === 2)
  })
  const client = new Redis({ sentinels: sentinels.map(({ host, port }) => ({ host, port })), name: 'fja-master', maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const { app, prefix } = await appOn(t, client, { waitForReplicas: acknowledgement })
  const alice = await login(app)
  const bob = await login(app, { sub: 'bob' })
  t.equal((await logoutAll(app, alice.access_token)).statusCode, 204, 'logout-all acknowledged')
  const rotated = await refresh(app, bob.refresh_token)
  t.equal(rotated.statusCode, 200, 'rotation acknowledged')

  const switched = new Promise<void>(resolve => {
    void probe.subscribe('+switch-master')
    probe.on('message', (channel: string) => { if (channel === '+switch-master') resolve() })
  })
  await primary.stop()
  await switched
  // The client finds the new primary through Sentinel; requests fail closed (503) until then.
  let after: LightMyRequestResponse | undefined
  await until('the store to answer again', async () => {
    after = await app.inject({ url: '/me', headers: bearer(alice.access_token) })
    return after.statusCode !== 503
  })
  t.equal(after?.statusCode, 401, "alice's revoked token is still refused")
  // The new primary has no replica left: with WAIT, rotations fail closed until one joins.
  expect503(t, await refresh(app, rotated.json().refresh_token), 'a rotation with no replica to acknowledge it')
  const { app: unwaiting } = await appOn(t, client, { prefix })
  t.equal((await refresh(unwaiting, rotated.json().refresh_token)).statusCode, 200, "without WAIT: bob's rotated token is the current one")
  t.equal((await app.inject({ url: '/me', headers: bearer(bob.access_token) })).statusCode, 200, "bob's session lives")
  t.equal(decodePart(bob.access_token, 1).sub, 'bob')
  t.equal((await client.info('replication')).match(/^role:(\w+)/m)?.[1], 'master', 'the store now talks to the promoted replica')
  t.equal(replica.port, (client as unknown as { stream: { remotePort: number } }).stream.remotePort, 'which is the former replica')
})

t.test('waitForReplicas on a Cluster: WAIT goes to the master of the user slot', async t => {
  const cluster = await startCluster()
  t.teardown(cluster.stop)
  const client = new Cluster(cluster.nodes)
  t.teardown(() => client.disconnect())
  const store = new RedisStore({ client, prefix: 'cluster:', waitForReplicas: { replicas: 1, timeout: 20 } })
  const nodes = cluster.nodes.map(node => new Redis(node.port, '127.0.0.1'))
  t.teardown(() => { for (const node of nodes) node.disconnect() })
  for (const node of nodes) await node.call('CONFIG', 'RESETSTAT')
  // This Cluster has no replicas: the WAIT counts none.
  await t.rejects(store.revokeUser('alice'), /acknowledged a write 0 of 1/)
  const key = `cluster:{u:${Buffer.from('alice').toString('base64url')}}:ss`
  const slot = await nodes[0]?.cluster('KEYSLOT', key) as number
  const waits = await Promise.all(nodes.map(async node => /cmdstat_wait:calls=1,/.test(await node.info('commandstats'))))
  const owners = await Promise.all(nodes.map(async node => {
    const myself = (await node.cluster('NODES') as string).split('\n').find(line => line.includes('myself')) as string
    return myself.split(' ').slice(8).some(range => {
      const [from, to] = range.split('-').map(Number) as [number, number | undefined]
      return slot >= from && slot <= (to ?? from)
    })
  }))
  t.same(waits, owners, 'one WAIT, on the node that owns the slot')
  // The slot's master changes in the client's view (a resharding) to a node it does not know.
  await store.createSession({ sub: 'bob', sessionId: 'bob-1', refreshDigest: 'd0', claims: {}, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
  const bobSlot = await nodes[0]?.cluster('KEYSLOT', `cluster:{u:${Buffer.from('bob').toString('base64url')}}:ss`) as number
  const revoking = store.revokeSession('bob', 'bob-1', 'd0') // already sent to the slot's master
  const known = client.slots[bobSlot]
  client.slots[bobSlot] = ['127.0.0.1:1']
  await t.rejects(revoking, /no known master/, 'fails closed')
  client.slots[bobSlot] = known as string[]
})

t.test('waitForReplicas is checked at construction', async t => {
  const base = { url: 'redis://127.0.0.1:1', redisOptions: { lazyConnect: true } }
  for (const waitForReplicas of [null, 'yes', { replicas: 0, timeout: 50 }, { replicas: 1.5, timeout: 50 }]) {
    t.throws(() => new RedisStore({ ...base, waitForReplicas } as unknown as RedisStoreOptions), /waitForReplicas\.replicas must be a positive integer/)
  }
  for (const timeout of [0, 2000, 1.5, undefined]) {
    t.throws(() => new RedisStore({ ...base, waitForReplicas: { replicas: 1, timeout } } as unknown as RedisStoreOptions), /waitForReplicas\.timeout/)
  }
  // A client that bounds its own commands bounds the WAIT too.
  const own = new Redis({ lazyConnect: true, commandTimeout: 100 })
  t.throws(() => new RedisStore({ client: own, waitForReplicas: { replicas: 1, timeout: 100 } }), /below the command timeout \(100 ms\)/)
  t.doesNotThrow(() => new RedisStore({ ...base, waitForReplicas: { replicas: 1, timeout: 1999 } }))
})
