// The in-process revocation replica (`revocation: { replica: true }`): instead of asking the store
// on every request, an instance polls the store's revocation feed and keeps, in memory, the
// users who had something revoked within one access lifetime. A token of any other user needs no
// store call; a token of such a user is checked at the store as usual, which stays the only
// source of truth. While the feed has not been confirmed for `maxStaleness`, every token is
// checked at the store: the replica fails closed, never open.
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { RevocationFeed } from '../store/store.js'
import type { AccessTokenPayload } from '../types.js'

export interface ReplicaOptions {
  /** How old the last confirmed read of the feed may be before tokens are checked at the store (ms). */
  maxStaleness: number
  /** How long a notice makes its user's tokens go to the store (ms): `noticeCoverage(lifetime)`. */
  watchFor: number
  /** Clock tolerance of token checks (ms): tokens this close to a boundary go to the store. */
  clockTolerance: number
}

export class RevocationReplica {
  readonly #feed: RevocationFeed
  readonly #log: FastifyBaseLogger
  readonly #maxStaleness: number
  readonly #watchFor: number
  readonly #clockTolerance: number
  readonly #pollEvery: number
  /** sub -> until when its tokens are checked at the store (epoch ms). */
  readonly #watched = new Map<string, number>()
  /** Every notice written before this time (performance.now(), immune to clock steps) is applied. */
  #confirmedAt = Number.NEGATIVE_INFINITY
  /** Tokens issued before this time (epoch ms) may predate the notices the feed holds. */
  #completeSince = Number.POSITIVE_INFINITY
  /** Null: the next read starts from the oldest notice. */
  #cursor: string | null = null
  /** Until when (epoch ms) every token is checked at the store: a notice for every user. */
  #everyoneUntil = 0
  #nextSweep = 0
  #failing = false
  #closed = false
  #timer: NodeJS.Timeout | undefined

  constructor (feed: RevocationFeed, options: ReplicaOptions, log: FastifyBaseLogger) {
    this.#feed = feed
    this.#log = log
    this.#maxStaleness = options.maxStaleness
    this.#watchFor = options.watchFor
    this.#clockTolerance = options.clockTolerance
    // A poll confirms the feed as of when it was sent; polling four times per allowed staleness
    // leaves room for a slow answer before the replica counts as stale.
    this.#pollEvery = Math.max(10, Math.floor(options.maxStaleness / 4))
    // This process's own revocations are heeded at once, not one poll later.
    feed.onLocalNotice = sub => { this.#watch(sub, Date.now()) }
  }

  /**
   * True when the token may skip the store: the replica is fresh, has no notice for its user,
   * the token is not within the clock tolerance of its expiry (its session may have ended, by
   * the store's clock), and it was issued after the feed's history began.
   */
  clears (payload: AccessTokenPayload): boolean {
    if (performance.now() - this.#confirmedAt > this.#maxStaleness) return false
    const now = Date.now()
    if (payload.exp * 1000 - this.#clockTolerance <= now || payload.iat * 1000 < this.#completeSince + this.#clockTolerance) return false
    if (now < this.#everyoneUntil) return false
    const until = this.#watched.get(payload.sub)
    return until === undefined || until <= now
  }

  /** How many users the replica currently holds (bounded by recent revocations). */
  get size (): number {
    return this.#watched.size
  }

  /** Reads the feed once (failures are logged, not thrown), then keeps polling it. */
  async start (): Promise<void> {
    await this.#poll()
  }

  /** Stops polling; a read still in flight finishes on its own (bounded by the store's timeout). */
  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    await this.#feed.close()
  }

  /** Reads until the feed is caught up, then schedules the next poll. */
  async #poll (): Promise<void> {
    while (!this.#closed && await this.#read() === 'more') { /* next page at once */ }
    if (!this.#closed) {
      this.#timer = setTimeout(() => { void this.#poll() }, this.#pollEvery)
      this.#timer.unref()
    }
  }

  /** One read of the feed. */
  async #read (): Promise<'more' | 'done'> {
    const sentAt = performance.now()
    try {
      const batch = await this.#feed.read(this.#cursor)
      const now = Date.now()
      for (const sub of batch.subs) this.#watch(sub, now)
      if (batch.everyone === true) this.#watch(null, now)
      this.#cursor = batch.cursor
      this.#completeSince = batch.completeSince
      if (!batch.complete) return 'more'
      this.#confirmedAt = sentAt
      if (this.#failing) this.#log.info('fastify-jwt-auth revocation replica is following its feed again')
      this.#failing = false
      this.#sweep(now)
    } catch (error) {
      if (!this.#failing && !this.#closed) {
        this.#log.warn({ error: (error as Error).message }, 'fastify-jwt-auth revocation replica cannot read its feed: tokens are checked at the store')
      }
      this.#failing = true
    }
    return 'done'
  }

  /** Sends the user's tokens (null: everyone's) to the store for one notice coverage. */
  #watch (sub: string | null, now: number): void {
    if (sub === null) this.#everyoneUntil = now + this.#watchFor
    else this.#watched.set(sub, now + this.#watchFor)
  }

  /** Forgets users whose notices no longer cover any live token. */
  #sweep (now: number): void {
    if (now < this.#nextSweep) return
    this.#nextSweep = now + this.#pollEvery * 20
    for (const [sub, until] of this.#watched) {
      if (until <= now) this.#watched.delete(sub)
    }
  }
}
