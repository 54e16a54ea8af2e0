// Random bytes for tokens, session ids and IVs, drawn from a pool that one randomFillSync fills.
// crypto.randomBytes makes one call into OpenSSL per value: about 4 µs each on the 2-core
// bench machine, four of them per login and two per rotation (docs/benchmarks.md). Node's own
// randomUUID keeps such a pool for the same reason. Each byte is handed out once; the bytes
// handed out are zeroed in the pool, so a memory dump holds only values not yet made (a V8 heap
// snapshot holds none: it leaves out the contents of buffers).
import { randomFillSync } from 'node:crypto'

const poolSize = 4096
const pool = Buffer.alloc(poolSize)
// The pool starts spent: nothing is drawn before the first fill.
let offset = poolSize

/** `bytes` fresh random bytes (at most the pool's size), each read from the pool once. */
function take (bytes: number, read: (start: number, end: number) => string | Buffer): string | Buffer {
  // A negative or fractional count would move the offset back over bytes already handed out
  // (and zeroed); one over the pool's size would come back short.
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > poolSize) throw new RangeError(`random bytes: ${bytes} is not a whole number from 1 to ${poolSize}`)
  if (offset + bytes > poolSize) {
    randomFillSync(pool)
    offset = 0
  }
  const start = offset
  offset += bytes
  const value = read(start, offset)
  pool.fill(0, start, offset)
  return value
}

const asBase64url = (start: number, end: number): string => pool.toString('base64url', start, end)
const asBuffer = (start: number, end: number): Buffer => Buffer.from(pool.subarray(start, end))

/** `bytes` random bytes as base64url text (16 bytes: 22 characters, 32 bytes: 43). */
export function randomBase64url (bytes: number): string {
  return take(bytes, asBase64url) as string
}

/** `bytes` random bytes in a buffer of their own. */
export function randomBuffer (bytes: number): Buffer {
  return take(bytes, asBuffer) as Buffer
}
