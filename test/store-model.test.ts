// Model-based test of the Store contract (issue 11, section 4): fast-check drives random
// sequences of logins, refreshes (current, just rotated, older, made up, in bursts), time passing,
// revocations and claim updates against the reference model in store-model.ts, on MemoryStore
// and on RedisStore (a real redis-server). Seeded and shrinking: a failure prints the seed, the
// path and the shrunk command list. MODEL_SEED and MODEL_PATH replay a failure, MODEL_RUNS
// lengthens a run (e.g. MODEL_SEED=$RANDOM MODEL_RUNS=3000).
//
// Time on Redis: RedisStore reads Redis's own TIME, so the run uses short real lifetimes (grace
// 270 ms, idle 630 ms, absolute 1.47 s) and waits in whole 60 ms units on a grid, so that every
// deadline (an event plus a whole number of units and a half) falls between calls. The model does
// not assume calls are fast: each call is bracketed by the wall clock (the same clock Redis reads
// on this machine), and where a deadline falls inside that bracket, as it can on a loaded
// machine, either answer is accepted and the model follows the store. Not libfaketime: a running
// redis-server sees a moved fake clock only through a file it rereads every so often (or on every
// call, at a cost), its timers would jump too, and CI would need one more package.
import t from 'tap'
import type { Test } from 'tap'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { MemoryStore, RedisStore } from '../lib/index.js'
import { manualClock } from './helpers.js'
import { startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'
import { Model, storeCommand } from './store-model.js'
import type { Reached, Real, StoreClock, Timing } from './store-model.js'

const seed = process.env.MODEL_SEED === undefined ? 0x5e551 : Number(process.env.MODEL_SEED)
const runs = process.env.MODEL_RUNS === undefined ? undefined : Number(process.env.MODEL_RUNS)
const replay = process.env.MODEL_PATH === undefined ? {} : { path: process.env.MODEL_PATH }

interface Harness {
  name: string
  numRuns: number
  maxCommands: number
  /** Most time the property may take; runs beyond it are not started (shrinking included). */
  timeLimit: number
  mustReach: string[]
  create: () => Promise<Real>
}

/** Everything the generator must reach for the runs to mean something (on the manual clock, exactly). */
const everyCase = [
  'rotated', 'rotated with new claims', 'current (peek)', 'grace for the predecessor', 'grace over several generations',
  'reused', 'invalid spent token', 'invalid', 'burst', 'evicted', 'login after the user\'s sessions expired',
  'revokeToken', 'revokeSession', 'revokeUser', 'updateClaims', 'stepUp', 'invalid: spent by a step-up, within grace',
  'login bound to a DPoP key', 'refused: not the session\'s DPoP key', 'proof new', 'proof replayed'
]
/** On Redis, where a loaded machine moves some outcomes, the cases that its runs reach many times over. */
const commonCases = ['rotated', 'grace for the predecessor', 'invalid', 'burst', 'evicted', 'revokeToken', 'login bound to a DPoP key', 'proof new']

async function holds (t: Test, harness: Harness): Promise<void> {
  const reached: Reached = {}
  const details = await fc.check(
    fc.asyncProperty(fc.commands([storeCommand], { maxCommands: harness.maxCommands, size: 'max' }), async commands => {
      const real = await harness.create()
      try {
        await fc.asyncModelRun(() => ({ model: new Model(reached), real }), commands)
      } finally {
        // A store on a shared client takes its listeners off it (the client stays open).
        await real.store.close?.()
      }
    }),
    { seed, ...replay, numRuns: runs ?? harness.numRuns, plugins: [fc.interruptAfterTimeLimit(harness.timeLimit)] }
  )
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    t.fail(`${harness.name} disagrees with the model: ${error}`, { report: fc.defaultReportMessage(details) })
    return
  }
  t.ok(details.numRuns > 0, `${harness.name} agrees with the model (seed ${seed}, ${details.numRuns} runs)`)
  for (const what of harness.mustReach) t.ok((reached[what] ?? 0) > 0, `the runs reached: ${what} (${reached[what] ?? 0})`)
  t.comment(`${harness.name} reached ${JSON.stringify(reached)}`)
}

// Whole units on a manual clock: deadlines are hit exactly, so the boundaries are tested too.
const memoryTiming: Timing = { unit: 1000, offset: 0, grace: 4000, idle: 10_000, lifetime: 24_000 }
// Half a unit off the waits' grid (see the top of the file).
const redisTiming: Timing = { unit: 60, offset: 30, grace: 270, idle: 630, lifetime: 1470 }
/** How far Redis's TIME may be from Date.now() around one call (ms rounding, expiry at `>`). */
const slack = 5

/** A manual clock: every call runs at the instant the clock shows. */
function manualStoreClock (): { clock: StoreClock, now: () => number } {
  const manual = manualClock(Date.UTC(2026, 0, 1))
  const clock: StoreClock = {
    time: async call => {
      const at = { from: manual.now(), to: manual.now() }
      return { value: await call(), at }
    },
    pass: async ms => { manual.advance(ms) }
  }
  return { clock, now: manual.now }
}

/** The wall clock, which Redis's TIME reads too: a call ran somewhere between its start and its end. */
function wallStoreClock (unit: number): StoreClock {
  const origin = Date.now()
  return {
    time: async call => {
      const from = Date.now() - slack
      const value = await call()
      return { value, at: { from, to: Date.now() + slack } }
    },
    // To the first grid point at least `ms` away, so that the calls after a wait start on the grid.
    pass: async ms => {
      const target = origin + Math.ceil((Date.now() + ms - origin) / unit) * unit
      await sleep(target - Date.now())
    }
  }
}

t.test('MemoryStore agrees with the model', async t => {
  const create = async (): Promise<Real> => {
    const { clock, now } = manualStoreClock()
    return { store: new MemoryStore({ now }), clock, timing: memoryTiming }
  }
  await holds(t, { name: 'MemoryStore', numRuns: 300, maxCommands: 40, timeLimit: 40_000, mustReach: everyCase, create })
})

t.test('RedisStore agrees with the model', async t => {
  const server: RedisServer = await startRedis()
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    client.disconnect()
    await server.stop()
  })
  let stores = 0
  // Both session layouts: each run on one, alternately.
  const create = async (): Promise<Real> => {
    // Every run on a key prefix of its own, so runs cannot see each other's sessions.
    const sessionLayout = ++stores % 2 === 0 ? 'compact' : 'compatible'
    const store = new RedisStore({ client, prefix: `model${process.pid}-${stores}:`, sessionLayout })
    return { store, clock: wallStoreClock(redisTiming.unit), timing: redisTiming }
  }
  await holds(t, { name: 'RedisStore', numRuns: 40, maxCommands: 25, timeLimit: 45_000, mustReach: commonCases, create })
})
