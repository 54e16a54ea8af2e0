// The cause behind a Redis store's failed calls. ioredis reports why it cannot connect (a TLS
// certificate, WRONGPASS, NOPERM on its handshake, ECONNREFUSED) only on the client's 'error'
// event, while the calls themselves fail with "max retries" or a timeout. This keeps the latest
// cause, logs each distinct one at most once per window, and hands it to a failed call as `cause`.

import type { StoreLogger } from './store.js'

/** An error event this recent is taken as the reason a call fails now. */
const recentCause = 15_000
/** Each distinct cause is logged at most once per this many ms. */
const logWindow = 30_000
/** Distinct causes remembered for the rate limit; beyond, the oldest is forgotten. */
const rememberedCauses = 50

interface Listenable {
  on: (event: 'error' | 'node error', listener: (error: Error) => void) => unknown
  removeListener: (event: 'error' | 'node error', listener: (error: Error) => void) => unknown
}

export class ConnectionErrors {
  readonly #address: string
  #log: StoreLogger | undefined
  #latest: { text: string, at: number } | undefined
  readonly #loggedAt = new Map<string, number>()

  constructor (address: string) {
    this.#address = address
  }

  /**
   * Listens to a client's errors (the client's own listeners stay as they are); returns what
   * stops listening, for a client that outlives the store.
   */
  watch (client: Listenable, isCluster: boolean): () => void {
    const listener = (error: Error): void => { this.record(error) }
    // A Cluster client reports each node's connection errors apart.
    const events = isCluster ? ['error', 'node error'] as const : ['error'] as const
    for (const event of events) client.on(event, listener)
    return () => { for (const event of events) client.removeListener(event, listener) }
  }

  useLogger (log: StoreLogger): void {
    this.#log = log
  }

  record (error: Error): void {
    const text = describeError(error)
    const now = Date.now()
    this.#latest = { text, at: now }
    const logged = this.#loggedAt.get(text)
    if (this.#log === undefined || (logged !== undefined && now - logged < logWindow)) return
    this.#loggedAt.delete(text)
    this.#loggedAt.set(text, now)
    if (this.#loggedAt.size > rememberedCauses) this.#loggedAt.delete(this.#loggedAt.keys().next().value as string)
    this.#log.warn({ cause: text, redis: this.#address }, 'fastify-jwt-auth: the Redis client reports an error')
  }

  /** The latest error event, however old (for the start-up probe). */
  get latest (): string | undefined {
    return this.#latest?.text
  }

  /**
   * A failed call's error with the recent connection error as its `cause` (the 503 log line shows
   * it). Redis's own replies (NOPERM, a script error) already name their cause and are left alone.
   */
  explain (error: unknown): unknown {
    const latest = this.#latest
    if (latest === undefined || Date.now() - latest.at > recentCause || !(error instanceof Error)) return error
    if (error.name === 'ReplyError' || error.cause !== undefined) return error
    error.cause = new Error(latest.text)
    return error
  }
}

/** An error's code and message, without credentials any URL in it carries. */
export function describeError (error: Error): string {
  const code = (error as { code?: unknown }).code
  const message = withoutUserInfo(error.message)
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
}

/** Removes `user:password@` from every URL in a text. */
export function withoutUserInfo (text: string): string {
  return text.replace(/(\/\/)[^/@\s]*@/g, '$1')
}
