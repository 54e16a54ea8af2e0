// Values that bind an access token to its browser: a random value in a cookie and its SHA-256
// in a claim. The fingerprint (OWASP token sidejacking defence) lives in a hardened HttpOnly
// cookie; the anti-CSRF token lives in a readable cookie that the page echoes in a header.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export interface Binding {
  /** The value for the cookie. */
  value: string
  /** Its digest, for the claim. */
  digest: string
}

export function mintBinding (): Binding {
  const value = randomBytes(32).toString('base64url')
  return { value, digest: createHash('sha256').update(value).digest('base64url') }
}

/** True when `presented` hashes to `digest`, compared in constant time. */
export function matchesDigest (presented: unknown, digest: unknown): boolean {
  if (typeof presented !== 'string' || typeof digest !== 'string') return false
  const actual = createHash('sha256').update(presented).digest()
  const expected = Buffer.from(digest, 'base64url')
  return expected.length === actual.length && timingSafeEqual(actual, expected)
}

/** True when two presented strings are equal, compared in constant time (double submit). */
export function sameValue (a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a === '') return false
  return matchesDigest(a, createHash('sha256').update(b).digest('base64url'))
}
