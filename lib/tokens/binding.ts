// Values that bind an access token to its browser: a random value in a cookie and its SHA-256
// in a claim. The fingerprint (OWASP token sidejacking defence) lives in a hardened HttpOnly
// cookie; the anti-CSRF token lives in a readable cookie that the page echoes in a header.
import { hash, timingSafeEqual } from 'node:crypto'
import { randomBase64url } from './random.js'

export interface Binding {
  /** The value for the cookie. */
  value: string
  /** Its digest, for the claim. */
  digest: string
}

export function mintBinding (): Binding {
  const value = randomBase64url(32)
  return { value, digest: hash('sha256', value, 'base64url') }
}

/** True when `presented` hashes to `digest`, compared in constant time. */
export function matchesDigest (presented: unknown, digest: unknown): boolean {
  if (typeof presented !== 'string' || typeof digest !== 'string') return false
  const actual = hash('sha256', presented, 'buffer')
  const expected = Buffer.from(digest, 'base64url')
  return expected.length === actual.length && timingSafeEqual(actual, expected)
}

/** True when two presented strings are equal, compared in constant time (double submit). */
export function sameValue (a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a === '') return false
  return matchesDigest(a, hash('sha256', b, 'base64url'))
}
