// MemoryStore: the embedded default, for one process. Plain maps, swept as writes happen,
// so memory is bounded by live sessions and live denylisted tokens.
import type {
  CreateSessionInput,
  CreateSessionResult,
  RotateInput,
  RotateResult,
  SessionInfo,
  SessionRecord,
  Store
} from './store.js'
import { reuseHistory } from './store.js'

export interface MemoryStoreOptions {
  /** Clock in epoch ms; tests pass a controllable one. */
  now?: () => number
  /** Least time between two sweeps of expired entries, in ms (default 60 000). */
  sweepInterval?: number
}

interface MemorySession {
  info: SessionInfo
  claims: Record<string, unknown>
  absoluteExpiresAt: number
  idleTimeout: number
  current: string
  previous: string | null
  /** Digests of the generations before `previous`, newest first, at most reuseHistory. */
  history: string[]
  rotatedAt: number
  sealedSuccessor: string | null
}

export class MemoryStore implements Store {
  readonly #now: () => number
  readonly #sweepInterval: number
  readonly #sessions = new Map<string, MemorySession>()
  readonly #sessionsByUser = new Map<string, Set<string>>()
  readonly #deniedTokens = new Map<string, number>()
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
      expiresAt: Math.min(absoluteExpiresAt, now + input.idleTimeout)
    }
    if (input.userAgent !== undefined) info.userAgent = input.userAgent
    if (input.ip !== undefined) info.ip = input.ip
    const session: MemorySession = {
      info,
      claims: input.claims,
      absoluteExpiresAt,
      idleTimeout: input.idleTimeout,
      current: input.refreshDigest,
      previous: null,
      history: [],
      rotatedAt: now,
      sealedSuccessor: null
    }
    const ids = this.#userSessionIds(input.sub)
    for (const id of ids) this.#liveSession(input.sub, id, now) // drops the user's expired sessions
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

    if (input.presentedDigest === session.current) {
      if (session.previous !== null) session.history = [session.previous, ...session.history].slice(0, reuseHistory)
      session.previous = session.current
      session.current = input.successorDigest
      session.rotatedAt = now
      session.sealedSuccessor = input.sealedSuccessor
      session.info.lastUsedAt = now
      session.info.expiresAt = Math.min(session.absoluteExpiresAt, now + input.idleTimeout)
      return { status: 'rotated', session: record(session) }
    }
    if (
      input.presentedDigest === session.previous &&
      session.sealedSuccessor !== null &&
      now - session.rotatedAt < input.reuseGrace
    ) {
      return { status: 'grace', session: record(session), sealedSuccessor: session.sealedSuccessor }
    }
    if (input.presentedDigest === session.previous || session.history.includes(input.presentedDigest)) {
      this.#deleteSession(session.info)
      return { status: 'reused' }
    }
    return { status: 'invalid' }
  }

  async isRevoked (sub: string, sessionId: string, jti: string): Promise<boolean> {
    const now = this.#now()
    if (this.#liveSession(sub, sessionId, now) === undefined) return true
    const deniedUntil = this.#deniedTokens.get(jti)
    return deniedUntil !== undefined && deniedUntil > now
  }

  async revokeToken (_sub: string, jti: string, ttl: number): Promise<void> {
    const now = this.#now()
    this.#sweep(now)
    this.#deniedTokens.set(jti, now + ttl)
  }

  async revokeSession (sub: string, sessionId: string, refreshDigest?: string): Promise<SessionInfo | null> {
    const session = this.#liveSession(sub, sessionId, this.#now())
    if (session === undefined) return null
    if (refreshDigest !== undefined && refreshDigest !== session.current && refreshDigest !== session.previous) {
      return null
    }
    this.#deleteSession(session.info)
    return { ...session.info }
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
      if (session !== undefined) sessions.push({ ...session.info })
    }
    return sessions
  }

  /** Test hook: how many entries the store holds, expired or not. */
  get size (): { sessions: number, deniedTokens: number } {
    return { sessions: this.#sessions.size, deniedTokens: this.#deniedTokens.size }
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
    for (const [jti, until] of this.#deniedTokens) {
      if (until <= now) this.#deniedTokens.delete(jti)
    }
  }
}

function record (session: MemorySession): SessionRecord {
  return { ...session.info, claims: session.claims }
}
