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
  const store = new RedisStore({ client, prefix: 'legacy:', sessionLayout: 'compact' })

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
  const store = new RedisStore({ client, sessionLayout: 'compact' })
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

t.test('a Redis user that may not run PEXPIRETIME: each compact session keeps its end in a field', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const admin = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', 'older', 'on', '>older-password-5', '~*', 'resetchannels', '+@all', '-pexpiretime')
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, username: 'older', password: 'older-password-5' })
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client, sessionLayout: 'compact' })
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

// sessionLayout 'compatible' (the default): a rolling upgrade shares the Redis with instances of
// earlier versions, which read only the whole-id layout. Each session is written as they wrote it.
t.test("the 'compatible' layout writes sessions exactly as earlier versions did", async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client, sessionLayout: 'compatible' })
  const sub = 'grace'
  const user = userOf('fja:', sub)
  const sessionId = mintSessionId(sub)
  const key = `${user}:s:${sessionId}`
  const { session } = await store.createSession({ sub, sessionId, refreshDigest: 'd0', claims: { sub, roles: ['user'] }, lifetime: 120_000, idleTimeout: 60_000, maxSessions: 5, userAgent: 'ua', ip: '127.0.0.1' })
  t.same((await client.keys(`${user}*`)).sort(), [key, `${user}:ss`], 'the whole-id key, and no other')
  t.same(await client.zrange(`${user}:ss`, '0', '-1'), [sessionId], 'the index member is the whole id')
  const c = String(session.createdAt)
  t.same(await client.hgetall(key), { cur: 'd0', cl: JSON.stringify({ sub, roles: ['user'] }), c, l: c, abs: String(session.createdAt + 120_000), exp: String(session.expiresAt), ua: 'ua', ip: '127.0.0.1' }, 'the fields earlier versions wrote: whole-JSON claims, the end in exp')
  t.equal(await client.pexpiretime(key), session.expiresAt, 'expiring at its end')

  const rotated = await store.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 60_000, reuseGrace: 0, claims: { sub, roles: ['admin'] }, claimsFrom: { sub, roles: ['user'] } })
  t.equal(rotated.status, 'rotated')
  const expiresAt = rotated.status === 'rotated' ? rotated.session.expiresAt : 0
  t.match(await client.hgetall(key), { cur: 'd1', cl: JSON.stringify({ sub, roles: ['admin'] }), exp: String(expiresAt) }, 'a rotation keeps the old layout: whole JSON, exp moved')
  const stepped = await store.stepUpSession({ sub, sessionId, successorDigest: 'd2', idleTimeout: 60_000, acr: 'mfa' })
  t.equal(await client.hget(key, 'exp'), String(stepped?.expiresAt), 'so does a step-up')
  t.equal(await store.updateClaims(sub, { sub, roles: ['auditor'] }), 1)
  t.equal(await client.hget(key, 'cl'), JSON.stringify({ sub, roles: ['auditor'] }), 'and updateClaims')
  t.same(await client.zrange(`${user}:ss`, '0', '-1'), [sessionId])

  // The eviction's answer names the session by its id, as the index member already is.
  const second = mintSessionId(sub)
  const { evicted } = await store.createSession({ sub, sessionId: second, refreshDigest: 'e0', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 1 })
  t.same(evicted, [sessionId])
  t.same(await client.zrange(`${user}:ss`, '0', '-1'), [second])
  t.same(await client.hget(`${user}:s:${second}`, 'cl'), JSON.stringify({ sub }), 'claims of only the sub: still whole JSON')
})

t.test("instances with 'compatible' and 'compact' on one Redis read, rotate, step up, list and revoke each other's sessions", async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const stores = { compatible: new RedisStore({ client, sessionLayout: 'compatible' }), compact: new RedisStore({ client, sessionLayout: 'compact' }) }
  for (const [writer, reader] of [['compatible', 'compact'], ['compact', 'compatible']] as const) {
    const sub = `user-of-${writer}`
    const user = userOf('fja:', sub)
    const w = stores[writer]
    const r = stores[reader]
    const sessionId = mintSessionId(sub)
    const key = writer === 'compatible' ? `${user}:s:${sessionId}` : `${user}:s:${sessionId.slice(0, 22)}`
    const { session } = await w.createSession({ sub, sessionId, refreshDigest: 'd0', claims: { sub, roles: ['user'] }, lifetime: 120_000, idleTimeout: 60_000, maxSessions: 5, userAgent: 'ua' })
    t.equal(await client.exists(key), 1, `${writer}: written in its layout`)
    t.equal(await r.isRevoked(sub, sessionId, 'j'), false, `${reader} sees a ${writer} session live`)
    t.match(await r.listSessions(sub), [{ id: sessionId, expiresAt: session.expiresAt, userAgent: 'ua' }], `${reader} lists it`)
    const peeked = await r.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd0', successorDigest: 'x', sealedSuccessor: 'x', idleTimeout: 60_000, reuseGrace: 0, peek: true })
    t.same(peeked.status === 'current' && peeked.session.claims, { sub, roles: ['user'] }, `${reader} reads its claims`)
    const rotated = await r.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd0', successorDigest: 'd1', sealedSuccessor: 's1', idleTimeout: 60_000, reuseGrace: 60_000, claims: { sub, roles: ['admin'] }, claimsFrom: { sub, roles: ['user'] } })
    t.same(rotated.status === 'rotated' && rotated.session.claims, { sub, roles: ['admin'] }, `${reader} rotates it, with a hook's claims`)
    t.equal(await client.exists(key), 1, 'it stays under its key')
    const back = await w.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd1', successorDigest: 'd2', sealedSuccessor: 's2', idleTimeout: 60_000, reuseGrace: 60_000 })
    t.same(back.status === 'rotated' && back.session.claims, { sub, roles: ['admin'] }, `${writer} rotates what ${reader} rotated`)
    const grace = await r.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd1', successorDigest: 'd3', sealedSuccessor: 's3', idleTimeout: 60_000, reuseGrace: 60_000 })
    t.equal(grace.status, 'grace', `${reader}: the spent token within grace`)
    t.match(await r.stepUpSession({ sub, sessionId, successorDigest: 'd4', idleTimeout: 60_000, acr: 'mfa' }), { id: sessionId, acr: 'mfa', claims: { sub, roles: ['admin'] } }, `${reader} steps it up`)
    t.equal(await r.updateClaims(sub, { sub, roles: ['auditor'] }), 1)
    const read = await w.rotateRefreshToken({ sub, sessionId, presentedDigest: 'd4', successorDigest: 'x', sealedSuccessor: 'x', idleTimeout: 60_000, reuseGrace: 0, peek: true })
    t.same(read.status === 'current' && read.session.claims, { sub, roles: ['auditor'] }, `${writer} reads the claims ${reader} wrote`)
    t.match(await r.revokeSession(sub, sessionId, 'd4'), { id: sessionId }, `${reader} revokes it by its token`)
    t.equal(await w.isRevoked(sub, sessionId, 'j'), true, `${writer} sees it revoked`)
    t.equal(await client.exists(key, `${user}:ss`), 0, 'nothing left of it')

    // Reuse, by id, eviction and revokeUser across the layouts.
    const one = mintSessionId(sub)
    await w.createSession({ sub, sessionId: one, refreshDigest: 'a0', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
    await r.rotateRefreshToken({ sub, sessionId: one, presentedDigest: 'a0', successorDigest: 'a1', sealedSuccessor: 's', idleTimeout: 60_000, reuseGrace: 0 })
    t.equal((await w.rotateRefreshToken({ sub, sessionId: one, presentedDigest: 'a0', successorDigest: 'a2', sealedSuccessor: 's', idleTimeout: 60_000, reuseGrace: 0 })).status, 'reused', 'a replay after the other layout rotated it')
    t.same(await r.listSessions(sub), [], 'reuse took it from the index')
    const two = mintSessionId(sub)
    await w.createSession({ sub, sessionId: two, refreshDigest: 'b0', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
    t.match(await r.revokeSession(sub, two), { id: two }, `${reader} revokes a ${writer} session by id`)
    t.same(await w.listSessions(sub), [])
    const three = mintSessionId(sub)
    await w.createSession({ sub, sessionId: three, refreshDigest: 'c0', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
    const four = mintSessionId(sub)
    await r.createSession({ sub, sessionId: four, refreshDigest: 'c1', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 5 })
    t.same((await w.listSessions(sub)).map(s => s.id), [three, four], 'one index with both layouts, in order')
    const five = mintSessionId(sub)
    const { evicted } = await w.createSession({ sub, sessionId: five, refreshDigest: 'c2', claims: { sub }, lifetime: 60_000, idleTimeout: 60_000, maxSessions: 2 })
    t.same(evicted, [three], 'the oldest evicted by its id')
    t.equal(await r.revokeUser(sub), 2, 'revokeUser takes both layouts')
    t.equal(await w.isRevoked(sub, four, 'j'), true)
    t.equal(await r.isRevoked(sub, five, 'j'), true)
  }
})

