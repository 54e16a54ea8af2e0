// The in-process revocation replica (`revocation: { replica: true }`): instead of asking the store
// on every request, an instance polls the store's revocation feed and keeps, in memory, the
// users who had something revoked within one access lifetime. A token of any other user needs no
// store call; a token of such a user is checked at the store as usual, which stays the only
// source of truth. While the feed has not been confirmed for `maxStaleness`, every token is
// checked at the store: the replica fails closed, never open. A partitioned feed (a Redis
// Cluster) is confirmed partition by partition: one that cannot be read sends to the store only
// the tokens of the users whose notices it holds.
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { RevocationBatch, RevocationFeed } from '../store/store.js'
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
  readonly #partitionOf: (sub: string) => number
  /** Per partition: every notice written before this time (performance.now(), immune to clock steps) is applied. */
  readonly #confirmedAt: number[]
  /** Per partition: tokens issued before this time (epoch ms) may predate the notices it holds. */
  readonly #completeSince: number[]
  /** The oldest confirmation and the latest start of all partitions: a token within both needs no partition lookup. */
  #oldestConfirmedAt = Number.NEGATIVE_INFINITY
  #latestCompleteSince = Number.POSITIVE_INFINITY
  /** The partitions whose last read failed. */
  readonly #failing = new Set<number>()
  /** Null: the next read starts from the oldest notice. */
  #cursor: string | null = null
  /** Until when (epoch ms) every token is checked at the store: a notice for every user. */
  #everyoneUntil = 0
  #nextSweep = 0
  #wasFailing = false
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
    const partitions = feed.partitions?.count ?? 1
    this.#partitionOf = feed.partitions?.of ?? (() => 0)
    this.#confirmedAt = Array.from({ length: partitions }, () => Number.NEGATIVE_INFINITY)
    this.#completeSince = Array.from({ length: partitions }, () => Number.POSITIVE_INFINITY)
    // This process's own revocations are heeded at once, not one poll later.
    feed.onLocalNotice = sub => { this.#watch(sub, Date.now()) }
  }

  /**
   * True when the token may skip the store: the replica has no notice for its user, the token is
   * not within the clock tolerance of its expiry (its session may have ended, by the store's
   * clock), and the user's partition of the feed is fresh and began its history before the token
   * was issued.
   */
  clears (payload: AccessTokenPayload): boolean {
    const now = Date.now()
    if (payload.exp * 1000 - this.#clockTolerance <= now || now < this.#everyoneUntil) return false
    const until = this.#watched.get(payload.sub)
    if (until !== undefined && until > now) return false
    const issued = payload.iat * 1000 - this.#clockTolerance
    const age = performance.now()
    if (age - this.#oldestConfirmedAt <= this.#maxStaleness && issued >= this.#latestCompleteSince) return true
    if (this.#confirmedAt.length === 1) return false
    // Some partition is stale or new: only the user's own one matters.
    const partition = this.#partitionOf(payload.sub)
    return age - (this.#confirmedAt[partition] as number) <= this.#maxStaleness && issued >= (this.#completeSince[partition] as number)
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
    let batch: RevocationBatch
    try {
      batch = await this.#feed.read(this.#cursor, this.#pollEvery)
    } catch (error) {
      this.#failed(this.#confirmedAt.map(() => (error as Error).message))
      return 'done'
    }
    const now = Date.now()
    for (const sub of batch.subs) this.#watch(sub, now)
    if (batch.everyone === true) this.#watch(null, now)
    this.#cursor = batch.cursor
    const reads = batch.partitions ?? [{ complete: batch.complete, completeSince: batch.completeSince }]
    const errors: Array<string | undefined> = []
    for (const [partition, read] of reads.entries()) {
      if ('error' in read) {
        errors.push(read.error)
        continue
      }
      errors.push(undefined)
      this.#completeSince[partition] = read.completeSince
      if (read.complete) this.#confirmedAt[partition] = sentAt
    }
    this.#oldestConfirmedAt = Math.min(...this.#confirmedAt)
    this.#latestCompleteSince = Math.max(...this.#completeSince)
    this.#failed(errors)
    if (!batch.complete) return 'more'
    this.#sweep(now)
    return 'done'
  }

  /** Logs partitions that start failing (one line per read) and the recovery of the last one. */
  #failed (errors: Array<string | undefined>): void {
    const starting: number[] = []
    let error: string | undefined
    for (const [partition, message] of errors.entries()) {
      if (message === undefined) {
        this.#failing.delete(partition)
      } else if (!this.#failing.has(partition)) {
        this.#failing.add(partition)
        starting.push(partition)
        error ??= message
      }
    }
    if (this.#closed) return
    if (starting.length > 0) {
      if (errors.length === 1) {
        this.#log.warn({ error }, 'fastify-jwt-auth revocation replica cannot read its feed: tokens are checked at the store')
      } else {
        this.#log.warn({ error, partitions: starting }, `fastify-jwt-auth revocation replica cannot read ${starting.length} of ${errors.length} notice partitions: tokens of their users are checked at the store`)
      }
    } else if (this.#failing.size === 0 && this.#wasFailing) {
      this.#log.info('fastify-jwt-auth revocation replica is following its feed again')
    }
    this.#wasFailing = this.#failing.size > 0
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
