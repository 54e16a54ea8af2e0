// One timer for every store call in flight: each call is bounded from the moment it is asked
// (not from when a client sends it: an auto-pipelined command waits for the batch before it,
// and ioredis's commandTimeout starts only then). Calls share one timeout, so their deadlines
// come in the order they were asked: a list of the calls in flight (each leaves it when it
// settles), and one timer, for the oldest.
import { performance } from 'node:perf_hooks'

/** One call: settles with its command, or is refused at its deadline, whichever comes first. */
export class Bounded<T, R> {
  readonly until: number
  previous: Bounded<never, unknown> | null = null
  next: Bounded<never, unknown> | null = null
  readonly #sweep: DeadlineSweep
  readonly #resolve: (value: R) => void
  readonly #reject: (error: unknown) => void
  readonly #map: (value: T) => R

  constructor (sweep: DeadlineSweep, until: number, map: (value: T) => R, resolve: (value: R) => void, reject: (error: unknown) => void) {
    this.#sweep = sweep
    this.until = until
    this.#map = map
    this.#resolve = resolve
    this.#reject = reject
  }

  value (value: T): void {
    // `map` is a total function of the command's reply (the store's own, e.g. EXISTS's count to a boolean).
    if (this.#sweep.remove(this as unknown as Bounded<never, unknown>)) this.#resolve(this.#map(value))
  }

  error (error: unknown): void {
    if (this.#sweep.remove(this as unknown as Bounded<never, unknown>)) this.#reject(this.#sweep.explain(error))
  }
}

const identity = <T>(value: T): T => value

export class DeadlineSweep {
  readonly #ms: number
  /** What a failed call rejects with: the error, or one that names its cause better. */
  readonly explain: (error: unknown) => unknown
  /** The calls in flight, oldest first. */
  #oldest: Bounded<never, unknown> | null = null
  #newest: Bounded<never, unknown> | null = null
  #timer: NodeJS.Timeout | undefined

  constructor (ms: number, explain: (error: unknown) => unknown = identity) {
    this.#ms = ms
    this.explain = explain
  }

  /** The command's answer (through `map`), or a rejection `ms` after this call if it has none by then. */
  bound<T, R = T> (command: Promise<T>, map: (value: T) => R = identity as (value: T) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const call = this.track(map, resolve, reject)
      command.then(value => { call.value(value) }, (error: unknown) => { call.error(error) })
    })
  }

  /**
   * A call whose answer the caller delivers (`value` or `error`, once; later ones are ignored),
   * refused at its deadline like any other: for answers that share one command (check-batch.ts).
   */
  track<T, R> (map: (value: T) => R, resolve: (value: R) => void, reject: (error: unknown) => void): Bounded<T, R> {
    const call = new Bounded(this, performance.now() + this.#ms, map, resolve, reject)
    const entry = call as unknown as Bounded<never, unknown>
    if (this.#newest === null) this.#oldest = entry
    else {
      this.#newest.next = entry
      entry.previous = this.#newest
    }
    this.#newest = entry
    if (this.#timer === undefined) this.#schedule(this.#ms)
    return call
  }

  /** Takes a call off the list; false when it was already settled (answered, or past its deadline). */
  remove (call: Bounded<never, unknown>): boolean {
    if (call.previous === null && this.#oldest !== call) return false
    if (call.previous === null) this.#oldest = call.next
    else call.previous.next = call.next
    if (call.next === null) this.#newest = call.previous
    else call.next.previous = call.previous
    call.previous = null
    call.next = null
    return true
  }

  #schedule (ms: number): void {
    this.#timer = setTimeout(() => { this.#sweep() }, Math.max(1, Math.ceil(ms)))
    // A pending call keeps the process alive by itself; the sweep must not.
    this.#timer.unref()
  }

  /** Refuses every call past its deadline, then waits for the oldest one left. */
  #sweep (): void {
    this.#timer = undefined
    const now = performance.now()
    let oldest = this.#oldest
    while (oldest !== null && oldest.until <= now) {
      oldest.error(new Error(`Redis call timed out: no answer within ${this.#ms} ms of the call`))
      oldest = this.#oldest
    }
    if (oldest !== null) this.#schedule(oldest.until - now)
  }
}
