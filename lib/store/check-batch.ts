// Revocation checks asked while the event loop handles one round of I/O travel to a single Redis
// as one command. Under load many requests arrive in one round (one socket callback each); each
// asks EXISTS on its own keys. Sent one by one, each check costs ioredis a command object, an
// encoding and a reply to parse, and Redis a command to parse and answer, on the same cores as the
// app. Batched, a round's checks are one script call that answers every EXISTS count at once.
//
// The batch is sent in the event loop's check phase (setImmediate), after the poll phase that read
// the requests: it waits for no timer and adds no more latency than the rest of that round. A
// batch of one is the plain EXISTS it replaces (a script costs Redis more than one command). Each
// check keeps its own deadline from the moment it was asked (deadlines.ts), so a hung Redis fails
// every check of a batch on time (with auto-pipelining, a lone check goes as the script as well:
// see scriptForOne). Not for a Cluster: the keys of different users are in different
// slots, which one script cannot touch (ioredis pipelines per node there).
import type { Bounded, DeadlineSweep } from './deadlines.js'

/** KEYS: the keys of each check in turn. ARGV: keys per check. Returns each check's EXISTS count. */
export const existsBatchLua = `
local size = tonumber(ARGV[1])
local counts = {}
for first = 1, #KEYS, size do
  counts[#counts + 1] = redis.call('EXISTS', unpack(KEYS, first, first + size - 1))
end
return counts
`

/** Most checks in one script call: a larger round goes as several, so no call blocks Redis long. */
export const maxBatch = 256

export interface CheckBatchParts {
  /** EXISTS on one check's keys. */
  exists: (...keys: string[]) => Promise<number>
  /** The batch script: how many keys, the keys of every check, then the number of keys per check. */
  existsBatch: (...args: Array<string | number>) => Promise<number[]>
  deadlines: DeadlineSweep
  /** The check's answer from its EXISTS count. */
  answer: (count: number) => boolean
  /** How many keys each check names (every check names as many). */
  keysPerCheck: number
  /**
   * A lone check goes as the script too: for a client with ioredis's auto-pipelining, whose plain
   * EXISTS would wait for a pipeline of its own (~20 µs of CPU each) while the script does not.
   */
  scriptForOne: boolean
}

export class CheckBatch {
  readonly #parts: CheckBatchParts
  #keys: string[] = []
  #calls: Array<Bounded<number, boolean>> = []
  readonly #send = (): void => { this.#flush() }
  /** Set once Redis refused a batch over several slots (cluster mode): one EXISTS per check. */
  #oneByOne = false

  constructor (parts: CheckBatchParts) {
    this.#parts = parts
  }

  /** The answer for these keys (as many as keysPerCheck), sent with the other checks of this round. */
  check (keys: readonly string[]): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const call = this.#parts.deadlines.track(this.#parts.answer, resolve, reject)
      if (this.#calls.push(call) === 1) setImmediate(this.#send)
      for (const key of keys) this.#keys.push(key)
    })
  }

  #flush (): void {
    const calls = this.#calls
    const keys = this.#keys
    this.#calls = []
    this.#keys = []
    const size = this.#parts.keysPerCheck
    if (this.#oneByOne || (calls.length === 1 && !this.#parts.scriptForOne)) {
      for (let i = 0; i < calls.length; i++) this.#existsFor(calls[i] as Bounded<number, boolean>, keys.slice(i * size, (i + 1) * size))
      return
    }
    for (let first = 0; first < calls.length; first += maxBatch) {
      const part = calls.slice(first, first + maxBatch)
      const partKeys = keys.slice(first * size, (first + part.length) * size)
      const args: Array<string | number> = [partKeys.length, ...partKeys, size]
      this.#parts.existsBatch(...args).then(counts => {
        for (let i = 0; i < part.length; i++) (part[i] as Bounded<number, boolean>).value(counts[i] as number)
      }).catch((error: unknown) => {
        // Also what the answers above throw (a reply that is no list, never from Redis): the
        // checks not yet answered fail at once, none hangs (a settled call ignores a second answer).
        if (!isCrossSlot(error)) {
          for (const call of part) call.error(error)
          return
        }
        // A Redis in cluster mode (one shard holding every slot, as some managed services offer it
        // behind a plain client) refuses a script over several users' slots: from now on each
        // check is its own EXISTS, and these are sent again that way (their deadlines still run).
        this.#oneByOne = true
        for (let i = 0; i < part.length; i++) this.#existsFor(part[i] as Bounded<number, boolean>, partKeys.slice(i * size, (i + 1) * size))
      })
    }
  }

  #existsFor (call: Bounded<number, boolean>, keys: string[]): void {
    this.#parts.exists(...keys).then(count => { call.value(count) }, (error: unknown) => { call.error(error) })
  }
}

function isCrossSlot (error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('CROSSSLOT')
}
