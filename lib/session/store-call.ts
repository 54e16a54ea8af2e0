// Store calls made for a request or the app API: a failure becomes the plugin's 503, and the log
// names the operation, never its arguments (they hold tokens and subjects).
import type { FastifyBaseLogger } from 'fastify'
import { FST_JWT_AUTH_STORE_UNAVAILABLE } from '../errors.js'

/** A failed store call becomes a 503; the log names the operation, never its arguments. */
export function storeUnavailable (log: FastifyBaseLogger, operation: string, error: unknown): Error {
  // A store may name the underlying cause (a Redis client's connection error) as the error's cause.
  const cause = (error as Error | undefined)?.cause
  log.error({ storeOperation: operation, error: (error as Error)?.message, ...(cause instanceof Error ? { cause: cause.message } : {}) }, 'fastify-jwt-auth store call failed')
  return new FST_JWT_AUTH_STORE_UNAVAILABLE({ cause: error })
}

/** Runs one store call off the hot path, turning a failure into a 503 error. */
export async function storeCall<T> (log: FastifyBaseLogger, operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw storeUnavailable(log, operation, error)
  }
}
