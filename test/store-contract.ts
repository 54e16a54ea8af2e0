// The Store contract: one suite, run against every store. A harness gives a fresh store and
// a way to let time pass (a manual clock for MemoryStore, real waiting for a server store).
import type { Test } from 'tap'
import { reuseHistory } from '../lib/index.js'
import type { CreateSessionInput, Store } from '../lib/index.js'
import { digestRefreshToken, mintRefreshToken, mintSessionId } from '../lib/tokens/refresh.js'

export interface StoreHarness {
  name: string
  create (): Promise<Store>
  /** Lets `ms` of store time pass. */
  advance (ms: number): Promise<void>
  /** Store time unit the harness can resolve: durations in the suite are multiples of it. */
  unit: number
}

function newSession (sub: string, overrides: Partial<CreateSessionInput> = {}): CreateSessionInput & { token: string } {
  const sessionId = mintSessionId(sub)
  const token = mintRefreshToken(sessionId)
  return {
    sub,
    sessionId,
    refreshDigest: digestRefreshToken(token),
    claims: { sub, roles: ['user'] },
    lifetime: 3_600_000,
    idleTimeout: 1_800_000,
    maxSessions: 10,
    userAgent: 'contract',
    ip: '127.0.0.1',
    token,
    ...overrides
  }
}

function rotation (session: { sub: string, sessionId: string }, presented: string, grace: number) {
  const successor = mintRefreshToken(session.sessionId)
  return {
    successor,
    input: {
      sub: session.sub,
      sessionId: session.sessionId,
      presentedDigest: digestRefreshToken(presented),
      successorDigest: digestRefreshToken(successor),
      sealedSuccessor: `sealed:${digestRefreshToken(successor)}`,
      idleTimeout: 1_800_000,
      reuseGrace: grace
    }
  }
}

export function storeContract (t: Test, harness: StoreHarness): void {
  const { unit } = harness

  t.test(`${harness.name}: createSession stores the session and its claims`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    const { session: created, evicted } = await store.createSession(session)
    t.same(evicted, [])
    t.match(created, { id: session.sessionId, sub: 'alice', userAgent: 'contract', ip: '127.0.0.1', claims: { sub: 'alice', roles: ['user'] } })
    t.equal(created.createdAt, created.lastUsedAt)
    t.equal(created.expiresAt, created.createdAt + 1_800_000, 'min(absolute, idle)')
    t.equal(await store.isRevoked('alice', session.sessionId, 'jti-1'), false)
    const listed = await store.listSessions('alice')
    t.same(listed.map(s => s.id), [session.sessionId])
  })

  t.test(`${harness.name}: client details are optional`, async t => {
    const store = await harness.create()
    const { userAgent: _ua, ip: _ip, ...bare } = newSession('bob')
    const { session } = await store.createSession(bare)
    t.notOk('userAgent' in session || 'ip' in session)
    const [listed] = await store.listSessions('bob')
    t.notOk('userAgent' in (listed as object) || 'ip' in (listed as object), 'absent, not empty strings')
  })

  t.test(`${harness.name}: rotation moves current to the successor exactly once`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const first = rotation(session, session.token, 10 * unit)
    const rotated = await store.rotateRefreshToken(first.input)
    t.equal(rotated.status, 'rotated')
    const second = rotation(session, first.successor, 10 * unit)
    t.equal((await store.rotateRefreshToken(second.input)).status, 'rotated', 'the successor is current')
  })

  t.test(`${harness.name}: concurrent rotations of one token yield one successor chain`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const attempts = Array.from({ length: 20 }, () => rotation(session, session.token, 60_000))
    const results = await Promise.all(attempts.map(async attempt => await store.rotateRefreshToken(attempt.input)))
    const winners = results.filter(result => result.status === 'rotated')
    t.equal(winners.length, 1, 'one rotation wins')
    const graces = results.filter(result => result.status === 'grace')
    t.equal(graces.length, 19, 'the others get grace')
    const sealed = new Set(graces.map(result => result.status === 'grace' ? result.sealedSuccessors.join(' ') : ''))
    t.equal(sealed.size, 1, 'all of them the same successor')
    const winner = attempts[results.findIndex(result => result.status === 'rotated')]
    t.equal([...sealed][0], winner?.input.sealedSuccessor, 'one link: the winner\'s sealed successor')
  })

  t.test(`${harness.name}: grace ends, and reuse revokes the session`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const first = rotation(session, session.token, 2 * unit)
    await store.rotateRefreshToken(first.input)
    t.equal((await store.rotateRefreshToken(rotation(session, session.token, 2 * unit).input)).status, 'grace')
    await harness.advance(3 * unit)
    t.equal((await store.rotateRefreshToken(rotation(session, session.token, 2 * unit).input)).status, 'reused')
    t.equal(await store.isRevoked('alice', session.sessionId, 'any'), true, 'access tokens of the session are rejected')
    t.equal((await store.rotateRefreshToken(rotation(session, first.successor, 2 * unit).input)).status, 'invalid')
  })

  t.test(`${harness.name}: an older generation within grace leads along the chain to the current token`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const first = rotation(session, session.token, 60_000)
    await store.rotateRefreshToken(first.input)
    const second = rotation(session, first.successor, 60_000)
    await store.rotateRefreshToken(second.input)
    const replay = await store.rotateRefreshToken(rotation(session, session.token, 60_000).input)
    t.equal(replay.status, 'grace', 'two generations old, rotated within grace: not reuse')
    t.same(replay.status === 'grace' && replay.sealedSuccessors, [first.input.sealedSuccessor, second.input.sealedSuccessor],
      'the presented token\'s seal first, the one holding the current token last')
    const middle = await store.rotateRefreshToken(rotation(session, first.successor, 60_000).input)
    t.same(middle.status === 'grace' && middle.sealedSuccessors, [second.input.sealedSuccessor])
    t.equal((await store.rotateRefreshToken(rotation(session, second.successor, 60_000).input)).status, 'rotated', 'the live chain goes on')
  })

  t.test(`${harness.name}: concurrent refreshes spread over generations within grace leave one live chain`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const first = rotation(session, session.token, 60_000)
    await store.rotateRefreshToken(first.input)
    const second = rotation(session, first.successor, 60_000)
    await store.rotateRefreshToken(second.input)
    // Three generations presented at once, in an interleaved order: RT0, RT1 and the current RT2.
    const presented = [session.token, first.successor, second.successor]
    const attempts = Array.from({ length: 18 }, (_, i) => rotation(session, presented[i % 3] as string, 60_000))
    const results = await Promise.all(attempts.map(async attempt => await store.rotateRefreshToken(attempt.input)))
    const winners = results.flatMap((result, i) => result.status === 'rotated' ? [attempts[i]] : [])
    t.equal(winners.length, 1, 'exactly one rotation')
    t.equal(results.filter(result => result.status === 'grace').length, 17, 'every other one is led back, none is reuse')
    // Answered before the winning rotation: RT2, itself spent within grace by then; after it: RT3.
    const ends = new Set([second.input.sealedSuccessor, winners[0]?.input.sealedSuccessor])
    for (const result of results) {
      if (result.status === 'grace') t.ok(ends.has(result.sealedSuccessors.at(-1) as string), 'each chain ends on the live chain')
    }
    const next = rotation(session, (winners[0] as { successor: string }).successor, 60_000)
    t.equal((await store.rotateRefreshToken(next.input)).status, 'rotated', 'the winner\'s successor is current')
  })

  t.test(`${harness.name}: a generation-skipping replay after grace is reuse`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const first = rotation(session, session.token, 2 * unit)
    await store.rotateRefreshToken(first.input)
    await harness.advance(3 * unit)
    const second = rotation(session, first.successor, 2 * unit)
    await store.rotateRefreshToken(second.input)
    t.equal((await store.rotateRefreshToken(rotation(session, first.successor, 2 * unit).input)).status, 'grace', 'the predecessor is within grace')
    t.equal((await store.rotateRefreshToken(rotation(session, session.token, 2 * unit).input)).status, 'reused', 'its own predecessor is not')
    t.equal(await store.isRevoked('alice', session.sessionId, 'x'), true)
  })

  t.test(`${harness.name}: peek reports the current token and changes nothing`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const look = rotation(session, session.token, 60_000)
    const peeked = await store.rotateRefreshToken({ ...look.input, peek: true })
    t.match(peeked, { status: 'current', session: { id: session.sessionId, claims: { sub: 'alice', roles: ['user'] } } })
    t.equal((await store.rotateRefreshToken(rotation(session, look.successor, 60_000).input)).status, 'invalid', 'the peek\'s successor was never stored')
    t.equal((await store.rotateRefreshToken(rotation(session, session.token, 60_000).input)).status, 'rotated', 'the token is still current')
    const spent = await store.rotateRefreshToken({ ...rotation(session, session.token, 60_000).input, peek: true })
    t.equal(spent.status, 'grace', 'a spent token answers as without peek')
  })

  t.test(`${harness.name}: claims given to a rotation stay with the session; updateClaims replaces them`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    const other = newSession('alice')
    const bob = newSession('bob')
    for (const s of [session, other, bob]) await store.createSession(s)
    const first = rotation(session, session.token, 60_000)
    const rotated = await store.rotateRefreshToken({ ...first.input, claims: { sub: 'alice', roles: ['admin'] } })
    t.same(rotated.status === 'rotated' && rotated.session.claims, { sub: 'alice', roles: ['admin'] })
    const second = rotation(session, first.successor, 60_000)
    const kept = await store.rotateRefreshToken(second.input)
    t.same(kept.status === 'rotated' && kept.session.claims, { sub: 'alice', roles: ['admin'] }, 'no claims given: kept')
    t.equal(await store.updateClaims('alice', { sub: 'alice', roles: [] }), 2, 'both sessions of alice')
    const third = await store.rotateRefreshToken(rotation(session, second.successor, 60_000).input)
    t.same(third.status === 'rotated' && third.session.claims, { sub: 'alice', roles: [] })
    const otherRotated = await store.rotateRefreshToken(rotation(other, other.token, 60_000).input)
    t.same(otherRotated.status === 'rotated' && otherRotated.session.claims, { sub: 'alice', roles: [] })
    const bobRotated = await store.rotateRefreshToken(rotation(bob, bob.token, 60_000).input)
    t.same(bobRotated.status === 'rotated' && bobRotated.session.claims, { sub: 'bob', roles: ['user'] }, 'another user is untouched')
    t.equal(await store.updateClaims('carol', { sub: 'carol' }), 0, 'a user without sessions')
  })

  t.test(`${harness.name}: updateClaims skips expired sessions and does not bring them back`, async t => {
    const store = await harness.create()
    const short = newSession('alice', { lifetime: 2 * unit, idleTimeout: 2 * unit })
    await store.createSession(short)
    const long = newSession('alice')
    await store.createSession(long)
    await harness.advance(3 * unit)
    t.equal(await store.updateClaims('alice', { sub: 'alice', roles: ['x'] }), 1)
    t.same((await store.listSessions('alice')).map(s => s.id), [long.sessionId])
    t.equal((await store.rotateRefreshToken(rotation(short, short.token, 0).input)).status, 'invalid')
  })

  t.test(`${harness.name}: logging in again after the last session expired keeps the new session indexed`, async t => {
    const store = await harness.create()
    await store.createSession(newSession('alice', { lifetime: 2 * unit, idleTimeout: 2 * unit }))
    await harness.advance(3 * unit)
    const again = newSession('alice')
    await store.createSession(again)
    t.same((await store.listSessions('alice')).map(s => s.id), [again.sessionId], 'listed')
    t.equal(await store.revokeUser('alice'), 1, 'revoked with the user')
    t.equal(await store.isRevoked('alice', again.sessionId, 'x'), true)
  })

  t.test(`${harness.name}: logout with a spent generation of the session ends it`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const first = rotation(session, session.token, 0)
    await store.rotateRefreshToken(first.input)
    await store.rotateRefreshToken(rotation(session, first.successor, 0).input)
    t.equal((await store.revokeSession('alice', session.sessionId, session.refreshDigest))?.id, session.sessionId)
  })

  t.test(`${harness.name}: denylist entries belong to one user`, async t => {
    const store = await harness.create()
    const alice = newSession('alice')
    const bob = newSession('bob')
    await store.createSession(alice)
    await store.createSession(bob)
    await store.revokeToken('alice', 'shared-jti', 60_000)
    t.equal(await store.isRevoked('alice', alice.sessionId, 'shared-jti'), true)
    t.equal(await store.isRevoked('bob', bob.sessionId, 'shared-jti'), false, 'the same jti of another user is not denylisted')
  })

  t.test(`${harness.name}: a token the session never issued is invalid, and the session lives on`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const madeUp = rotation(session, mintRefreshToken(session.sessionId), 0)
    t.equal((await store.rotateRefreshToken(madeUp.input)).status, 'invalid')
    t.equal(await store.isRevoked('alice', session.sessionId, 'x'), false, 'not revoked')
    t.equal((await store.rotateRefreshToken(rotation(session, session.token, 0).input)).status, 'rotated', 'the real token still rotates')
  })

  t.test(`${harness.name}: reuse is detected for ${reuseHistory} generations before the predecessor, not beyond`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const chain = [session.token]
    for (let i = 0; i < reuseHistory + 3; i++) {
      const next = rotation(session, chain[chain.length - 1] as string, 0)
      t.equal((await store.rotateRefreshToken(next.input)).status, 'rotated')
      chain.push(next.successor)
    }
    // chain[-1] is current, chain[-2] the predecessor, chain[-3 .. -(2 + history)] the history.
    const tooOld = chain[chain.length - 3 - reuseHistory] as string
    t.equal((await store.rotateRefreshToken(rotation(session, tooOld, 0).input)).status, 'invalid', 'older than the history: invalid')
    t.equal(await store.isRevoked('alice', session.sessionId, 'x'), false)
    const oldest = chain[chain.length - 2 - reuseHistory] as string
    t.equal((await store.rotateRefreshToken(rotation(session, oldest, 0).input)).status, 'reused', 'the oldest remembered: reuse')
    t.equal(await store.isRevoked('alice', session.sessionId, 'x'), true, 'the session is revoked')
  })

  t.test(`${harness.name}: rotation needs the right user and a live session`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    const wrongUser = rotation(session, session.token, 0)
    t.equal((await store.rotateRefreshToken({ ...wrongUser.input, sub: 'mallory' })).status, 'invalid')
    t.equal((await store.rotateRefreshToken(rotation({ sub: 'alice', sessionId: mintSessionId('alice') }, session.token, 0).input)).status, 'invalid')
  })

  t.test(`${harness.name}: idle timeout restarts on rotation; absolute lifetime does not move`, async t => {
    const store = await harness.create()
    const session = newSession('alice', { lifetime: 6 * unit, idleTimeout: 3 * unit })
    await store.createSession(session)
    await harness.advance(2 * unit)
    const first = rotation(session, session.token, 0)
    const rotated = await store.rotateRefreshToken({ ...first.input, idleTimeout: 3 * unit })
    t.equal(rotated.status, 'rotated')
    await harness.advance(2 * unit)
    const second = rotation(session, first.successor, 0)
    t.equal((await store.rotateRefreshToken({ ...second.input, idleTimeout: 3 * unit })).status, 'rotated', 'alive at 4 units thanks to the idle restart')
    await harness.advance(2.5 * unit)
    const third = rotation(session, second.successor, 0)
    t.equal((await store.rotateRefreshToken({ ...third.input, idleTimeout: 3 * unit })).status, 'invalid', 'dead after the absolute lifetime')
    t.equal(await store.isRevoked('alice', session.sessionId, 'x'), true)
  })

  t.test(`${harness.name}: denylisted jtis are revoked until their TTL`, async t => {
    const store = await harness.create()
    const session = newSession('alice')
    await store.createSession(session)
    await store.revokeToken('alice', 'jti-1', 2 * unit)
    t.equal(await store.isRevoked('alice', session.sessionId, 'jti-1'), true)
    t.equal(await store.isRevoked('alice', session.sessionId, 'jti-2'), false)
    await harness.advance(3 * unit)
    t.equal(await store.isRevoked('alice', session.sessionId, 'jti-1'), false, 'the entry expired with the token')
  })

  t.test(`${harness.name}: a session bound to a DPoP key rotates only for that key; reuse is reuse whatever the key`, async t => {
    const store = await harness.create()
    const session = newSession('alice', { jkt: 'key-a' })
    const { session: created } = await store.createSession(session)
    t.equal(created.jkt, 'key-a', 'the login answers the binding')
    const first = rotation(session, session.token, 60 * unit)
    t.equal((await store.rotateRefreshToken(first.input)).status, 'invalid', 'no key: refused')
    t.equal((await store.rotateRefreshToken({ ...first.input, jkt: 'key-b' })).status, 'invalid', 'another key: refused')
    t.equal((await store.rotateRefreshToken({ ...first.input, jkt: 'key-b', peek: true })).status, 'invalid', 'peek with another key: refused')
    const rotated = await store.rotateRefreshToken({ ...first.input, jkt: 'key-a' })
    t.match(rotated, { status: 'rotated', session: { jkt: 'key-a' } }, 'its own key: rotated, still bound')
    t.equal((await store.rotateRefreshToken({ ...rotation(session, session.token, 60 * unit).input, jkt: 'key-b' })).status, 'invalid',
      'within grace, another key: refused, no seals handed out')
    t.match(await store.rotateRefreshToken({ ...rotation(session, session.token, 60 * unit).input, jkt: 'key-a' }), { status: 'grace', session: { jkt: 'key-a' } })
    t.equal((await store.rotateRefreshToken({ ...rotation(session, session.token, 0).input, jkt: 'key-b' })).status, 'reused',
      'a spent token after grace is reuse, whatever the key')
    t.equal(await store.isRevoked('alice', session.sessionId, 'x'), true, 'and the session is gone')

    const unbound = newSession('alice')
    t.notOk('jkt' in (await store.createSession(unbound)).session, 'an unbound session has no jkt')
    const plain = await store.rotateRefreshToken({ ...rotation(unbound, unbound.token, 60 * unit).input, jkt: 'key-a' })
    t.equal(plain.status, 'rotated', 'an unbound session rotates with or without a proof')
    t.notOk(plain.status === 'rotated' && 'jkt' in plain.session, 'and stays unbound')
  })

  t.test(`${harness.name}: a DPoP proof's replay key is new once, then a replay until its TTL`, async t => {
    const store = await harness.create()
    t.type(store.rememberProof, 'function', 'every store here implements rememberProof')
    const remember = store.rememberProof?.bind(store) as NonNullable<Store['rememberProof']>
    t.equal(await remember('proof-a', 2 * unit), true, 'first sight')
    t.equal(await remember('proof-a', 2 * unit), false, 'a replay')
    t.equal(await remember('proof-b', 2 * unit), true, 'another proof')
    const both = await Promise.all([remember('proof-c', 2 * unit), remember('proof-c', 2 * unit)])
    t.same(both.sort(), [false, true], 'two concurrent sights of one proof: exactly one is new')
    await harness.advance(3 * unit)
    t.equal(await remember('proof-a', 2 * unit), true, 'forgotten after its TTL')
  })

  t.test(`${harness.name}: revokeSession with and without a digest`, async t => {
    const store = await harness.create()
    const a = newSession('alice')
    const b = newSession('alice')
    await store.createSession(a)
    await store.createSession(b)
    t.equal(await store.revokeSession('alice', a.sessionId, digestRefreshToken('wrong')), null, 'a wrong digest revokes nothing')
    t.equal(await store.revokeSession('bob', a.sessionId), null, 'another user revokes nothing')
    const revoked = await store.revokeSession('alice', a.sessionId, a.refreshDigest)
    t.equal(revoked?.id, a.sessionId)
    t.equal(await store.isRevoked('alice', a.sessionId, 'x'), true)
    t.equal(await store.isRevoked('alice', b.sessionId, 'x'), false)
    t.equal(await store.revokeSession('alice', a.sessionId), null, 'already gone')
    t.equal((await store.revokeSession('alice', b.sessionId))?.id, b.sessionId)
  })

  t.test(`${harness.name}: revokeUser ends every session of one user only`, async t => {
    const store = await harness.create()
    const sessions = [newSession('alice'), newSession('alice'), newSession('bob')]
    for (const session of sessions) await store.createSession(session)
    t.equal(await store.revokeUser('alice'), 2)
    t.equal(await store.isRevoked('alice', sessions[0]!.sessionId, 'x'), true)
    t.equal(await store.isRevoked('alice', sessions[1]!.sessionId, 'x'), true)
    t.equal(await store.isRevoked('bob', sessions[2]!.sessionId, 'x'), false)
    t.same(await store.listSessions('alice'), [])
    t.equal(await store.revokeUser('alice'), 0)
  })

  t.test(`${harness.name}: the session cap evicts the oldest`, async t => {
    const store = await harness.create()
    const sessions = [newSession('alice', { maxSessions: 2 }), newSession('alice', { maxSessions: 2 }), newSession('alice', { maxSessions: 2 })]
    t.same((await store.createSession(sessions[0]!)).evicted, [])
    t.same((await store.createSession(sessions[1]!)).evicted, [])
    t.same((await store.createSession(sessions[2]!)).evicted, [sessions[0]!.sessionId])
    t.same((await store.listSessions('alice')).map(s => s.id).sort(), [sessions[1]!.sessionId, sessions[2]!.sessionId].sort())
  })

  t.test(`${harness.name}: listSessions leaves out expired sessions`, async t => {
    const store = await harness.create()
    await store.createSession(newSession('alice', { lifetime: 2 * unit, idleTimeout: 2 * unit }))
    const long = newSession('alice')
    await store.createSession(long)
    await harness.advance(3 * unit)
    t.same((await store.listSessions('alice')).map(s => s.id), [long.sessionId])
  })
}
