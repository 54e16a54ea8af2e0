// The key set of a remote issuer, for verify-only services: fetched from its JWKS URL with a
// timeout, cached, refreshed when old, and fetched again when a token names an unknown kid,
// at most once per cooldown so a flood of made-up kids cannot hammer the issuer.
import type { JsonWebKey } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { asymmetricAlgorithms, resolveKey } from './keys.js'
import type { AsymmetricAlgorithm, ResolvedKey } from './keys.js'

export interface RemoteJwksConfig {
  url: string
  /** All in ms. */
  timeout: number
  cacheMaxAge: number
  cooldown: number
}

// The algorithm of a JWK that does not name one, when its key type allows only one.
function inferAlgorithm (jwk: JsonWebKey): AsymmetricAlgorithm | undefined {
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[jwk.crv as 'P-256'] ?? undefined
  if (jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448')) return 'EdDSA'
  return undefined // RSA keys serve RS* and PS*: a JWK without alg is ambiguous
}

const failedFetchRetry = 1000

export class RemoteKeySet {
  readonly #config: RemoteJwksConfig
  readonly #log: FastifyBaseLogger
  readonly #onKeys: (keys: ResolvedKey[]) => void
  #fetchedAt = 0
  /** No fetch for an unknown kid before this time (ms). */
  #quietUntil = 0
  #failing = false
  #pending: Promise<void> | null = null

  constructor (config: RemoteJwksConfig, log: FastifyBaseLogger, onKeys: (keys: ResolvedKey[]) => void) {
    this.#config = config
    this.#log = log
    this.#onKeys = onKeys
  }

  /** True while the last fetch failed: an unknown kid may then be a key we could not get. */
  get failing (): boolean {
    return this.#failing
  }

  /** Refreshes in the background when the cached set is older than cacheMaxAge. */
  refreshIfStale (): void {
    if (Date.now() - this.#fetchedAt > this.#config.cacheMaxAge) void this.#refresh(false)
  }

  /** A token named a kid we do not know: fetch again unless we did within the cooldown. */
  async refreshForUnknownKid (): Promise<void> {
    await this.#refresh(false)
  }

  /** The first fetch, at registration; a failure is logged, not fatal: the issuer may come later. */
  async load (): Promise<void> {
    await this.#refresh(true)
  }

  async #refresh (force: boolean): Promise<void> {
    if (this.#pending !== null) return await this.#pending
    if (!force && Date.now() < this.#quietUntil) return
    this.#pending = this.#fetch().finally(() => { this.#pending = null })
    return await this.#pending
  }

  async #fetch (): Promise<void> {
    try {
      const response = await fetch(this.#config.url, { signal: AbortSignal.timeout(this.#config.timeout), redirect: 'error' })
      if (!response.ok) throw new Error(`status ${response.status}`)
      const body = await response.json() as { keys?: unknown }
      if (!Array.isArray(body.keys)) throw new Error('no keys array')
      const keys: ResolvedKey[] = []
      for (const jwk of body.keys as JsonWebKey[]) {
        if (jwk === null || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) continue
        const alg = typeof jwk.alg === 'string' ? jwk.alg : inferAlgorithm(jwk)
        if (alg === undefined || !(asymmetricAlgorithms as readonly string[]).includes(alg) || typeof jwk.d === 'string') continue
        try {
          keys.push(resolveKey({ kid: jwk.kid, alg: alg as AsymmetricAlgorithm, key: jwk }))
        } catch (error) {
          this.#log.warn({ kid: jwk.kid, error: (error as Error).message }, 'fastify-jwt-auth skipped a JWKS key')
        }
      }
      this.#onKeys(keys)
      this.#fetchedAt = Date.now()
      this.#failing = false
      this.#quietUntil = this.#fetchedAt + this.#config.cooldown
    } catch (error) {
      this.#failing = true
      // While the issuer is unreachable, try again soon (not after a whole cooldown): it may
      // just be starting. Still at most one fetch per second.
      this.#quietUntil = Date.now() + Math.min(this.#config.cooldown, failedFetchRetry)
      this.#log.error({ jwksUrl: this.#config.url, error: (error as Error).message }, 'fastify-jwt-auth could not fetch the JWKS')
    }
  }
}
