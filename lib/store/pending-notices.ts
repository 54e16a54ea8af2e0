// The revocation notices a RedisStore still owes its replicas, after a conditional revocation
// (reuse, eviction, logout with a refresh token) whose notice could not be written, or whose
// outcome is unknown (the call failed or timed out, and may still have run in Redis). One timer
// and a bounded set of users for all of them: a slow Redis costs at most `limit` entries, however
// many requests fail, and a made-up refresh token leaves nothing behind once Redis answers.
import { performance } from 'node:perf_hooks'

export interface PendingNoticesOptions {
  /** Writes the notice for one user, or for every user (null). */
  write: (sub: string | null) => Promise<void>
  /** True when Redis shows a recent revocation of the user (the marker its scripts leave). */
  marked: (sub: string) => Promise<boolean>
  /** Tells this process's replicas at once (null: every user). */
  tellLocal: (sub: string | null) => void
  /** How long after a revocation a notice still matters (ms): no token it covers lives longer. */
  coverage: () => number
  /** Most users held at once; beyond it, one notice for every user covers them all. */
  limit: number
  /** Delay between two rounds of attempts (ms). */
  retryDelay: number
}

interface Entry {
  /** False while Redis has not shown that a revocation happened. */
  confirmed: boolean
  /** performance.now() when the revocation was (or may have been) made. */
  since: number
}

export class PendingNotices {
  readonly #options: PendingNoticesOptions
  readonly #entries = new Map<string, Entry>()
  /** Users were dropped at the bound: the next round writes a notice for every user. */
  #overflowed = false
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor (options: PendingNoticesOptions) {
    this.#options = options
  }

  /** How many users wait for a notice (or for Redis to say whether they need one). */
  get size (): number {
    return this.#entries.size
  }

  /** A revocation that happened: heeded here at once, noticed now or in a later round. */
  revoked (sub: string): void {
    this.#options.tellLocal(sub)
    const since = performance.now()
    this.#options.write(sub).catch(() => { this.#add(sub, { confirmed: true, since }) })
  }

  /** A revocation that may have happened: a later round asks Redis for its marker first. */
  unknown (sub: string, since: number): void {
    this.#add(sub, { confirmed: false, since })
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #add (sub: string, entry: Entry): void {
    if (this.#closed) return
    const known = this.#entries.get(sub)
    if (known !== undefined) {
      known.confirmed ||= entry.confirmed
    } else if (this.#entries.size < this.#options.limit) {
      this.#entries.set(sub, entry)
    } else if (!this.#overflowed) {
      // Fail closed: this process checks every token at the store until the notice is written.
      this.#overflowed = true
      this.#options.tellLocal(null)
    }
    this.#schedule()
  }

  #schedule (): void {
    if (this.#timer !== undefined || this.#closed) return
    this.#timer = setTimeout(() => { void this.#round() }, this.#options.retryDelay)
    this.#timer.unref()
  }

  /** One attempt for every waiting user; what still fails waits for the next round. */
  async #round (): Promise<void> {
    const coverage = this.#options.coverage()
    const now = performance.now()
    if (this.#overflowed) {
      try {
        await this.#options.write(null)
        // One notice for every user covers each waiting one.
        this.#overflowed = false
        this.#entries.clear()
      } catch {}
    }
    await Promise.all([...this.#entries].map(async ([sub, entry]) => {
      // No token the notice would cover can still be alive.
      if (now - entry.since >= coverage) {
        this.#entries.delete(sub)
        return
      }
      try {
        if (!entry.confirmed) {
          // A call on the same connection after the one whose outcome was unknown: that one ran first, if at all.
          if (!await this.#options.marked(sub)) {
            this.#entries.delete(sub)
            return
          }
          entry.confirmed = true
          this.#options.tellLocal(sub)
        }
        await this.#options.write(sub)
        this.#entries.delete(sub)
      } catch {}
    }))
    this.#timer = undefined
    if (this.#entries.size > 0 || this.#overflowed) this.#schedule()
  }
}
