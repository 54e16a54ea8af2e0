// Sessions that older versions wrote to Redis keep working until they end. Before this layout a session
// lived under its whole id (key and index member) with its claims as whole JSON and its end in
// 'exp'; 0.1.0 also kept the predecessor in fields of its own ('prev', 'rot', 'seal'), which
// this version reads as the newest spent generation. Each test writes the old layout by hand,
// as those versions wrote it, on a real Redis.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/index.js'
import { digestRefreshToken, mintRefreshToken, mintSessionId, openSuccessor, sealSuccessor } from '../lib/tokens/refresh.js'
import { startRedis } from './redis-harness.js'

const sub64 = (sub: string): string => Buffer.from(sub).toString('base64url')
const userOf = (prefix: string, sub: string): string => `${prefix}{u:${sub64(sub)}}`

interface OldSession { sessionId: string, key: string, current: string, expires: number }

/** A session as 0.1.0 and later versions up to this layout wrote it: under its whole id, whole-JSON claims, its end in 'exp'. */
async function writeOld (client: Redis, prefix: string, sub: string, claims: Record<string, unknown>, score?: number): Promise<OldSession> {
  const sessionId = mintSessionId(sub)
  const current = mintRefreshToken(sessionId)
  const user = userOf(prefix, sub)
  const key = `${user}:s:${sessionId}`
  const now = Date.now()
  const expires = now + 60_000
  await client.hset(key, 'cur', digestRefreshToken(current), 'cl', JSON.stringify(claims), 'c', now, 'l', now, 'abs', now + 120_000, 'exp', expires, 'ua', 'old-agent', 'ip', '10.0.0.1')
  await client.pexpireat(key, expires)
  await client.zadd(`${user}:ss`, score ?? now, sessionId)
  await client.pexpireat(`${user}:ss`, expires)
  return { sessionId, key, current, expires }
}

const rotation = (sub: string, sessionId: string, presented: string, grace: number): Parameters<RedisStore['rotateRefreshToken']>[0] & { successor: string } => {
  const successor = mintRefreshToken(sessionId)
  return { sub, sessionId, presentedDigest: digestRefreshToken(presented), successorDigest: digestRefreshToken(successor), sealedSuccessor: sealSuccessor(presented, successor), idleTimeout: 60_000, reuseGrace: grace, successor }
}

t.test('RedisStore and the layouts of older versions', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client, prefix: 'legacy:' })

  t.test('a session in the 0.1.0 layout: its predecessor gets grace, then counts as spent, and logout takes it', async t => {
    let old: OldSession
    let predecessor: string
    let older: string
    async function writeLegacy (): Promise<void> {
      old = await writeOld(client, 'legacy:', 'alice', { sub: 'alice' })
      predecessor = mintRefreshToken(old.sessionId)
      older = mintRefreshToken(old.sessionId)
      await client.hset(old.key, 'prev', digestRefreshToken(predecessor), 'rot', String(Date.now()), 'seal', sealSuccessor(predecessor, old.current), 'old', digestRefreshToken(older))
    }
    await writeLegacy()
    const grace = await store.rotateRefreshToken(rotation('alice', old!.sessionId, predecessor!, 60_000))
    t.equal(grace.status, 'grace', 'the predecessor within grace')
    t.equal(grace.status === 'grace' && openSuccessor(predecessor!, grace.sealedSuccessors[0] as string), old!.current, 'its seal opens to the current token')

    const rotated = await store.rotateRefreshToken(rotation('alice', old!.sessionId, old!.current, 60_000))
    t.equal(rotated.status, 'rotated')
    t.same(await client.hmget(old!.key, 'prev', 'rot', 'seal'), [null, null, null], 'the old fields are folded into the new layout')
    const chain = await store.rotateRefreshToken(rotation('alice', old!.sessionId, predecessor!, 60_000))
    t.equal(chain.status === 'grace' && chain.sealedSuccessors.length, 2, 'the old predecessor is now two generations back, still within grace')
    t.equal((await store.rotateRefreshToken(rotation('alice', old!.sessionId, older!, 60_000))).status, 'reused', 'an older generation of 0.1.0 is spent too')

    await writeLegacy()
    t.equal((await store.revokeSession('alice', old!.sessionId, digestRefreshToken(predecessor!)))?.id, old!.sessionId, 'logout with the 0.1.0 predecessor')
  })

  t.test('a session in the whole-id layout: every operation works on it where it is, until it ends', async t => {
    const old = await writeOld(client, 'legacy:', 'bob', { sub: 'bob', roles: ['user'] })
    t.equal(await store.isRevoked('bob', old.sessionId, 'jti-1'), false, 'live')
    const listed = await store.listSessions('bob')
    t.match(listed, [{ id: old.sessionId, sub: 'bob', expiresAt: old.expires, userAgent: 'old-agent', ip: '10.0.0.1' }], 'listed by its id, its end from the key')
    const peeked = await store.rotateRefreshToken({ ...rotation('bob', old.sessionId, old.current, 0), peek: true })
    t.match(peeked, { status: 'current', session: { id: old.sessionId, expiresAt: old.expires } })
    t.same(peeked.status === 'current' && peeked.session.claims, { sub: 'bob', roles: ['user'] }, 'its claims read as they were written')

    // A claims hook's rotation: the claims it read are the session's own (as that layout kept them).
    const first = rotation('bob', old.sessionId, old.current, 0)
    const rotated = await store.rotateRefreshToken({ ...first, claims: { sub: 'bob', roles: ['admin'] }, claimsFrom: { sub: 'bob', roles: ['user'] } })
    t.equal(rotated.status, 'rotated')
    t.same(rotated.status === 'rotated' && rotated.session.claims, { sub: 'bob', roles: ['admin'] }, 'the hook\'s claims replace those of the old layout')
    t.equal(await client.exists(old.key), 1, 'the session stays under its old key')
    t.equal(await client.hget(old.key, 'exp'), null, 'its end is read from the key (Redis 7): the field is dropped')
    t.equal(await store.isRevoked('bob', old.sessionId, 'jti-1'), false, 'still live after the rotation')

    const stepped = await store.stepUpSession({ sub: 'bob', sessionId: old.sessionId, successorDigest: digestRefreshToken(mintRefreshToken(old.sessionId)), idleTimeout: 60_000, acr: 'mfa' })
    t.match(stepped, { id: old.sessionId, acr: 'mfa', claims: { sub: 'bob', roles: ['admin'] } }, 'stepped up')
    t.equal(await store.updateClaims('bob', { roles: ['auditor'] }), 1, 'updateClaims reaches it')
    t.equal((await store.rotateRefreshToken(rotation('bob', old.sessionId, old.current, 0))).status, 'reused', 'its first token, replayed: reuse')
    t.equal(await store.isRevoked('bob', old.sessionId, 'jti-1'), true, 'reuse ends it')
    t.same(await client.zrange(`${userOf('legacy:', 'bob')}:ss`, '0', '-1'), [], 'and takes it from the index')
  })

  t.test('whole-id sessions: revoked by id, by token, with the user; claims of an old session updated', async t => {
    const one = await writeOld(client, 'legacy:', 'carol', { sub: 'carol' })
    const two = await writeOld(client, 'legacy:', 'carol', { sub: 'carol' }, Date.now() + 1)
    const three = await writeOld(client, 'legacy:', 'carol', { sub: 'carol' }, Date.now() + 2)
    t.equal(await store.updateClaims('carol', { sub: 'carol', roles: ['x'] }), 3)
    const peeked = await store.rotateRefreshToken({ ...rotation('carol', one.sessionId, one.current, 0), peek: true })
    t.same(peeked.status === 'current' && peeked.session.claims, { sub: 'carol', roles: ['x'] }, 'the new claims, with the sub')
    t.match(await store.revokeSession('carol', one.sessionId), { id: one.sessionId, expiresAt: one.expires }, 'by id')
    t.equal(await store.revokeSession('carol', two.sessionId, digestRefreshToken(mintRefreshToken(two.sessionId))), null, 'not with a token it never issued')
    t.match(await store.revokeSession('carol', two.sessionId, digestRefreshToken(two.current)), { id: two.sessionId }, 'by its token')
    t.same((await store.listSessions('carol')).map(s => s.id), [three.sessionId])
    t.equal(await store.revokeUser('carol'), 1, 'with the user')
    t.equal(await store.isRevoked('carol', three.sessionId, 'j'), true)
    t.equal(await client.exists(one.key, two.key, three.key, `${userOf('legacy:', 'carol')}:ss`), 0, 'nothing left')
  })

  t.test('an index of old and new members: listed in order by id, the oldest evicted first', async t => {
    const old = await writeOld(client, 'legacy:', 'dave', { sub: 'dave' })
    const ids = [old.sessionId]
    for (let i = 0; i < 2; i++) {
      const sessionId = mintSessionId('dave')
      const { evicted } = await store.createSession({ sub: 'dave', sessionId, refreshDigest: `d${i}`, claims: { sub: 'dave' }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 2 })
      ids.push(sessionId)
      t.same(evicted, i === 0 ? [] : [old.sessionId], i === 0 ? 'within the cap' : 'the old session, by its id')
    }
    t.same((await store.listSessions('dave')).map(s => s.id), ids.slice(1))
    const { evicted } = await store.createSession({ sub: 'dave', sessionId: mintSessionId('dave'), refreshDigest: 'd3', claims: { sub: 'dave' }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 2 })
    t.same(evicted, [ids[1]], 'a new session, by its whole id')
    t.equal(await store.isRevoked('dave', ids[1] as string, 'j'), true)
    t.equal(await store.isRevoked('dave', old.sessionId, 'j'), true)
    t.equal(await store.isRevoked('dave', ids[2] as string, 'j'), false)
  })
})

t.test('the new layout: named by the random part, claims without the sub, compact whatever the sub', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client })
  const sub = '3f2b8c4e-1d2a-4b5c-9e8f-0a1b2c3d4e5f'
  const sessionId = mintSessionId(sub)
  const user = userOf('fja:', sub)
  const { session } = await store.createSession({ sub, sessionId, refreshDigest: 'd0', claims: { sub, roles: ['user'] }, lifetime: 60_000, idleTimeout: 30_000, maxSessions: 5, userAgent: 'ua', ip: '127.0.0.1' })
  const key = `${user}:s:${sessionId.slice(0, 22)}`
  t.equal(await client.exists(key), 1, 'the key names the random part only')
  t.same(await client.zrange(`${user}:ss`, '0', '-1'), [sessionId.slice(0, 22)], 'so does the index')
  t.equal(await client.object('ENCODING', `${user}:ss`), 'listpack', 'which a long sub keeps compact')
  t.equal(await client.object('ENCODING', key), 'listpack')
  t.equal(await client.hget(key, 'cl'), '"roles":["user"]}', 'the claims without the sub')
  t.equal(await client.hget(key, 'exp'), null, 'its end is the key\'s expiry (Redis 7)')
  t.match(await store.listSessions(sub), [{ id: sessionId, expiresAt: session.expiresAt }], 'listed by its whole id and end')
  const peeked = await store.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 30_000, reuseGrace: 0, peek: true })
  t.same(peeked.status === 'current' && peeked.session.claims, { sub, roles: ['user'] }, 'the sub comes back')
  const rotated = await store.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 30_000, reuseGrace: 0, claims: { roles: ['admin'], sub }, claimsFrom: { sub, roles: ['user'] } })
  t.same(rotated.status === 'rotated' && rotated.session.claims, { sub, roles: ['admin'] }, 'a hook\'s claims against those it read')
  const late = await store.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd1', successorDigest: 'd2', sealedSuccessor: 's2', idleTimeout: 30_000, reuseGrace: 0, claims: { sub, roles: ['x'] }, claimsFrom: { sub, roles: ['user'] } })
  t.equal(late.status, 'rotated')
  const kept = await store.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd2', successorDigest: 'd3', sealedSuccessor: 's3', idleTimeout: 30_000, reuseGrace: 0, peek: true })
  t.same(kept.status === 'current' && kept.session.claims, { sub, roles: ['admin'] }, 'claims read before a change are not written over it')

  // Claims that do not carry the session's sub are kept whole, and read back as they were.
  for (const [i, claims] of [{ roles: ['a'] }, { sub: 'someone-else' }, {}].entries()) {
    const id = mintSessionId(sub)
    await store.createSession({ sub, sessionId: id, refreshDigest: `c${i}`, claims, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 10 })
    const read = await store.rotateRefreshToken({ sub, sessionId: id, presentedDigest: `c${i}`, successorDigest: 'n', sealedSuccessor: 's', idleTimeout: 60_000, reuseGrace: 0, peek: true })
    t.same(read.status === 'current' && read.session.claims, claims, `claims ${JSON.stringify(claims)} as they were`)
  }
  const empty = mintSessionId(sub)
  await store.createSession({ sub, sessionId: empty, refreshDigest: 'e', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 10 })
  t.equal(await client.hget(`${user}:s:${empty.slice(0, 22)}`, 'cl'), '}', 'only the sub: nothing else kept')
  const read = await store.rotateRefreshToken({ sub, sessionId: empty, presentedDigest: 'e', successorDigest: 'n', sealedSuccessor: 's', idleTimeout: 60_000, reuseGrace: 0, peek: true })
  t.same(read.status === 'current' && read.session.claims, { sub })

  // An id that is not one minted for the sub (a store caller's own) is named by all of it.
  await store.createSession({ sub: 'erin', sessionId: 'erin-1', refreshDigest: 'd0', claims: {}, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
  t.equal(await client.exists(`${userOf('fja:', 'erin')}:s:erin-1`), 1)
  t.equal(await store.isRevoked('erin', 'erin-1', 'j'), false, 'live')
  await store.revokeToken('erin', 'j', 60_000)
  t.equal(await store.isRevoked('erin', 'erin-1', 'j'), true, 'a denylisted jti of it')
  t.same((await store.listSessions('erin')).map(s => s.id), ['erin-1'])
  t.equal((await store.rotateRefreshToken({ sub: 'erin', sessionId: 'erin-1', presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 60_000, reuseGrace: 0 })).status, 'rotated')
  t.match(await store.revokeSession('erin', 'erin-1'), { id: 'erin-1' })
  t.equal(await store.isRevoked('erin', 'erin-1', 'other'), true, 'gone')
})

t.test('a Redis user that may not run PEXPIRETIME: each session keeps its end in a field', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const admin = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', 'older', 'on', '>older-password-5', '~*', 'resetchannels', '+@all', '-pexpiretime')
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, username: 'older', password: 'older-password-5' })
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client })
  const sessionId = mintSessionId('frank')
  const { session } = await store.createSession({ sub: 'frank', sessionId, refreshDigest: 'd0', claims: { sub: 'frank' }, lifetime: 60_000, idleTimeout: 30_000, maxSessions: 5 })
  const key = `${userOf('fja:', 'frank')}:s:${sessionId.slice(0, 22)}`
  t.equal(await admin.hget(key, 'exp'), String(session.expiresAt), 'the end, in a field')
  t.match(await store.listSessions('frank'), [{ id: sessionId, expiresAt: session.expiresAt }])
  const rotated = await store.rotateRefreshToken({ sub: 'frank', sessionId, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 30_000, reuseGrace: 60_000 })
  const expiresAt = rotated.status === 'rotated' ? rotated.session.expiresAt : 0
  t.equal(await admin.hget(key, 'exp'), String(expiresAt), 'moved by the rotation')
  t.match(await store.rotateRefreshToken({ sub: 'frank', sessionId, presentedDigest: 'd0', successorDigest: 'd2', sealedSuccessor: 's2', idleTimeout: 30_000, reuseGrace: 60_000 }), { status: 'grace', session: { expiresAt } }, 'read from it')
  t.match(await store.revokeSession('frank', sessionId), { expiresAt })
})
