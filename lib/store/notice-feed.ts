// The reading side of RedisStore's revocation notices: one stream on a single Redis, one per
// partition on a Cluster (see notice-partitions.ts), all read in one concurrent round per poll.
// Each stream has its own epoch, so a shard that lost its data is noticed for its partition
// alone. On a Cluster, the single stream older versions wrote is read as well until it expires.
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

interface PartitionPage {
  cursor: string
  since: number
  entries: StreamEntry[]
}

export function openNoticeFeed (options: NoticeStreams): RevocationFeed {
  const { streams, follow, page } = options
  const epochs: Array<string | undefined> = streams.map(() => undefined)
  /** Null once the old stream is gone (or there is none to read). */
  let legacyCursor: string | null = options.followLegacy === undefined ? null : ''

  /** One page of one stream; when its epoch changed (its notices were lost), from its oldest notice. */
  const readPartition = async (partition: number, cursor: string): Promise<PartitionPage> => {
    const stream = streams[partition] as string
    let [id, since, entries] = await follow(stream, cursor)
    const known = epochs[partition]
    if (known !== undefined && id !== known && cursor !== '') {
      cursor = ''
      ;[id, since, entries] = await follow(stream, cursor)
    }
    epochs[partition] = id
    return { cursor: entries.at(-1)?.[0] ?? cursor, since, entries }
  }

  /** The old stream's next page (none once it is gone); the cursor moves only when read. */
  const readLegacy = async (): Promise<StreamEntry[]> => {
    if (legacyCursor === null || options.followLegacy === undefined) return []
    const entries = await options.followLegacy(legacyCursor)
    if (entries === null) legacyCursor = null
    else legacyCursor = entries.at(-1)?.[0] ?? legacyCursor
    return entries ?? []
  }

  const feed: RevocationFeed = {
    read: async (cursor) => {
      if (cursor === null && legacyCursor !== null) legacyCursor = ''
      const from = cursor === null ? streams.map(() => '') : cursor.split(' ')
      const [pages, legacy] = await Promise.all([
        Promise.allSettled(streams.map(async (_, partition) => await readPartition(partition, from[partition] ?? ''))),
        readLegacy().then(entries => ({ entries }), (error: unknown) => ({ error: (error as Error).message }))
      ])
      const subs: string[] = []
      let everyone = false
      const collect = (entries: StreamEntry[]): void => {
        for (const [, fields] of entries) {
          if (fields[0] === 'all') everyone = true
          else subs.push(fields[1] as string)
        }
      }
      if ('entries' in legacy) collect(legacy.entries)
      const legacyComplete = 'entries' in legacy && legacy.entries.length < page
      const reads: RevocationPartitionRead[] = []
      const cursors: string[] = []
      for (const [partition, result] of pages.entries()) {
        if (result.status === 'rejected') {
          reads.push({ error: (result.reason as Error).message })
          cursors.push(from[partition] ?? '')
          continue
        }
        collect(result.value.entries)
        cursors.push(result.value.cursor)
        // The old stream may hold notices of any partition's users: each waits for it.
        if ('error' in legacy) reads.push({ error: legacy.error })
        else reads.push({ complete: legacyComplete && result.value.entries.length < page, completeSince: result.value.since })
      }
      if (options.partitionOf === undefined) {
        // One stream: a read confirms it or fails, as a whole.
        const only = reads[0] as RevocationPartitionRead
        if ('error' in only) throw (pages[0] as PromiseRejectedResult).reason
        const batch: RevocationBatch = { cursor: cursors[0] as string, subs, complete: only.complete, completeSince: only.completeSince }
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
      const batch: RevocationBatch = { cursor: cursors.join(' '), subs, complete, completeSince, partitions: reads }
      if (everyone) batch.everyone = true
      return batch
    },
    close: async () => { options.close() }
  }
  if (options.partitionOf !== undefined) feed.partitions = { count: streams.length, of: options.partitionOf }
  return feed
}
