// The Redis client RedisStore works with, typed by what the store calls, so ioredis 5 and 6 Redis and
// Cluster clients all fit; and the loader that needs ioredis only for RedisStore({ url }).
import { FST_JWT_AUTH_INVALID_OPTION, FST_JWT_AUTH_MISSING_DEPENDENCY } from '../errors.js'
import { requireFromPackage } from './require.js'

/** A Lua script registered with `defineCommand`. */
export interface RedisScriptDefinition {
  lua: string
  /** Omitted: the script's callers pass the number of keys first. */
  numberOfKeys?: number
  readOnly?: boolean
}

/** The part of an ioredis client (5 or 6; Redis, Sentinel or Cluster) that RedisStore uses. */
export interface RedisStoreClient {
  /** True for a Cluster client. */
  readonly isCluster: boolean
  /** The client's options (a standalone client's `commandTimeout` spares the store a timer of its own). */
  readonly options: object
  defineCommand: (name: string, definition: RedisScriptDefinition) => void
  exists: (...keys: string[]) => Promise<number>
  /** SET ... PX ms [NX]: NX for a DPoP proof's replay key (OK when new, null when it exists). */
  set: {
    (key: string, value: string, unit: 'PX', milliseconds: number): Promise<unknown>
    (key: string, value: string, unit: 'PX', milliseconds: number, mode: 'NX'): Promise<unknown>
  }
  disconnect: () => void
  on: (event: 'error' | 'node error' | 'ready', listener: (error: Error) => void) => unknown
  removeListener: (event: 'error' | 'node error', listener: (error: Error) => void) => unknown
  /** Any command, for the start-up self-check. */
  call: (command: string, ...args: Array<string | number>) => Promise<unknown>
  /** PING, for the start-up probe. */
  ping: () => Promise<string>
  /** WAIT, for `waitForReplicas`. */
  wait: (replicas: number, timeout: number) => Promise<number>
}

/** What a Cluster client has besides: the master of each slot (for WAIT on the node that wrote). */
export interface RedisClusterParts {
  readonly slots: string[][]
  nodes: (role: 'master') => RedisStoreClient[]
}

/**
 * Options for the client RedisStore makes from `url`: ioredis's RedisOptions, typed loosely here so
 * the package's types do not need ioredis installed.
 */
export interface RedisClientOptions {
  [option: string]: unknown
  maxRetriesPerRequest?: number | null
  commandTimeout?: number
  enableAutoPipelining?: boolean
  lazyConnect?: boolean
  retryStrategy?: (attempt: number) => number | null | undefined
}

interface IoredisModule { Redis: new (url: string, options: RedisClientOptions) => RedisStoreClient }

/** Only redis: and rediss: URLs; anything else (a path, http:, a typo) would make ioredis guess. */
export function checkRedisUrl (url: unknown): string {
  let protocol: string | undefined
  try { protocol = new URL(String(url)).protocol } catch {}
  if (typeof url !== 'string' || (protocol !== 'redis:' && protocol !== 'rediss:')) {
    throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore url', 'must be a redis:// or rediss:// URL, e.g. redis://localhost:6379')
  }
  return url
}

/** Loads an optional peer dependency now, or says which package to install for `feature`. */
export function requirePeer (id: string, feature: string): unknown {
  try {
    return requireFromPackage(id)
  } catch (error) {
    throw new FST_JWT_AUTH_MISSING_DEPENDENCY(feature, id, id, { cause: error })
  }
}

/** Makes an ioredis client, loading ioredis now: an app that passes its own client never needs it. */
export function createRedisClient (url: string, options: RedisClientOptions): RedisStoreClient {
  const { Redis } = requirePeer('ioredis', 'RedisStore({ url })') as IoredisModule
  return new Redis(url, options)
}
