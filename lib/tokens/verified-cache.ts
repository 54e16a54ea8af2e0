// The verified-token cache: signature and claims checks remembered per exact token string (one
// spelling per token: canonicalSignature refuses the others), for at most the token's life.
// Revocation is never cached: the store or the replica is still asked on every request.
import type { AccessTokenPayload } from '../types.js'

interface Entry {
  /** The whole token: an entry is found by the signature, and holds only for this exact token. */
  token: string
  /** Its key in the map: the token's last segment (the signature). */
  key: string
  payload: AccessTokenPayload
  /** Epoch ms after which the entry is dropped: the token's exp, or the end of its maximum age. */
  until: number
}

/**
 * The map key of a token: its signature. Each request brings its token as a new string, whose hash
 * a Map computes over every character; the signature is an eighth of a typical token (with the
 * lookup the `get` after `has` no longer repeats, the hook of a request from a socket takes about
 * 0.1 µs less, 1.4 instead of 1.5 µs: bench/stages.mjs). The entry then compares the whole token,
 * so a token with another header or payload under a copied signature is never taken for the one
 * verified.
 */
function keyOf (token: string): string {
  return token.slice(token.lastIndexOf('.') + 1)
}

/**
 * A deep copy of a JSON object or array (a verified payload is parsed JSON: no cycles, no class
 * instances). The spread copies each level in one step (three times faster than key by key) and
 * makes a `__proto__` key an own data property, as JSON.parse did; only nested objects are then
 * copied on, a nested `__proto__` without the setter an assignment would call.
 */
function copyJson<T extends object> (value: T): T {
  const copy = (Array.isArray(value) ? value.slice() : { ...value }) as Record<string, unknown>
  for (const key in copy) {
    const inner = copy[key]
    if (typeof inner !== 'object' || inner === null) continue
    if (key === '__proto__') Object.defineProperty(copy, key, { value: copyJson(inner), enumerable: true, writable: true, configurable: true })
    else copy[key] = copyJson(inner)
  }
  return copy as T
}

/** Each request's own payload: a route that changes request.user changes nothing for the next. */
export function copyPayload (payload: AccessTokenPayload): AccessTokenPayload {
  return copyJson(payload)
}

/** A bounded LRU of verified payloads, by signature; a Map keeps insertion order, so its first key is the least recent. */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>()
  readonly #size: number
  /** The longest a token may live after its iat (ms), whatever its exp says. */
  readonly #maxAge: number
  /** The entry the last `has` found (undefined once a `get`, `set` or `clear` came after it). */
  #looked: Entry | undefined

  constructor (size: number, maxAge: number) {
    this.#size = size
    this.#maxAge = maxAge
  }

  get size (): number {
    return this.#entries.size
  }

  /** True when the token was verified and is still held (it may have expired since). */
  has (token: string): boolean {
    const entry = this.#find(token)
    // The request that asked goes on to `get` the same token: it finds the entry without a lookup.
    this.#looked = entry
    return entry !== undefined
  }

  /** A copy of the payload of a token verified before and not expired since; undefined otherwise. */
  get (token: string): AccessTokenPayload | undefined {
    const entry = this.#find(token)
    this.#looked = undefined
    if (entry === undefined) return undefined
    this.#entries.delete(entry.key)
    if (Date.now() >= entry.until) return undefined
    this.#entries.set(entry.key, entry) // the most recent now
    return copyPayload(entry.payload)
  }

  /** Remembers a payload the verifier just accepted (a copy: the caller hands the original on). */
  set (token: string, payload: AccessTokenPayload): void {
    // Without the clock tolerance: the entry ends no later than the verifier's own acceptance.
    // An nbf or iat the verifier accepted now stays accepted: only exp and maxAge end a token.
    // exp and iat are required claims: the verifier refused a token without them.
    const until = Math.min(payload.exp * 1000, payload.iat * 1000 + this.#maxAge)
    if (!(until > Date.now())) return
    this.#looked = undefined
    const key = keyOf(token)
    if (this.#entries.size >= this.#size) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { token, key, payload: copyPayload(payload), until })
  }

  /** The entry of exactly this token, if held: the one `has` just found, or the map's. */
  #find (token: string): Entry | undefined {
    const looked = this.#looked
    if (looked !== undefined && looked.token === token) return looked
    const entry = this.#entries.get(keyOf(token))
    return entry !== undefined && entry.token === token ? entry : undefined
  }

  /** Forgets every token: the keys that verified them changed. */
  clear (): void {
    this.#looked = undefined
    this.#entries.clear()
  }
}
