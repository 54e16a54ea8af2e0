// Where a RedisStore on a Cluster writes a user's revocation notices: one of 16 streams, each
// with a hash tag chosen so that its slot lies in its own sixteenth of the 16384 slots, and a
// user's notices go to the stream of the sixteenth that holds the user's own slot. A Cluster
// gives each master contiguous slot ranges, so a user's notice and the user's keys are on the
// same master, except for users whose sixteenth straddles two masters' ranges (about 4% of users
// on a 3-master Cluster created by redis-cli): their revocations also need the notice's master.

/** How many notice streams a Cluster store writes (a power of two dividing 16384). */
export const noticePartitionCount = 16
const slotsPerPartition = 16384 / noticePartitionCount

/** The Cluster slot of a key: CRC16 (XMODEM) of its hash tag, per the Cluster spec. */
export function keySlot (key: string): number {
  const open = key.indexOf('{')
  const close = key.indexOf('}', open + 1)
  const tag = open !== -1 && close > open + 1 ? key.slice(open + 1, close) : key
  let crc = 0
  for (const byte of Buffer.from(tag, 'utf8')) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

/** The partition of a key: the sixteenth of the slots its slot falls in. */
export function partitionOfKey (key: string): number {
  return Math.floor(keySlot(key) / slotsPerPartition)
}

/**
 * The hash tags of the partitions, `revocations:<partition>:<n>` with the smallest n that puts the
 * tag's slot in the partition's sixteenth: fixed by the CRC, so every version and instance agrees.
 */
export const noticePartitionTags: readonly string[] = Array.from({ length: noticePartitionCount }, (_, partition) => {
  let n = 0
  while (partitionOfKey(`{revocations:${partition}:${n}}`) !== partition) n++
  return `revocations:${partition}:${n}`
})
