// RedisStore's start-up self-check: what a production Redis can get wrong that no request would
// show until it hurts. An old version, an eviction policy that can drop a denylist entry (and so
// bring a revoked token back), an ACL user missing a command the store calls, a Cluster master with
// no replica. Each finding says what is wrong and how to fix it; nothing here writes a key that
// outlives the check.

import type { StoreFinding } from './store.js'

/** What the self-check found: one problem, and its fix. */
export interface SelfCheckFinding extends StoreFinding {
  check: 'connection' | 'version' | 'eviction' | 'permissions' | 'replicas'
  message: string
  fix: string
}

/** The oldest Redis the store works on (`XADD ... MINID`, exclusive `XRANGE` ranges). */
export const minimumRedisVersion = '6.2.0'

/**
 * Every command the store sends or its scripts run (lower case, as ACL rules name them), besides
 * AUTH and HELLO, which every user may run. docs/redis-production.md gives the ACL rule made of
 * them; a test runs the whole flow as a user with exactly that rule.
 */
export const scriptCommands = [
  'time', 'exists', 'get', 'set', 'pttl', 'pexpire', 'pexpireat', 'pexpiretime', 'del',
  'hset', 'hmget', 'hdel', 'zadd', 'zrange', 'zrem', 'zcard', 'xadd', 'xrange'
] as const
/** Sent by the client itself: the scripts (EVALSHA, EVAL when Redis lost them), INFO, PING. */
export const clientCommands = ['evalsha', 'eval', 'info', 'ping'] as const
/** With `waitForReplicas`. */
export const replicaCommands = ['wait'] as const
/** Sent by an ioredis Cluster client to learn the slots and the cluster's state. */
export const clusterCommands = ['cluster|slots', 'cluster|info'] as const

// KEYS: a key of the check's own. Tries each command the store's scripts run; returns the names of
// those the user may not run. The key is a short-lived string, so the hash, sorted set and stream
// commands answer WRONGTYPE, after the permission check, and write nothing.
const permissionsLua = `
local key = KEYS[1]
local denied = {}
local function try (name, ...)
  local reply = redis.pcall(name, ...)
  -- Redis 7.0 words a denied command in a script 'can't run this command', elsewhere 'no permissions'
  local err = type(reply) == 'table' and reply.err and string.lower(reply.err) or ''
  if string.find(err, "can't run this command", 1, true) or string.find(err, 'no permissions', 1, true) then
    denied[#denied + 1] = string.lower(name)
    return false
  end
  return true
end
try('TIME')
try('EXISTS', key)
try('GET', key)
local stringKey = try('SET', key, '1', 'PX', 1000)
try('PTTL', key)
-- Redis 6.2 has no PEXPIRETIME: an unknown command is no refusal
try('PEXPIRETIME', key)
try('PEXPIRE', key, 1000)
if stringKey then
  for _, call in ipairs({ { 'HSET', key, 'f', '1' }, { 'HMGET', key, 'f' }, { 'HDEL', key, 'f' },
    { 'ZADD', key, 1, 'm' }, { 'ZRANGE', key, 0, -1 }, { 'ZREM', key, 'm' }, { 'ZCARD', key },
    { 'XADD', key, '*', 'f', '1' }, { 'XRANGE', key, '-', '+' } }) do
    try(unpack(call))
  end
end
try('PEXPIREAT', key, 1)
try('DEL', key)
return denied
`

/** What the self-check needs of the store. */
export interface SelfCheckTarget {
  /** Runs one command, bounded like every store call. */
  call: (command: string, ...args: Array<string | number>) => Promise<unknown>
  /** INFO <section> of each node that holds data (each master of a Cluster). */
  info: (section: string) => Promise<NodeInfo[]>
  /** Masters that have no replica (a Cluster only; empty otherwise). */
  mastersWithoutReplica: () => string[]
  /** A key under the store's prefix, for the permission check. */
  checkKey: string
  isCluster: boolean
  waitsForReplicas: boolean
}

/** Runs every check; resolves to the findings (none: all is well). */
export async function runSelfCheck (target: SelfCheckTarget): Promise<SelfCheckFinding[]> {
  const denied: string[] = []
  try {
    await target.call('PING')
  } catch (error) {
    if (!isPermissionError(error)) {
      return [{ check: 'connection', message: `Redis does not answer (${(error as Error).message})`, fix: 'check the address, the password, TLS and the ACL rule (docs/redis-production.md)' }]
    }
    denied.push('ping')
  }
  const findings: SelfCheckFinding[] = []
  await deniedCommands(target, denied)
  if (denied.length > 0) {
    findings.push({
      check: 'permissions',
      message: `the Redis user may not run ${denied.join(', ')}, which the store needs (those calls fail: 503)`,
      fix: `add ${denied.map(name => `+${name}`).join(' ')} to its ACL rule (the whole rule is in docs/redis-production.md)`
    })
  }
  if (!denied.includes('info')) {
    findings.push(...infoFindings(await target.info('server'), await target.info('memory')))
  }
  const alone = target.mastersWithoutReplica()
  if (alone.length > 0) {
    findings.push({
      check: 'replicas',
      message: `Redis Cluster master(s) ${alone.join(', ')} have no replica: while one is down, every user whose keys it holds gets 503, and a master that loses its data loses their sessions and revocations`,
      fix: 'give each master a replica (redis-cli --cluster add-node <new> <existing> --cluster-slave), or a managed service\'s replicas per shard'
    })
  }
  return findings
}

/** Adds the commands the store needs that this user may not run; a NOPERM on a key names the key pattern. */
async function deniedCommands (target: SelfCheckTarget, denied: string[]): Promise<void> {
  const attempt = async (name: string, args: [string, ...Array<string | number>]): Promise<unknown> => {
    try {
      return await target.call(...args)
    } catch (error) {
      if (!isPermissionError(error)) return undefined // NOSCRIPT, WRONGTYPE...: allowed
      denied.push(/access one of the keys/i.test((error as Error).message) ? `~<prefix>* (keys under the store's prefix) for ${name}` : name)
      return undefined
    }
  }
  const inScripts = await attempt('eval', ['EVAL', permissionsLua, 1, target.checkKey])
  if (Array.isArray(inScripts)) denied.push(...inScripts.map(String))
  // A made-up digest: NOSCRIPT when the user may run EVALSHA, NOPERM when not.
  await attempt('evalsha', ['EVALSHA', '0'.repeat(40), 0])
  await attempt('info', ['INFO', 'server'])
  if (target.waitsForReplicas) await attempt('wait', ['WAIT', 0, 0])
  if (target.isCluster) await attempt('cluster|info', ['CLUSTER', 'INFO'])
}

function isPermissionError (error: unknown): boolean {
  return error instanceof Error && /no permissions/i.test(error.message)
}

/** One node's INFO section, as INFO answers it. */
export interface NodeInfo { node: string, text: string }

function infoField (text: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(text)?.[1]
}

/** The version and eviction findings from each node's INFO server and INFO memory. */
export function infoFindings (server: NodeInfo[], memory: NodeInfo[]): SelfCheckFinding[] {
  const findings: SelfCheckFinding[] = []
  // A node that names no version (a proxy, say) is not taken for an old one.
  const old = server.map(({ node, text }) => ({ node, version: infoField(text, 'redis_version') ?? minimumRedisVersion }))
    .filter(({ version }) => versionNumber(version) < versionNumber(minimumRedisVersion))
  if (old.length > 0) {
    findings.push({
      check: 'version',
      message: `Redis ${old.map(({ node, version }) => `${version} (${node})`).join(', ')} is older than ${minimumRedisVersion}: revocation notices (XADD MINID) fail`,
      fix: `upgrade to Redis ${minimumRedisVersion} or later`
    })
  }
  const evicting = memory.map(({ node, text }) => ({ node, policy: infoField(text, 'maxmemory_policy') ?? 'noeviction' }))
    .filter(({ policy }) => policy !== 'noeviction')
  if (evicting.length > 0) {
    findings.push({
      check: 'eviction',
      message: `Redis evicts keys when full (maxmemory-policy ${evicting.map(({ node, policy }) => `${policy} on ${node}`).join(', ')}): an evicted denylist entry or session index brings a revoked token back while its session lives`,
      fix: 'set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, or the managed service\'s parameter group) and size maxmemory for the live sessions; writes then answer 503 when full, never a revoked token'
    })
  }
  return findings
}

/** 7.0.15 as 7000015 (7.0 as 7000000); a part that is not a number counts as 0. */
function versionNumber (version: string): number {
  return [...version.split('.'), '0', '0'].slice(0, 3).reduce((total, part) => total * 1000 + (Number.parseInt(part, 10) || 0), 0)
}
