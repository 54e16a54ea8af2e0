// The in-process revocation replica (`revocation: { replica: true }`): instead of asking the store
// on every request, an instance follows the store's revocation feed and keeps, in memory, the
// users who had something revoked within one access lifetime. A token of any other user needs no
// store call; a token of such a user is checked at the store as usual, which stays the only
// source of truth. While the feed has not been confirmed for `maxStaleness`, every token is
// checked at the store: the replica fails closed, never open.
import type { FastifyBaseLogger } from 'fastify'
import type { RevocationFeed } from './store/store.js'

export interface ReplicaOptions {
  /** How old the last confirmed read of the feed may be before tokens are checked at the store (ms). */
  maxStaleness: number
  /** How long a notice makes its user's tokens go to the store: the longest access lifetime (ms). */
  watchFor: number
}

/** Pause after a failed read before the next attempt (a full reload). */
const retryDelay = 250

export class RevocationReplica {
  readonly #feed: RevocationFeed
  readonly #log: FastifyBaseLogger
  readonly #maxStaleness: number
  readonly #watchFor: number
  readonly #waitMs: number
  /** sub -> until when its tokens are checked at the store (epoch ms). */
  readonly #watched = new Map<string, number>()
  /** Every notice written before this time (epoch ms) has been applied. */
  #confirmedAt = Number.NEGATIVE_INFINITY
  /** Null: the next read is a full load. */
  #cursor: string | null = null
  #nextSweep = 0
  #failing = false
  #closed = false
  #running: Promise<void> | null = null

  constructor (feed: RevocationFeed, options: ReplicaOptions, log: FastifyBaseLogger) {
    this.#feed = feed
    this.#log = log
    this.#maxStaleness = options.maxStaleness
    this.#watchFor = options.watchFor
    // Each read confirms the feed as of when it was sent; a quarter of the allowed staleness
    // leaves room for a slow answer before the replica counts as stale.
    this.#waitMs = Math.max(10, Math.floor(options.maxStaleness / 4))
  }

  /** True when the token of `sub` may skip the store: the replica is fresh and has no notice for it. */
  clears (sub: string): boolean {
    const now = Date.now()
    if (now - this.#confirmedAt > this.#maxStaleness) return false
    const until = this.#watched.get(sub)
    return until === undefined || until <= now
  }

  /** How many users the replica currently holds (bounded by recent revocations). */
  get size (): number {
    return this.#watched.size
  }

  /** Loads the feed once (failures are logged, not thrown), then keeps following it. */
  async start (): Promise<void> {
    await this.#step()
    this.#running = this.#follow()
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#feed.close()
    await this.#running
  }

  async #follow (): Promise<void> {
    while (!this.#closed) {
      if (!await this.#step() && !this.#closed) await pause(retryDelay)
    }
  }

  /** One read of the feed; false when it failed. */
  async #step (): Promise<boolean> {
    const sentAt = Date.now()
    try {
      const batch = await this.#feed.read(this.#cursor, this.#waitMs)
      const until = Date.now() + this.#watchFor
      for (const sub of batch.subs) this.#watched.set(sub, until)
      this.#cursor = batch.cursor
      this.#confirmedAt = sentAt
      if (this.#failing) this.#log.info('fastify-jwt-auth revocation replica is following its feed again')
      this.#failing = false
      this.#sweep(sentAt)
      return true
    } catch (error) {
      // After a failure nothing proves that the feed was not reset (a restart, a failover), so
      // the next read loads everything again.
      this.#cursor = null
      if (!this.#failing && !this.#closed) {
        this.#log.warn({ error: (error as Error).message }, 'fastify-jwt-auth revocation replica lost its feed: tokens are checked at the store')
      }
      this.#failing = true
      return false
    }
  }

  /** Forgets users whose notices no longer cover any live token. */
  #sweep (now: number): void {
    if (now < this.#nextSweep) return
    this.#nextSweep = now + this.#waitMs * 20
    for (const [sub, until] of this.#watched) {
      if (until <= now) this.#watched.delete(sub)
    }
  }
}

async function pause (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms).unref())
}
