// The reference model of the Store contract and the fast-check commands that drive a store and
// the model side by side (issue 11, section 4). Every command runs one store operation, checks
// its answer against the model, updates the model from what the store answered, then checks the
// whole observable state (listSessions, current tokens by peek, isRevoked) against the model.
//
// Store time: each call ran at an unknown instant between `from` and `to` (the same instant on a
// manual clock; on Redis, which reads its own TIME, the wall-clock interval around the call). A
// deadline that falls inside that interval may have passed or not, so either answer is accepted
// there and the model follows the store; everywhere else the answer must be the model's.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { reuseHistory } from '../lib/index.js'
import type { RotateInput, RotateResult, SessionInfo, SessionRecord, Store } from '../lib/index.js'
import { digestRefreshToken, mintRefreshToken, mintSessionId, openSuccessor, sealSuccessor } from '../lib/tokens/refresh.js'

/** When, in store time, a call may have run. */
export interface Instant { from: number, to: number }

export interface StoreClock {
  /** Runs one store call and tells when, in store time, it may have run. */
  time: <T>(call: () => Promise<T>) => Promise<{ value: T, at: Instant }>
  /** Lets `ms` of store time pass. */
  pass: (ms: number) => Promise<void>
}

/** The durations of one run, in ms of store time. */
export interface Timing {
  /** Granularity of the waits. */
  unit: number
  /** Added to every duration the store is given: off the waits' grid, so deadlines fall between calls. */
  offset: number
  grace: number
  idle: number
  lifetime: number
}

export interface Real { store: Store, clock: StoreClock, timing: Timing }

export const subs = ['alice', 'bob', 'ç‰›'] as const
export const maxSessions = 3
const claimVariants: Array<Record<string, unknown>> = [
  { roles: ['user'] },
  { roles: ['admin'], plan: 'pro' },
  { roles: [], disabled: true }
]

type Status = RotateResult['status']
/** Three-valued: null when the call's instant straddles the deadline. */
type Maybe = boolean | null

interface ModelSession {
  sub: string
  id: string
  createdAt: number
  absoluteEnd: number
  lastUsedAt: number
  expiresAt: number
  userAgent?: string
  ip?: string
  /** The refresh token of each generation; the last is current. */
  tokens: string[]
  /** spentAt[g]: store time at which generation g was rotated. */
  spentAt: number[]
  /** The claims the session may carry: one set, or two after an updateClaims that raced its expiry. */
  claims: Array<Record<string, unknown>>
  /** Access-token jtis issued in the session (login, rotation, grace). */
  jtis: string[]
  /** Deleted by the store for certain (revoked, reused, evicted); expiry is left to time. */
  ended: boolean
  /** The DPoP key thumbprint the session is bound to, if any. */
  jkt?: string
}

export interface SessionPick { index: number, any: boolean }

/** Counts of what the runs reached, so the test can show the generator gets to every case. */
export type Reached = Record<string, number>

export class Model {
  readonly sessions: ModelSession[] = []
  /** Denylisted jtis: the earliest and latest instant their entry ends. */
  readonly denied = new Map<string, { earliest: number, latest: number }>()
  /** DPoP proofs remembered: the earliest and latest instant their entry ends. */
  readonly proofs = new Map<string, { earliest: number, latest: number }>()
  /** Store time of the last full check. */
  latest = 0
  constructor (readonly reached: Reached) {}

  note (what: string): void {
    this.reached[what] = (this.reached[what] ?? 0) + 1
  }

  /** The `index`th session (modulo), among those the model last saw live unless `any`. */
  pick ({ index, any }: SessionPick): ModelSession | undefined {
    const live = this.sessions.filter(session => !session.ended && session.expiresAt > this.latest)
    const among = any || live.length === 0 ? this.sessions : live
    return among.length === 0 ? undefined : among[index % among.length]
  }

  alive (session: ModelSession, at: Instant): Maybe {
    if (session.ended) return false
    return not(reached(session.expiresAt, session.expiresAt, at))
  }

  /** Sessions of `sub` live for certain at `at`, and those that may have just expired. */
  ofUser (sub: string, at: Instant): { live: ModelSession[], maybe: ModelSession[] } {
    const live: ModelSession[] = []
    const maybe: ModelSession[] = []
    for (const session of this.sessions) {
      if (session.sub !== sub) continue
      const alive = this.alive(session, at)
      if (alive === true) live.push(session)
      else if (alive === null) maybe.push(session)
    }
    return { live, maybe }
  }

  isRevoked (session: ModelSession, jti: string, at: Instant): Maybe {
    const denial = this.denied.get(jti)
    const denied = denial === undefined ? false : not(reached(denial.earliest, denial.latest, at))
    return or(not(this.alive(session, at)), denied)
  }
}

function reached (earliest: number, latest: number, at: Instant): Maybe {
  if (at.from >= latest) return true
  if (at.to < earliest) return false
  return null
}

function not (value: Maybe): Maybe {
  return value === null ? null : !value
}

function or (a: Maybe, b: Maybe): Maybe {
  if (a === true || b === true) return true
  return a === null || b === null ? null : false
}

/** The answers a three-valued fact allows. */
function allowed<T> (fact: Maybe, ifTrue: T, ifFalse: T): T[] {
  if (fact === null) return [ifTrue, ifFalse]
  return [fact ? ifTrue : ifFalse]
}

function hasClaims (session: ModelSession, claims: Record<string, unknown>): boolean {
  return session.claims.some(candidate => isDeepEqual(candidate, claims))
}

function isDeepEqual (a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b)
    return true
  } catch {
    return false
  }
}

function within (time: number, at: Instant, what: string): void {
  assert.ok(time >= at.from && time <= at.to, `${what} ${time} is not in the call's store time [${at.from}, ${at.to}]`)
}

/** Checks the session part of a store answer against the model. */
function checkInfo (session: ModelSession, info: SessionInfo, what: string): void {
  assert.equal(info.id, session.id, `${what}: id`)
  assert.equal(info.sub, session.sub, `${what}: sub`)
  assert.equal(info.createdAt, session.createdAt, `${what}: createdAt`)
  assert.equal(info.lastUsedAt, session.lastUsedAt, `${what}: lastUsedAt`)
  assert.equal(info.expiresAt, session.expiresAt, `${what}: expiresAt`)
  assert.equal(info.userAgent, session.userAgent, `${what}: userAgent`)
  assert.equal(info.ip, session.ip, `${what}: ip`)
}

function checkRecord (session: ModelSession, record: SessionRecord, what: string): void {
  checkInfo(session, record, what)
  assert.equal(record.jkt, session.jkt, `${what}: the DPoP key the session is bound to`)
  assert.ok(hasClaims(session, record.claims), `${what}: claims ${JSON.stringify(record.claims)}, the model has ${JSON.stringify(session.claims)}`)
  session.claims = [record.claims] // an updateClaims that raced the expiry is now settled
}

/** What the plugin sends for one refresh: a fresh successor sealed with the presented token. */
function rotateInput (session: ModelSession, presented: string, timing: Timing, extra: Partial<RotateInput> = {}): { input: RotateInput, successor: string } {
  const successor = mintRefreshToken(session.id)
  return {
    successor,
    input: {
      sub: session.sub,
      sessionId: session.id,
      presentedDigest: digestRefreshToken(presented),
      successorDigest: digestRefreshToken(successor),
      sealedSuccessor: sealSuccessor(presented, successor),
      idleTimeout: timing.idle,
      reuseGrace: timing.grace,
      // The session's own client: its key, if the session is bound to one.
      ...(session.jkt === undefined ? {} : { jkt: session.jkt }),
      ...extra
    }
  }
}

/**
 * The statuses the contract allows for presenting generation `generation` (-1: a token the
 * session never issued) of `session` at `at`.
 */
function expectedStatuses (model: Model, session: ModelSession, generation: number, peek: boolean, at: Instant, timing: Timing, keyHeld = true): Status[] {
  const alive = model.alive(session, at)
  if (alive === false) return ['invalid']
  const current = session.tokens.length - 1
  let statuses: Status[]
  // A bound session presented without its key: 'invalid' where its own client would move it,
  // reuse all the same for a spent token after grace.
  if (generation === current) {
    statuses = [keyHeld ? (peek ? 'current' : 'rotated') : 'invalid']
  } else if (generation < 0 || current - generation > reuseHistory + 1) {
    statuses = ['invalid']
  } else {
    const spentAt = session.spentAt[generation] as number
    statuses = allowed(not(reached(spentAt + timing.grace, spentAt + timing.grace, at)), keyHeld ? 'grace' : 'invalid', 'reused')
  }
  return alive === null ? [...statuses, 'invalid'] : statuses
}

/** Applies a store's answer to the model after checking it. */
function settle (
  model: Model,
  session: ModelSession,
  generation: number,
  attempt: { input: RotateInput, successor: string },
  result: RotateResult,
  at: Instant,
  timing: Timing,
  what: string
): void {
  const current = session.tokens.length - 1
  switch (result.status) {
    case 'rotated': {
      const { session: record } = result
      within(record.lastUsedAt, at, `${what}: lastUsedAt`)
      assert.equal(record.createdAt, session.createdAt, `${what}: createdAt`)
      assert.equal(record.expiresAt, Math.min(session.absoluteEnd, record.lastUsedAt + timing.idle), `${what}: expiresAt is min(absolute end, now + idle)`)
      if (attempt.input.claims !== undefined) {
        assert.deepEqual(record.claims, attempt.input.claims, `${what}: the claims given with the rotation`)
      } else {
        assert.ok(hasClaims(session, record.claims), `${what}: claims ${JSON.stringify(record.claims)}, the model has ${JSON.stringify(session.claims)}`)
      }
      session.claims = [record.claims]
      session.spentAt[current] = record.lastUsedAt
      session.tokens.push(attempt.successor)
      session.lastUsedAt = record.lastUsedAt
      session.expiresAt = record.expiresAt
      session.jtis.push(randomUUID())
      model.note('rotated')
      if (attempt.input.claims !== undefined) model.note('rotated with new claims')
      return
    }
    case 'current':
      checkRecord(session, result.session, what)
      model.note('current (peek)')
      return
    case 'grace': {
      assert.ok(generation >= 0 && generation < current, `${what}: grace for a token that is not spent`)
      checkRecord(session, result.session, what)
      // Open the links one by one: each must give the next generation, the last the current token.
      assert.equal(result.sealedSuccessors.length, current - generation, `${what}: one link per generation from the presented token to the current one`)
      let token = session.tokens[generation] as string
      result.sealedSuccessors.forEach((sealed, link) => {
        const next = openSuccessor(token, sealed)
        assert.equal(next, session.tokens[generation + link + 1], `${what}: link ${link} opens to generation ${generation + link + 1}`)
        token = next as string
      })
      session.jtis.push(randomUUID())
      model.note(current - generation > 1 ? 'grace over several generations' : 'grace for the predecessor')
      return
    }
    case 'reused':
      session.ended = true
      model.note('reused')
      return
    case 'invalid':
      if (session.jkt !== undefined && attempt.input.jkt !== session.jkt) model.note('refused: not the session\'s DPoP key')
      model.note(generation >= 0 && generation < current ? 'invalid spent token' : 'invalid')
  }
}

/** Compares everything a client can observe with the model: run after every command. */
export async function checkAll (model: Model, real: Real): Promise<void> {
  const { store, clock, timing } = real
  for (const sub of subs) {
    const { value: listed, at } = await clock.time(async () => await store.listSessions(sub))
    model.latest = at.from
    const { live, maybe } = model.ofUser(sub, at)
    const listedIds = listed.map(info => info.id)
    for (const session of live) assert.ok(listedIds.includes(session.id), `listSessions(${sub}) misses live session ${model.sessions.indexOf(session)}`)
    for (const info of listed) {
      const session = [...live, ...maybe].find(candidate => candidate.id === info.id)
      assert.ok(session !== undefined, `listSessions(${sub}) lists ${info.id}, which the model has not live`)
      checkInfo(session, info, `listSessions(${sub})`)
    }
  }
  for (const [index, session] of model.sessions.entries()) {
    const generation = session.tokens.length - 1
    const attempt = rotateInput(session, session.tokens[generation] as string, timing, { peek: true })
    const { value: result, at } = await clock.time(async () => await store.rotateRefreshToken(attempt.input))
    const expected = expectedStatuses(model, session, generation, true, at, timing)
    assert.ok(expected.includes(result.status), `peek at the current token of session ${index}: ${result.status}, expected ${expected.join(' or ')}`)
    if (result.status === 'current') checkRecord(session, result.session, `peek at session ${index}`)
    for (const jti of session.jtis.filter((jti, i) => i >= session.jtis.length - 2 || model.denied.has(jti))) {
      const { value: revoked, at } = await clock.time(async () => await store.isRevoked(session.sub, session.id, jti))
      const expected = model.isRevoked(session, jti, at)
      if (expected !== null) assert.equal(revoked, expected, `isRevoked(session ${index}, jti ${session.jtis.indexOf(jti)})`)
    }
  }
  const stranger = model.sessions[0]
  if (stranger !== undefined) {
    const other = subs.find(sub => sub !== stranger.sub) as string
    assert.equal(await store.isRevoked(other, stranger.id, stranger.jtis[0] as string), true, 'an access token presented for another user is revoked')
    assert.equal(await store.isRevoked(stranger.sub, mintSessionId(stranger.sub), randomUUID()), true, 'an unknown session is revoked')
  }
}

type ModelCommand = fc.AsyncCommand<Model, Real>

/** A command: `act` runs the store operation and its checks; then, unless `observe` is false, the full check. */
function command (name: string, act: (model: Model, real: Real) => Promise<void>, observe = true): ModelCommand {
  return {
    check: () => true,
    run: async (model, real) => {
      await act(model, real)
      if (observe) await checkAll(model, real)
    },
    toString: () => name
  }
}

/** Mostly alice, so that her logins reach the session cap; sometimes bob or a non-ASCII sub. */
const someSub = fc.constantFrom(0, 0, 0, 1, 1, 2)

/** One login: createSession, its answer and evictions checked against the model. */
async function createOne (model: Model, real: Real, sub: string, claims: Record<string, unknown>, client: boolean, jkt?: string): Promise<void> {
  const sessionId = mintSessionId(sub)
  const token = mintRefreshToken(sessionId)
  const before = model.sessions.filter(session => session.sub === sub)
  const { value: created, at } = await real.clock.time(async () => await real.store.createSession({
    sub,
    sessionId,
    refreshDigest: digestRefreshToken(token),
    claims,
    lifetime: real.timing.lifetime,
    idleTimeout: real.timing.idle,
    maxSessions,
    ...(client ? { userAgent: 'model/1.0', ip: '192.0.2.7' } : {}),
    ...(jkt === undefined ? {} : { jkt })
  }))
  const { live, maybe } = model.ofUser(sub, at)
  if (live.length === 0 && maybe.length === 0 && before.some(session => !session.ended)) model.note('login after the user\'s sessions expired')
  // Any of the sessions that may have just expired may still count: the evicted are the oldest beyond the cap.
  const candidates = subsets(maybe).map(counted => {
    const kept = model.sessions.filter(session => live.includes(session) || counted.includes(session))
    return kept.slice(0, Math.max(0, kept.length + 1 - maxSessions)).map(session => session.id)
  })
  assert.ok(candidates.some(evicted => isDeepEqual(evicted, created.evicted)), `evicted ${JSON.stringify(created.evicted)}, expected one of ${JSON.stringify(candidates)}`)
  for (const id of created.evicted) {
    const evicted = model.sessions.find(session => session.id === id) as ModelSession
    evicted.ended = true
    model.note('evicted')
  }
  const record = created.session
  within(record.createdAt, at, 'createSession: createdAt')
  const session: ModelSession = {
    sub,
    id: sessionId,
    createdAt: record.createdAt,
    absoluteEnd: record.createdAt + real.timing.lifetime,
    lastUsedAt: record.createdAt,
    expiresAt: record.createdAt + Math.min(real.timing.lifetime, real.timing.idle),
    ...(client ? { userAgent: 'model/1.0', ip: '192.0.2.7' } : {}),
    tokens: [token],
    spentAt: [],
    claims: [claims],
    jtis: [randomUUID()],
    ended: false,
    ...(jkt === undefined ? {} : { jkt })
  }
  checkRecord(session, record, 'createSession')
  if (jkt !== undefined) model.note('login bound to a DPoP key')
  model.sessions.push(session)
}

/** The user logs in on one device, or on several one after the other. */
const login = fc.record({
  sub: someSub,
  claims: fc.nat(claimVariants.length - 1),
  client: fc.boolean(),
  devices: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: maxSessions + 1 }) }),
  dpop: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
}).map(({ sub: subIndex, claims: claimsIndex, client, devices, dpop }) =>
  command(`login(${subs[subIndex]}, claims ${claimsIndex}${client ? ', ua+ip' : ''}${devices > 1 ? `, ${devices} devices` : ''}${dpop ? ', DPoP' : ''})`, async (model, real) => {
    for (let i = 0; i < devices; i++) {
      await createOne(model, real, subs[subIndex] as string, claimVariants[claimsIndex] as Record<string, unknown>, client, dpop ? `key-${randomUUID()}` : undefined)
    }
  }))

function subsets<T> (items: T[]): T[][] {
  return items.reduce<T[][]>((all, item) => [...all, ...all.map(subset => [...subset, item])], [[]])
}

// A wait is sometimes left unobserved: every read tidies expired entries away, so a check right
// after each wait would hide the bugs that need them left in place until the next write.
const wait = fc.record({ units: fc.constantFrom(1, 2, 4, 5, 7, 11), observe: fc.boolean() }).map(({ units, observe }) =>
  command(`wait(${units}${observe ? '' : ', unobserved'})`, async (_model, real) => { await real.clock.pass(units * real.timing.unit) }, observe))

/** Mostly a session the model has live, sometimes any (ended and expired ones included). */
const sessionPick = fc.record({
  index: fc.nat(30),
  any: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
})

function describePick ({ index, any }: SessionPick): string {
  return `session ${index}${any ? ' of all' : ''}`
}

/** Which token to present: the current one, one `back` generations before it, or one never issued. */
const presented = fc.oneof(
  { weight: 3, arbitrary: fc.constant<'current'>('current') },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2 }) },
  { weight: 2, arbitrary: fc.integer({ min: 3, max: reuseHistory + 3 }) },
  { weight: 1, arbitrary: fc.constant<'made-up'>('made-up') }
)

function generationOf (session: ModelSession, which: 'current' | 'made-up' | number): number {
  const current = session.tokens.length - 1
  if (which === 'current') return current
  if (which === 'made-up') return -1
  return Math.max(0, current - which)
}

function describe (which: 'current' | 'made-up' | number): string {
  return typeof which === 'number' ? `${which} back` : which
}

const refresh = fc.record({
  session: sessionPick,
  which: presented,
  peek: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  claims: fc.option(fc.nat(claimVariants.length - 1), { freq: 3 }),
  // Whose DPoP key comes with the refresh: the session's own client's, none, or a thief's.
  key: fc.constantFrom<'own' | 'none' | 'other'>('own', 'own', 'own', 'none', 'other')
}).map(({ session: pick, which, peek, claims, key }) =>
  command(`refresh(${describePick(pick)}, ${describe(which)}${peek ? ', peek' : ''}${claims === null ? '' : `, claims ${claims}`}${key === 'own' ? '' : `, ${key} key`})`, async (model, real) => {
    const session = model.pick(pick)
    if (session === undefined) return
    const generation = generationOf(session, which)
    const token = generation < 0 ? mintRefreshToken(session.id) : session.tokens[generation] as string
    const attempt = rotateInput(session, token, real.timing, {
      ...(peek ? { peek } : {}),
      ...(claims === null ? {} : { claims: claimVariants[claims] })
    })
    if (key === 'none') delete attempt.input.jkt
    if (key === 'other') attempt.input.jkt = 'key-of-someone-else'
    const keyHeld = session.jkt === undefined || session.jkt === attempt.input.jkt
    const { value: result, at } = await real.clock.time(async () => await real.store.rotateRefreshToken(attempt.input))
    const expected = expectedStatuses(model, session, generation, peek, at, real.timing, keyHeld)
    assert.ok(expected.includes(result.status), `answered ${result.status}, expected ${expected.join(' or ')}`)
    settle(model, session, generation, attempt, result, at, real.timing, 'refresh')
  }))

/** Several clients refresh with the current token at once: one rotates, the others get grace. */
const burst = fc.record({ session: sessionPick, clients: fc.integer({ min: 2, max: 5 }) }).map(({ session: pick, clients }) =>
  command(`burst(${describePick(pick)}, ${clients} clients)`, async (model, real) => {
    const session = model.pick(pick)
    if (session === undefined) return
    const generation = session.tokens.length - 1
    const attempts = Array.from({ length: clients }, () => rotateInput(session, session.tokens[generation] as string, real.timing))
    const { value: results, at } = await real.clock.time(async () => await Promise.all(attempts.map(async attempt => await real.store.rotateRefreshToken(attempt.input))))
    const winners = results.filter(result => result.status === 'rotated')
    assert.ok(winners.length <= 1, `${winners.length} rotations of one token`)
    if (model.alive(session, at) === true && at.to - at.from < real.timing.grace) {
      assert.equal(winners.length, 1, 'a live session: one rotation wins')
      assert.equal(results.filter(result => result.status === 'grace').length, clients - 1, 'the others get grace')
    }
    // In the order the store must have answered them: the winner first (the others saw its
    // successor current), then grace, then reuse (after grace ran out), then the rest.
    const rank: Record<Status, number> = { rotated: 0, current: 1, grace: 2, reused: 3, invalid: 4 }
    const order = results.map((_result, i) => i).sort((a, b) => rank[(results[a] as RotateResult).status] - rank[(results[b] as RotateResult).status])
    for (const i of order) {
      const result = results[i] as RotateResult
      const expected = expectedStatuses(model, session, generation, false, at, real.timing)
      assert.ok(expected.includes(result.status), `burst: answered ${result.status}, expected ${expected.join(' or ')}`)
      settle(model, session, generation, attempts[i] as { input: RotateInput, successor: string }, result, at, real.timing, 'burst')
    }
    model.note('burst')
  }))

const revokeToken = fc.record({ session: sessionPick, jti: fc.nat(20), ttl: fc.constantFrom(1, 3, 40) }).map(({ session: pick, jti: jtiIndex, ttl }) =>
  command(`revokeToken(${describePick(pick)}, jti ${jtiIndex}, ${ttl} units)`, async (model, real) => {
    const session = model.pick(pick)
    if (session === undefined) return
    const jti = session.jtis[jtiIndex % session.jtis.length] as string
    const ms = ttl * real.timing.unit + real.timing.offset
    const { at } = await real.clock.time(async () => { await real.store.revokeToken(session.sub, jti, ms) })
    // A second denial replaces the first entry (SET PX, Map.set): its end is the new one.
    model.denied.set(jti, { earliest: at.from + ms, latest: at.to + ms })
    model.note('revokeToken')
  }))

const revokeSession = fc.record({
  session: sessionPick,
  digest: fc.oneof(fc.constant<'none'>('none'), fc.constant<'made-up'>('made-up'), fc.integer({ min: 0, max: reuseHistory + 3 }))
}).map(({ session: pick, digest }) =>
  command(`revokeSession(${describePick(pick)}, digest ${typeof digest === 'number' ? `${digest} back` : digest})`, async (model, real) => {
    const session = model.pick(pick)
    if (session === undefined) return
    const current = session.tokens.length - 1
    const generation = typeof digest === 'number' ? Math.max(0, current - digest) : -1
    const refreshDigest = digest === 'none'
      ? undefined
      : digestRefreshToken(generation < 0 ? mintRefreshToken(session.id) : session.tokens[generation] as string)
    const { value: revoked, at } = await real.clock.time(async () => await real.store.revokeSession(session.sub, session.id, refreshDigest))
    // With a digest, only the current token or a spent one the store remembers may end the session.
    const matches = digest === 'none' || (generation >= 0 && current - generation <= reuseHistory + 1)
    const alive = model.alive(session, at)
    const expected = matches ? allowed(alive, 'revoked', 'null') : ['null']
    assert.ok(expected.includes(revoked === null ? 'null' : 'revoked'), `revokeSession answered ${revoked === null ? 'null' : 'a session'}, expected ${expected.join(' or ')}`)
    if (revoked !== null) {
      checkInfo(session, revoked, 'revokeSession')
      session.ended = true
      model.note('revokeSession')
    }
  }))

const revokeUser = someSub.map(subIndex =>
  command(`revokeUser(${subs[subIndex]})`, async (model, real) => {
    const sub = subs[subIndex] as string
    const { value: count, at } = await real.clock.time(async () => await real.store.revokeUser(sub))
    const { live, maybe } = model.ofUser(sub, at)
    assert.ok(count >= live.length && count <= live.length + maybe.length, `revokeUser(${sub}) counted ${count}, the model has ${live.length} live (+${maybe.length} expiring)`)
    for (const session of model.sessions) if (session.sub === sub) session.ended = true
    if (count > 0) model.note('revokeUser')
  }))

const updateClaims = fc.record({ sub: someSub, claims: fc.nat(claimVariants.length - 1) }).map(({ sub: subIndex, claims: claimsIndex }) =>
  command(`updateClaims(${subs[subIndex]}, claims ${claimsIndex})`, async (model, real) => {
    const sub = subs[subIndex] as string
    const claims = claimVariants[claimsIndex] as Record<string, unknown>
    const { value: count, at } = await real.clock.time(async () => await real.store.updateClaims(sub, claims))
    const { live, maybe } = model.ofUser(sub, at)
    assert.ok(count >= live.length && count <= live.length + maybe.length, `updateClaims(${sub}) changed ${count}, the model has ${live.length} live (+${maybe.length} expiring)`)
    for (const session of live) session.claims = [claims]
    for (const session of maybe) session.claims = [...session.claims, claims]
    if (count > 0) model.note('updateClaims')
  }))

/** A DPoP proof's replay key: new unless remembered and not yet expired. */
const rememberProof = fc.record({ proof: fc.nat(4), ttl: fc.constantFrom(1, 3, 40) }).map(({ proof, ttl }) =>
  command(`rememberProof(proof ${proof}, ${ttl} units)`, async (model, real) => {
    const key = `proof-${proof}`
    const ms = ttl * real.timing.unit + real.timing.offset
    const remember = real.store.rememberProof?.bind(real.store)
    assert.ok(remember !== undefined, 'the store remembers DPoP proofs')
    const { value: fresh, at } = await real.clock.time(async () => await remember(key, ms))
    const entry = model.proofs.get(key)
    const expected = entry === undefined ? [true] : allowed(reached(entry.earliest, entry.latest, at), true, false)
    assert.ok(expected.includes(fresh), `rememberProof(${key}) answered ${String(fresh)}, expected ${expected.join(' or ')}`)
    // Only a new sight starts a new entry; a replay leaves the old one as it was.
    if (fresh) model.proofs.set(key, { earliest: at.from + ms, latest: at.to + ms })
    model.note(fresh ? 'proof new' : 'proof replayed')
  }, false))

/** Every command, weighted. */
export const storeCommand = fc.oneof(
  { weight: 6, arbitrary: login },
  { weight: 4, arbitrary: wait },
  { weight: 9, arbitrary: refresh },
  { weight: 2, arbitrary: burst },
  { weight: 2, arbitrary: revokeToken },
  { weight: 2, arbitrary: revokeSession },
  { weight: 1, arbitrary: revokeUser },
  { weight: 2, arbitrary: updateClaims },
  { weight: 2, arbitrary: rememberProof }
)
