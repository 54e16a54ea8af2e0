// MemoryStore: the embedded default, for one process. Plain maps, swept as writes happen,
// so memory is bounded by live sessions and live denylisted tokens.
import type {
  CreateSessionInput,
  CreateSessionResult,
  RotateInput,
  RotateResult,
  SessionInfo,
  SessionRecord,
  StepUpInput,
  Store
} from './store.js'
import { reuseHistory } from './store.js'

export interface MemoryStoreOptions {
  /** Clock in epoch ms; tests pass a controllable one. */
  now?: () => number
  /** Least time between two sweeps of expired entries, in ms (default 60 000). */
  sweepInterval?: number
}

/** A refresh token that was rotated: its digest, when, and its successor sealed with it. */
interface SpentGeneration {
  digest: string
  rotatedAt: number
  /** '' for a token spent by a step-up: no way back from it. */
  sealedSuccessor: string
}

interface MemorySession {
  info: SessionInfo
  /** As JSON, as RedisStore keeps them: no caller shares an object with the store. */
  claims: string
  absoluteExpiresAt: number
  idleTimeout: number
  current: string
  /** The spent generations, newest (the predecessor) first, at most reuseHistory + 1. */
  spent: SpentGeneration[]
  /** The DPoP key thumbprint the session is bound to. */
  jkt: string | undefined
}

export class MemoryStore implements Store {
  readonly #now: () => number
  readonly #sweepInterval: number
  readonly #sessions = new Map<string, MemorySession>()
  readonly #sessionsByUser = new Map<string, Set<string>>()
  readonly #deniedTokens = new Map<string, number>()
  /** DPoP proofs seen (replay key -> until when it is remembered). */
  readonly #proofs = new Map<string, number>()
  #lastSweep: number

  constructor (options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#sweepInterval = options.sweepInterval ?? 60_000
    this.#lastSweep = this.#now()
  }

  async createSession (input: CreateSessionInput): Promise<CreateSessionResult> {
    const now = this.#now()
    this.#sweep(now)
    const absoluteExpiresAt = now + input.lifetime
    const info: SessionInfo = {
      id: input.sessionId,
      sub: input.sub,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: Math.min(absoluteExpiresAt, now + input.idleTimeout),
      authTime: now,
      persistent: input.persistent !== false
    }
    if (input.userAgent !== undefined) info.userAgent = input.userAgent
    if (input.ip !== undefined) info.ip = input.ip
    if (input.acr !== undefined) info.acr = input.acr
    if (input.amr !== undefined) info.amr = [...input.amr]
    if (input.sessionIdleTimeout !== undefined) info.idleTimeout = input.sessionIdleTimeout
    const session: MemorySession = {
      info,
      claims: JSON.stringify(input.claims),
      absoluteExpiresAt,
      idleTimeout: input.idleTimeout,
      current: input.refreshDigest,
      spent: [],
      jkt: input.jkt
    }
    // Drop the user's expired sessions first: dropping the last one also drops the user's index,
    // so the index is looked up only afterwards.
    for (const id of this.#sessionsByUser.get(input.sub) ?? []) this.#liveSession(input.sub, id, now)
    const ids = this.#userSessionIds(input.sub)
    this.#sessions.set(input.sessionId, session)
    ids.add(input.sessionId)

    // Evict the oldest sessions beyond the cap; Set order is insertion (creation) order.
    const evicted: string[] = []
    for (const id of ids) {
      if (ids.size <= input.maxSessions) break
      ids.delete(id)
      this.#sessions.delete(id)
      evicted.push(id)
    }
    return { session: record(session), evicted }
  }

  async rotateRefreshToken (input: RotateInput): Promise<RotateResult> {
    const now = this.#now()
    const session = this.#liveSession(input.sub, input.sessionId, now)
    if (session === undefined) return { status: 'invalid' }

    // A bound session moves only for its own key (a spent token after grace is reuse all the same).
    const keyHeld = session.jkt === undefined || session.jkt === input.jkt
    if (input.presentedDigest === session.current) {
      if (!keyHeld) return { status: 'invalid' }
      if (input.peek === true) return { status: 'current', session: record(session) }
      // Serialised before anything changes: claims JSON cannot hold must not leave a half rotation.
      const claims = input.claims === undefined ? undefined : JSON.stringify(input.claims)
      const keepOwn = input.claimsFrom !== undefined && JSON.stringify(input.claimsFrom) !== session.claims
      session.spent.unshift({ digest: session.current, rotatedAt: now, sealedSuccessor: input.sealedSuccessor })
      if (session.spent.length > reuseHistory + 1) session.spent.pop()
      session.current = input.successorDigest
      if (claims !== undefined && !keepOwn) session.claims = claims
      this.#restartIdle(session, now, input.idleTimeout)
      return { status: 'rotated', session: record(session) }
    }
    const generation = session.spent.findIndex(spent => spent.digest === input.presentedDigest)
    if (generation === -1) return { status: 'invalid' }
    // Every generation after a spent token was rotated later than it, so within grace too.
    if (now - (session.spent[generation] as SpentGeneration).rotatedAt < input.reuseGrace) {
      if (!keyHeld) return { status: 'invalid' }
      const sealedSuccessors = session.spent.slice(0, generation + 1).reverse().map(spent => spent.sealedSuccessor)
      // A step-up spent a token on the way: nothing leads back, but within grace it is no theft.
      if (sealedSuccessors.includes('')) return { status: 'invalid' }
      return { status: 'grace', session: record(session), sealedSuccessors }
    }
    this.#deleteSession(session.info)
    return { status: 'reused' }
  }

  async stepUpSession (input: StepUpInput): Promise<SessionRecord | null> {
    const now = this.#now()
    const session = this.#liveSession(input.sub, input.sessionId, now)
    if (session === undefined) return null
    session.spent.unshift({ digest: session.current, rotatedAt: now, sealedSuccessor: '' })
    if (session.spent.length > reuseHistory + 1) session.spent.pop()
    session.current = input.successorDigest
    session.info.authTime = now
    if (input.acr !== undefined) session.info.acr = input.acr
    if (input.amr !== undefined) session.info.amr = [...input.amr]
    this.#restartIdle(session, now, input.idleTimeout)
    return record(session)
  }

  // Synchronous: the per-request check of a request the cache verified makes no promise at all.
  isRevoked (sub: string, sessionId: string, jti: string): boolean {
    const now = this.#now()
    if (this.#liveSession(sub, sessionId, now) === undefined) return true
    const deniedUntil = this.#deniedTokens.get(deniedKey(sub, jti))
    return deniedUntil !== undefined && deniedUntil > now
  }

  async revokeToken (sub: string, jti: string, ttl: number): Promise<void> {
    const now = this.#now()
    this.#sweep(now)
    this.#deniedTokens.set(deniedKey(sub, jti), now + ttl)
  }

  async rememberProof (key: string, ttl: number): Promise<boolean> {
    const now = this.#now()
    this.#sweep(now)
    const until = this.#proofs.get(key)
    if (until !== undefined && until > now) return false
    this.#proofs.set(key, now + ttl)
    return true
  }

  async revokeSession (sub: string, sessionId: string, refreshDigest?: string): Promise<SessionInfo | null> {
    const session = this.#liveSession(sub, sessionId, this.#now())
    if (session === undefined) return null
    if (refreshDigest !== undefined && refreshDigest !== session.current && !session.spent.some(spent => spent.digest === refreshDigest)) {
      return null
    }
    this.#deleteSession(session.info)
    return copyInfo(session.info)
  }

  async revokeUser (sub: string): Promise<number> {
    const ids = this.#sessionsByUser.get(sub)
    if (ids === undefined) return 0
    const now = this.#now()
    let live = 0
    for (const id of ids) {
      const session = this.#sessions.get(id)
      if (session !== undefined && session.info.expiresAt > now) live++
      this.#sessions.delete(id)
    }
    this.#sessionsByUser.delete(sub)
    return live
  }

  async listSessions (sub: string): Promise<SessionInfo[]> {
    const now = this.#now()
    const sessions: SessionInfo[] = []
    for (const id of this.#sessionsByUser.get(sub) ?? []) {
      const session = this.#liveSession(sub, id, now)
      if (session !== undefined) sessions.push(copyInfo(session.info))
    }
    return sessions
  }

  async updateClaims (sub: string, claims: Record<string, unknown>): Promise<number> {
    const now = this.#now()
    const json = JSON.stringify(claims)
    let updated = 0
    for (const id of this.#sessionsByUser.get(sub) ?? []) {
      const session = this.#liveSession(sub, id, now)
      if (session === undefined) continue
      session.claims = json
      updated++
    }
    return updated
  }

  /** Test hook: how many entries the store holds, expired or not. */
  get size (): { sessions: number, deniedTokens: number, proofs: number } {
    return { sessions: this.#sessions.size, deniedTokens: this.#deniedTokens.size, proofs: this.#proofs.size }
  }

  /** Rotation and step-up restart the idle timer, with the session's own idle lifetime when shorter. */
  #restartIdle (session: MemorySession, now: number, idleTimeout: number): void {
    const idle = Math.min(idleTimeout, session.info.idleTimeout ?? idleTimeout)
    session.info.lastUsedAt = now
    session.info.expiresAt = Math.min(session.absoluteExpiresAt, now + idle)
  }

  #liveSession (sub: string, sessionId: string, now: number): MemorySession | undefined {
    const session = this.#sessions.get(sessionId)
    if (session === undefined || session.info.sub !== sub) return undefined
    if (session.info.expiresAt <= now) {
      this.#deleteSession(session.info)
      return undefined
    }
    return session
  }

  #userSessionIds (sub: string): Set<string> {
    let ids = this.#sessionsByUser.get(sub)
    if (ids === undefined) {
      ids = new Set()
      this.#sessionsByUser.set(sub, ids)
    }
    return ids
  }

  #deleteSession (info: SessionInfo): void {
    this.#sessions.delete(info.id)
    const ids = this.#sessionsByUser.get(info.sub) as Set<string> // every stored session is indexed
    ids.delete(info.id)
    if (ids.size === 0) this.#sessionsByUser.delete(info.sub)
  }

  #sweep (now: number): void {
    if (now - this.#lastSweep < this.#sweepInterval) return
    this.#lastSweep = now
    for (const session of this.#sessions.values()) {
      if (session.info.expiresAt <= now) this.#deleteSession(session.info)
    }
    for (const entries of [this.#deniedTokens, this.#proofs]) {
      for (const [key, until] of entries) {
        if (until <= now) entries.delete(key)
      }
    }
  }
}

/** Denylist entries are per user, as in RedisStore; the length prefix keeps the key unambiguous. */
function deniedKey (sub: string, jti: string): string {
  return `${sub.length}:${sub}${jti}`
}

function record (session: MemorySession): SessionRecord {
  const result: SessionRecord = { ...copyInfo(session.info), claims: JSON.parse(session.claims) as Record<string, unknown> }
  if (session.jkt !== undefined) result.jkt = session.jkt
  return result
}

/** A copy no caller can change the store through (amr is an array). */
function copyInfo (info: SessionInfo): SessionInfo {
  return info.amr === undefined ? { ...info } : { ...info, amr: [...info.amr] }
}
