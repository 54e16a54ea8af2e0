// Sessions that 0.1.0 wrote to Redis kept the predecessor in fields of its own ('prev', 'rot',
// 'seal'); this version reads them as the newest spent generation.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/index.js'
import { digestRefreshToken, mintRefreshToken, mintSessionId, openSuccessor, sealSuccessor } from '../lib/tokens/refresh.js'
import { startRedis } from './redis-harness.js'

t.test('a session in the 0.1.0 layout: its predecessor gets grace, then counts as spent, and logout takes it', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client, prefix: 'legacy:' })
  const sessionId = mintSessionId('alice')
  const key = `legacy:{u:${Buffer.from('alice').toString('base64url')}}:s:${sessionId}`
  const predecessor = mintRefreshToken(sessionId)
  const current = mintRefreshToken(sessionId)
  const older = mintRefreshToken(sessionId)

  async function writeLegacy (): Promise<void> {
    await store.createSession({ sub: 'alice', sessionId, refreshDigest: digestRefreshToken(current), claims: { sub: 'alice' }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
    const now = Date.now()
    await client.hset(key, 'prev', digestRefreshToken(predecessor), 'rot', String(now), 'seal', sealSuccessor(predecessor, current), 'old', digestRefreshToken(older))
  }
  const rotation = (presented: string, grace: number): Parameters<RedisStore['rotateRefreshToken']>[0] => {
    const successor = mintRefreshToken(sessionId)
    return { sub: 'alice', sessionId, presentedDigest: digestRefreshToken(presented), successorDigest: digestRefreshToken(successor), sealedSuccessor: sealSuccessor(presented, successor), idleTimeout: 60_000, reuseGrace: grace }
  }

  await writeLegacy()
  const grace = await store.rotateRefreshToken(rotation(predecessor, 60_000))
  t.equal(grace.status, 'grace', 'the predecessor within grace')
  t.equal(grace.status === 'grace' && openSuccessor(predecessor, grace.sealedSuccessors[0] as string), current, 'its seal opens to the current token')

  const rotated = await store.rotateRefreshToken(rotation(current, 60_000))
  t.equal(rotated.status, 'rotated')
  t.same(await client.hmget(key, 'prev', 'rot', 'seal'), [null, null, null], 'the old fields are folded into the new layout')
  const chain = await store.rotateRefreshToken(rotation(predecessor, 60_000))
  t.equal(chain.status === 'grace' && chain.sealedSuccessors.length, 2, 'the old predecessor is now two generations back, still within grace')
  t.equal((await store.rotateRefreshToken(rotation(older, 60_000))).status, 'reused', 'an older generation of 0.1.0 is spent too')

  await writeLegacy()
  t.equal((await store.revokeSession('alice', sessionId, digestRefreshToken(predecessor)))?.id, sessionId, 'logout with the 0.1.0 predecessor')
})
