// The reading side of RedisStore's revocation notices: one stream on a single Redis, one per
// partition on a Cluster (see notice-partitions.ts), all read in one concurrent round per poll.
// Each stream has its own epoch, so a shard that lost its data is noticed for its partition
// alone. On a Cluster, the single stream older versions wrote is read as well until it expires.
// A partition whose master does not answer does not hold up the others: after `patience` the
// batch goes without it, and what its read brings later comes with the next batch.
import type { RevocationBatch, RevocationFeed, RevocationPartitionRead } from './store.js'

export type StreamEntry = [id: string, fields: string[]]

export interface NoticeStreams {
  /** The streams to read, by partition number. */
  streams: readonly string[]
  /** The partition of a user's notices; absent with one stream. */
  partitionOf?: (sub: string) => number
  /** One page of a stream after `cursor` ('' for the oldest): [epoch id, epoch start, entries]. */
  follow: (stream: string, cursor: string) => Promise<[string, number, StreamEntry[]]>
  /** One page of the single stream of older versions after `cursor`; null once it expired. Absent: none to read. */
  followLegacy?: (cursor: string) => Promise<StreamEntry[] | null>
  /** How many entries one page holds at most. */
  page: number
  close: () => void
}

type Outcome = { complete: boolean, completeSince: number } | { error: string }

/** One stream's reads: at most one in flight; each moves the stream's cursor when it lands. */
class StreamReader {
  cursor = ''
  #inFlight: Promise<void> | undefined
  #outcome: Outcome | undefined
  readonly #run: (reader: StreamReader) => Promise<Outcome>

  constructor (run: (reader: StreamReader) => Promise<Outcome>) {
    this.#run = run
  }

  /** Starts a read unless one is still in flight; `now` is true when this call started it. */
  start (): { now: boolean, landed: Promise<void> } {
    if (this.#inFlight !== undefined) return { now: false, landed: this.#inFlight }
    this.#outcome = undefined
    const landed = this.#run(this).then(
      outcome => { this.#outcome = outcome },
      (error: unknown) => { this.#outcome = { error: (error as Error).message } }
    ).finally(() => { this.#inFlight = undefined })
    this.#inFlight = landed
    return { now: true, landed }
  }

  /** Hands the entries of a page over and moves the cursor past them. */
  took (read: StreamEntry[], into: StreamEntry[]): StreamEntry[] {
    const last = read.at(-1)
    if (last !== undefined) this.cursor = last[0]
    return into.concat(read)
  }

  /** How the read started by this batch went; a read still in flight, or one left over from an earlier batch, confirms nothing. */
  outcome (startedNow: boolean, patience: number): Outcome {
    if (startedNow && this.#outcome !== undefined) return this.#outcome
    return { error: `no answer within ${patience} ms` }
  }
}

export function openNoticeFeed (options: NoticeStreams): RevocationFeed {
  const { streams, follow, page, followLegacy } = options
  /** Entries read but not handed to the replica yet. */
  let entries: StreamEntry[] = []
  const readers = streams.map(stream => {
    let epoch: string | undefined
    return new StreamReader(async reader => {
      let [id, since, read] = await follow(stream, reader.cursor)
      // A new epoch: the stream lost its notices, and its history starts again from the oldest.
      if (epoch !== undefined && id !== epoch && reader.cursor !== '') {
        reader.cursor = ''
        ;[id, since, read] = await follow(stream, reader.cursor)
      }
      epoch = id
      entries = reader.took(read, entries)
      return { complete: read.length < page, completeSince: since }
    })
  })
  /** Null once the old stream is gone (or there is none to read). */
  let legacy: StreamReader | null = followLegacy === undefined
    ? null
    : new StreamReader(async reader => {
      const read = await followLegacy(reader.cursor)
      if (read === null) {
        legacy = null
        return { complete: true, completeSince: 0 }
      }
      entries = reader.took(read, entries)
      return { complete: read.length < page, completeSince: 0 }
    })

  const feed: RevocationFeed = {
    read: async (cursor, patience) => {
      const wait = options.partitionOf === undefined ? Number.POSITIVE_INFINITY : patience ?? Number.POSITIVE_INFINITY
      if (cursor === null) for (const reader of legacy === null ? readers : [...readers, legacy]) reader.cursor = ''
      const oldStream = legacy
      const started = readers.map(reader => reader.start())
      const legacyRead = oldStream === null ? undefined : { reader: oldStream, ...oldStream.start() }
      const landed = Promise.all([...started, ...(legacyRead === undefined ? [] : [legacyRead])].map(async ({ landed }) => { await landed }))
      let timer: NodeJS.Timeout | undefined
      await Promise.race([landed, ...(Number.isFinite(wait) ? [new Promise<void>(resolve => { timer = setTimeout(resolve, wait) })] : [])])
      clearTimeout(timer)

      const batchEntries = entries
      entries = []
      const subs: string[] = []
      let everyone = false
      for (const [, fields] of batchEntries) {
        if (fields[0] === 'all') everyone = true
        else subs.push(fields[1] as string)
      }
      // The old stream may hold notices of any partition's users: each waits for it.
      const legacyOutcome: Outcome = legacyRead === undefined ? { complete: true, completeSince: 0 } : legacyRead.reader.outcome(legacyRead.now, wait)
      const reads: RevocationPartitionRead[] = readers.map((reader, partition) => {
        const outcome = reader.outcome((started[partition] as { now: boolean }).now, wait)
        if ('error' in outcome) return outcome
        if ('error' in legacyOutcome) return legacyOutcome
        return { complete: outcome.complete && legacyOutcome.complete, completeSince: outcome.completeSince }
      })
      const position = readers.map(reader => reader.cursor).join(' ')
      if (options.partitionOf === undefined) {
        // One stream: a read confirms it or fails, as a whole.
        const only = reads[0] as RevocationPartitionRead
        if ('error' in only) throw new Error(only.error)
        const batch: RevocationBatch = { cursor: position, subs, complete: only.complete, completeSince: only.completeSince }
        if (everyone) batch.everyone = true
        return batch
      }
      let complete = true
      let completeSince = 0
      for (const read of reads) {
        if ('error' in read) continue
        complete &&= read.complete
        completeSince = Math.max(completeSince, read.completeSince)
      }
      const batch: RevocationBatch = { cursor: position, subs, complete, completeSince, partitions: reads }
      if (everyone) batch.everyone = true
      return batch
    },
    close: async () => { options.close() }
  }
  if (options.partitionOf !== undefined) feed.partitions = { count: streams.length, of: options.partitionOf }
  return feed
}
