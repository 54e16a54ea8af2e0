// RedisStore: sessions and revocations shared by every instance of a service, on a single
// Redis, Sentinel or Cluster (through ioredis). Each operation is one command: a Lua script
// registered once with defineCommand, or a plain SET or EXISTS (the per-request check), plus a
// notice on the revocations stream for revocations. Times come from Redis TIME inside the
// scripts, so instances with skewed clocks agree.
//
// Key layout (every key of one user shares the hash tag {u:<base64url(sub)>}, so each script
// touches one Cluster slot; the sub is encoded so that no sub can break out of the tag):
//   <prefix>{u:<sub64>}:s:<name>       hash    one session; expires with the session
//   <prefix>{u:<sub64>}:ss             zset    the user's session names in creation order;
//                                              expires with the user's last session
// Two session layouts (the sessionLayout option picks the one written; both are always read,
// so instances with either setting share one Redis):
// - 'compatible' (the default) writes as earlier versions did, so that their instances sharing
//   the Redis during a rolling upgrade read and rotate what this one writes: the name is the
//   whole session id, the claims whole JSON, the end in an 'exp' field as well as the expiry.
// - 'compact': a session's name is the random part of its id (22 characters): the rest of the
//   id is the sub's encoding, which the tag already holds. Memory per session is what this
//   saves: the key, and an index member short enough for the compact (listpack) encoding
//   whatever the sub's length. The session keeps its claims without the sub too
//   (sessionClaims), and on Redis 7 its end only as the key's expiry (PEXPIRETIME).
//   An id that is not one minted for its sub (a store caller's own) is named by the whole id.
// A session stays under the key it was written with until it ends (rotateLua says why).
//   <prefix>{u:<sub64>}:j:<jti>        string  a denylisted access token; expires with it
//   <prefix>{u:<sub64>}:rv             string  left by a conditional revocation (reuse, eviction,
//                                              logout with a refresh token): tells a notice whose
//                                              revocation's outcome was unknown that it happened;
//                                              kept one notice coverage
//   <prefix>dpop:<replay key>          string  a DPoP proof seen (digest of key thumbprint and
//                                              jti); expires when the proof would be too old
//   <prefix>{revocations}              stream  revocation notices (the sub, or 'all' for every
//                                              user) for replicas; each kept one access
//                                              lifetime, the key expires with the last. On a
//                                              Cluster, one stream per partition instead:
//                                              <prefix>{revocations:<p>:<n>} (p = 0..15, the
//                                              user's sixteenth of the slots; notice-partitions.ts),
//                                              each with the three keys below under its own tag
//   <prefix>{revocations}:keep         string  how long notices are kept (the longest any
//                                              writer asked for); expires with it
//   <prefix>{revocations}:r:<sub64>    string  a notice for the user within the repeat window
//   <prefix>{revocations}:epoch        hash    id and start of the notices' history: a new one
//                                              after a data loss; kept alive by replicas (1 day)
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { FST_JWT_AUTH_INVALID_OPTION } from '../errors.js'
import { checkRedisUrl, createRedisClient } from './redis-client.js'
import { sessionRandomLength } from '../tokens/refresh.js'
import type { RedisClientOptions, RedisClusterParts, RedisScriptDefinition, RedisStoreClient } from './redis-client.js'
import type {
  CreateSessionInput,
  CreateSessionResult,
  RevocationFeed,
  RotateInput,
  RotateResult,
  SessionInfo,
  SessionRecord,
  StepUpInput,
  Store,
  StoreLogger
} from './store.js'
import { noticeCoverage, noticeRepeatWindow, reuseHistory } from './store.js'
import { PendingNotices } from './pending-notices.js'
import { DeadlineSweep } from './deadlines.js'
import { CheckBatch, existsBatchLua } from './check-batch.js'
import { openNoticeFeed } from './notice-feed.js'
import type { StreamEntry } from './notice-feed.js'
import { keySlot, noticePartitionTags, partitionOfKey } from './notice-partitions.js'
import { ConnectionErrors } from './redis-errors.js'
import { runSelfCheck } from './redis-self-check.js'
import type { SelfCheckFinding } from './redis-self-check.js'

// Milliseconds since the epoch, by the Redis clock. Shared by every script.
const redisNow = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

// Keeps the session index alive at least until `until` (the latest session end).
const extendIndex = `
local function extendIndex (index, now, untilMs)
  local pttl = redis.call('PTTL', index)
  if pttl < 0 or now + pttl < untilMs then redis.call('PEXPIREAT', index, untilMs) end
end
`

// The session's end is its key's expiry. Redis 7 reads it back exactly (PEXPIRETIME); where it
// cannot (Redis 6.2, or an ACL user without PEXPIRETIME), the session keeps it in 'exp' as well,
// as every session of earlier versions did. The compatible layout ('1' as keep) always writes
// 'exp': earlier versions read a session's end from it alone. Needs redisNow.
const sessionEnd = `
local function expireSession (key, expires, keep)
  redis.call('PEXPIREAT', key, expires)
  if keep ~= '1' and type(redis.pcall('PEXPIRETIME', key)) == 'number' then redis.call('HDEL', key, 'exp')
  else redis.call('HSET', key, 'exp', expires) end
end
local function endOf (key, stored)
  local at = redis.pcall('PEXPIRETIME', key)
  if type(at) == 'number' and at > 0 then return at end
  return tonumber(stored) or now + redis.call('PTTL', key)
end
`

// The id of an index member: a name of 22 characters is the random part of an id minted for the
// user (whose sub's encoding follows it); a longer one is a whole id (an earlier version's or a caller's own).
const idOfName = `
local function idOf (name, sub64)
  if #name == 22 then return name .. sub64 end
  return name
end
`

// KEYS: session, index. ARGV: index member (by the store's layout), digest, claims, lifetime, idle, maxSessions, ua, ip, sessionKeyPrefix,
// DPoP key thumbprint ('' for none), acr, amr (JSON), not persistent ('1'), the session's own
// idle lifetime (each '' when absent), the sub's encoding, '1' to keep 'exp' (sessionEnd). Returns { now, expiresAt, evicted ids... }.
const createSessionLua = `${redisNow}${extendIndex}${sessionEnd}${idOfName}
local absolute = now + tonumber(ARGV[4])
local expires = math.min(absolute, now + tonumber(ARGV[5]))
-- 1. the session, with the digest of its first refresh token; auth_time is its start ('c')
redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'cl', ARGV[3], 'c', now, 'l', now, 'abs', absolute, 'ua', ARGV[7], 'ip', ARGV[8])
if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[10]) end
-- the login's strength and lifetimes, only when the login named them (memory per session)
for i, field in ipairs({ 'acr', 'amr', 'np', 'idle' }) do
  if ARGV[10 + i] ~= '' then redis.call('HSET', KEYS[1], field, ARGV[10 + i]) end
end
expireSession(KEYS[1], expires, ARGV[16])
-- 2. drop index entries whose session has expired
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[9] .. id) == 0 then redis.call('ZREM', KEYS[2], id) end
end
-- 3. index the new session (scores strictly increase, so two logins in one ms keep their
--    order), then evict the oldest beyond the cap
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local score = now
if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[2], score, ARGV[1])
local result = { now, expires }
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    redis.call('DEL', ARGV[9] .. id)
    redis.call('ZREM', KEYS[2], id)
    result[#result + 1] = idOf(id, ARGV[15])
  end
end
extendIndex(KEYS[2], now, expires)
return result
`

// KEYS: session (by the store's layout), index, its key in the other layout. ARGV: session name,
// presented, successor, sealed, idle, grace, history size, peek ('1' to only look), claims ('' to
// keep them), the claims they replace ('' for any), the DPoP key thumbprint presented ('' for
// none), the session id, the claims they replace as whole JSON (as earlier versions kept them),
// '1' to keep 'exp' (sessionEnd). KEYS[1] is where a new session would be written (by the store's
// layout), KEYS[3] the other layout's key: a session is found under either.
// Returns { status, createdAt, lastUsedAt, expiresAt, ua, ip, claims, bound key, authTime, acr,
// amr, np, idle [, sealed successors...] } (authTime, acr, amr, np, idle: false when absent).
// A session's own idle lifetime ('idle') wins over ARGV[5] when shorter.
// 'old' holds the spent generations, newest first, space-separated: 'digest,rotatedAt,sealed'
// while the generation is within grace, the bare digest after it (its seal is no longer needed).
const rotateLua = `${redisNow}${extendIndex}${sessionEnd}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then key = KEYS[3] end
local s = redis.call('HMGET', key, 'cur', 'abs', 'c', 'l', 'exp', 'ua', 'ip', 'cl', 'old', 'prev', 'rot', 'seal', 'k', 'at', 'acr', 'amr', 'np', 'idle')
-- 1. no live session: nothing to rotate (the key expires with the session)
if not s[1] then return { 'invalid' } end
local login = { s[14], s[15], s[16], s[17], s[18] }
-- a session written by 0.1.0 kept its predecessor apart: it becomes the newest spent generation
if s[10] and s[11] and s[12] then
  s[9] = s[10] .. ',' .. s[11] .. ',' .. s[12] .. ' ' .. (s[9] or '')
end
local grace = tonumber(ARGV[6])
-- a session bound to a DPoP key moves only for that key (a spent token after grace is reuse all the same)
local keyHeld = not s[13] or s[13] == ARGV[11]
local jkt = s[13] or ''
local ends = endOf(key, s[5])
-- 2. the current token: the successor becomes current, the idle timer restarts
if ARGV[2] == s[1] then
  if not keyHeld then return { 'invalid' } end
  if ARGV[8] == '1' then return { 'current', s[3], s[4], ends, s[6], s[7], s[8], jkt, unpack(login) } end
  local expires = math.min(tonumber(s[2]), now + math.min(tonumber(ARGV[5]), tonumber(s[18] or ARGV[5])))
  -- the presented token joins the spent generations, which keep the newest ARGV[7] + 1
  local old = { ARGV[2] .. ',' .. now .. ',' .. ARGV[4] }
  for entry in string.gmatch(s[9] or '', '%S+') do
    if #old > tonumber(ARGV[7]) then break end
    local digest, rotated = string.match(entry, '^([^,]+),(%d+),')
    if digest and now - tonumber(rotated) >= grace then entry = digest end
    old[#old + 1] = entry
  end
  -- A session written by an earlier version (under its whole id) is not moved to its name: it
  -- stays until it ends (within its lifetime). Moving it would need RENAME and ZSCORE, which
  -- the ACL rule of earlier versions does not grant: an upgrade that kept its rule would fail
  -- such a session's refresh.
  redis.call('HSET', key, 'cur', ARGV[3], 'old', table.concat(old, ' '), 'l', now)
  if s[10] then redis.call('HDEL', key, 'prev', 'rot', 'seal') end
  local claims = s[8]
  -- the new claims, unless the session's changed since they were read (updateClaims wins)
  if ARGV[9] ~= '' and (ARGV[10] == '' or ARGV[10] == s[8] or ARGV[13] == s[8]) then
    claims = ARGV[9]
    redis.call('HSET', key, 'cl', claims)
  end
  expireSession(key, expires, ARGV[14])
  extendIndex(KEYS[2], now, expires)
  return { 'rotated', s[3], now, expires, s[6], s[7], claims, jkt, unpack(login) }
end
-- 3. a spent generation: within grace its seals lead to the current token (the presented
--    token's seal first); after grace it is reuse, and the session dies
local result = { 'grace', s[3], s[4], ends, s[6], s[7], s[8], jkt, unpack(login) }
local seals, linked = {}, true
for entry in string.gmatch(s[9] or '', '%S+') do
  local digest, rotated, sealed = string.match(entry, '^([^,]+),(%d+),(.+)$')
  digest = digest or entry
  -- a generation whose seal was dropped (or a step-up's, sealed '-') breaks the way back for
  -- every older one
  if sealed and sealed ~= '-' then table.insert(seals, 1, sealed) else linked = false end
  if digest == ARGV[2] then
    if rotated and now - tonumber(rotated) < grace then
      if not linked then return { 'invalid' } end
      if not keyHeld then return { 'invalid' } end
      for _, link in ipairs(seals) do result[#result + 1] = link end
      return result
    end
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], ARGV[1], ARGV[12])
    return { 'reused' }
  end
end
-- 4. a token this session never issued (made up, or older than the history): refused, no harm done
return { 'invalid' }
`

// KEYS: session (by the store's layout), index, its key in the other layout. ARGV: session name, successor, idle,
// history size, acr, amr (JSON; each '' to keep it), '1' to keep 'exp' (sessionEnd). Returns the session as the rotation does, or nil when it is not live. A session
// bound to a DPoP key stays bound (the request that steps it up proved the key).
const stepUpLua = `${redisNow}${extendIndex}${sessionEnd}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then key = KEYS[3] end
local s = redis.call('HMGET', key, 'cur', 'abs', 'c', 'old', 'ua', 'ip', 'cl', 'acr', 'amr', 'np', 'idle', 'k')
if not s[1] then return nil end
-- 1. the current token is spent without a seal ('-'): nothing leads back from it
local old = { s[1] .. ',' .. now .. ',-' }
for entry in string.gmatch(s[4] or '', '%S+') do
  if #old > tonumber(ARGV[4]) then break end
  old[#old + 1] = entry
end
-- 2. the new authentication: auth_time now, acr and amr replaced when given
local acr, amr = s[8], s[9]
if ARGV[5] ~= '' then acr = ARGV[5] end
if ARGV[6] ~= '' then amr = ARGV[6] end
local expires = math.min(tonumber(s[2]), now + math.min(tonumber(ARGV[3]), tonumber(s[11] or ARGV[3])))
redis.call('HSET', key, 'cur', ARGV[2], 'old', table.concat(old, ' '), 'l', now, 'at', now)
if acr then redis.call('HSET', key, 'acr', acr) end
if amr then redis.call('HSET', key, 'amr', amr) end
expireSession(key, expires, ARGV[7])
extendIndex(KEYS[2], now, expires)
return { 'rotated', s[3], now, expires, s[5], s[6], s[7], s[12] or '', now, acr, amr, s[10], s[11] }
`

// KEYS: session (by the store's layout), index, its key in the other layout. ARGV: session name, digest ('' for any),
// session id. Returns the session or nil.
const revokeSessionLua = `${redisNow}${sessionEnd}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then key = KEYS[3] end
local s = redis.call('HMGET', key, 'cur', 'old', 'c', 'l', 'exp', 'ua', 'ip', 'prev', 'at', 'acr', 'amr', 'np', 'idle')
if not s[1] then return nil end
-- a digest, when given, must be the current token or one of the spent generations kept (a
-- session written by 0.1.0 keeps its predecessor in 'prev')
if ARGV[2] ~= '' and ARGV[2] ~= s[1] and ARGV[2] ~= s[8] then
  local known = false
  for entry in string.gmatch(s[2] or '', '%S+') do
    if string.match(entry, '^[^,]+') == ARGV[2] then known = true break end
  end
  if not known then return nil end
end
local ends = endOf(key, s[5])
redis.call('DEL', key)
redis.call('ZREM', KEYS[2], ARGV[1], ARGV[3])
return { s[3], s[4], ends, s[6], s[7], s[9], s[10], s[11], s[12], s[13] }
`

// KEYS: index. ARGV: sessionKeyPrefix, claims (as sessionClaims keeps them). Replaces the claims of each live session of the
// user (a session key that expired is skipped, never recreated); returns how many.
const updateClaimsLua = `
local updated = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    redis.call('HSET', ARGV[1] .. id, 'cl', ARGV[2])
    updated = updated + 1
  end
end
return updated
`

// KEYS: index. ARGV: sessionKeyPrefix. Deletes every session of the user; returns how many lived.
const revokeUserLua = `
local live = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  live = live + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return live
`

// KEYS: index. ARGV: sessionKeyPrefix, the sub's encoding. Returns id, createdAt, lastUsedAt,
// expiresAt, ua, ip, authTime, acr, amr, np, idle (the last five false when absent) per live session.
const listSessionsLua = `${redisNow}${sessionEnd}${idOfName}
local result = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local s = redis.call('HMGET', ARGV[1] .. name, 'c', 'l', 'exp', 'ua', 'ip', 'at', 'acr', 'amr', 'np', 'idle')
  if s[1] then
    s[3] = endOf(ARGV[1] .. name, s[3])
    result[#result + 1] = idOf(name, ARGV[2])
    for i = 1, 10 do result[#result + 1] = s[i] end
  end
end
return result
`

// KEYS: notices, keep, repeat. ARGV: sub, coverage, repeat window, field ('sub', or 'all' for
// every user). Appends a notice and drops
// those older than the longest coverage any writer asked for while its notices live (writers may
// differ). Returns 0 when a notice for the user within the repeat window covers this one.
const noticeLua = `${redisNow}
-- 1. one notice per user per repeat window; its marker lives beside it, so they are lost together
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
-- 2. the notice, kept as long as the longest coverage any writer asked for
local keep = math.max(tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[2]) or '0'))
redis.call('SET', KEYS[2], keep, 'PX', keep)
redis.call('XADD', KEYS[1], 'MINID', now - keep, '*', ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
-- 3. the marker last: a notice that failed leaves none behind
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
return 1
`

// KEYS: notices, epoch. ARGV: cursor ('' for the oldest), a new epoch id, epoch ttl, page size.
// Returns { epoch id, epoch start, entries }. A missing epoch means the notices' history starts
// now (first replica ever, or the data was lost): it gets a new id and this start time.
const followLua = `${redisNow}
local epoch = redis.call('HMGET', KEYS[2], 'id', 'since')
if not epoch[1] then
  epoch = { ARGV[2], now }
  redis.call('HSET', KEYS[2], 'id', ARGV[2], 'since', now)
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local from = '-'
if ARGV[1] ~= '' then from = '(' .. ARGV[1] end
return { epoch[1], tonumber(epoch[2]), redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', ARGV[4]) }
`

// KEYS: the single notices stream of older versions, its keep key. ARGV: cursor ('' for the
// oldest), page size. Returns the entries after the cursor, or false once both keys are gone
// (no older version wrote a notice within its coverage): the stream need not be read again.
const followLegacyLua = `
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then return false end
local from = '-'
if ARGV[1] ~= '' then from = '(' .. ARGV[1] end
return redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', ARGV[2])
`

/**
 * Wraps a script that may revoke (its KEYS[2] is the user's session index): when `revoked` holds
 * for its result, it leaves the user's revocation marker, kept as long as the ARGV appended last.
 */
function leavingMarker (lua: string, revoked: string): string {
  return `local markerTtl = table.remove(ARGV)
local function run ()
${lua}
end
local result = run()
if ${revoked} then redis.call('SET', string.sub(KEYS[2], 1, -3) .. 'rv', '1', 'PX', markerTtl) end
return result
`
}

const noticeRetryDelay = 1000
const defaultPendingNotices = 1000
const epochTtl = 86_400_000
const feedPage = 500

type Reply = Array<string | number | null>
type ScriptCall = (...args: Array<string | number>) => Promise<unknown>
interface ScriptClient {
  fastifyJwtAuthCreateSession: ScriptCall
  fastifyJwtAuthRotate: ScriptCall
  fastifyJwtAuthRevokeSession: ScriptCall
  fastifyJwtAuthRevokeUser: ScriptCall
  fastifyJwtAuthListSessions: ScriptCall
  fastifyJwtAuthUpdateClaims: ScriptCall
  fastifyJwtAuthStepUp: ScriptCall
  fastifyJwtAuthNotice: ScriptCall
  fastifyJwtAuthFollow: ScriptCall
  fastifyJwtAuthFollowLegacy: ScriptCall
  fastifyJwtAuthExistsBatch: (...args: Array<string | number>) => Promise<number[]>
}

/** The store's Lua scripts, registered on its client with defineCommand under these names. */
const scriptDefinitions: Record<keyof ScriptClient, RedisScriptDefinition> = {
  fastifyJwtAuthCreateSession: { numberOfKeys: 2, lua: leavingMarker(createSessionLua, '#result > 2') },
  fastifyJwtAuthRotate: { numberOfKeys: 3, lua: leavingMarker(rotateLua, "result[1] == 'reused'") },
  fastifyJwtAuthRevokeSession: { numberOfKeys: 3, lua: leavingMarker(revokeSessionLua, 'result') },
  fastifyJwtAuthRevokeUser: { numberOfKeys: 1, lua: revokeUserLua },
  fastifyJwtAuthListSessions: { numberOfKeys: 1, lua: listSessionsLua, readOnly: true },
  fastifyJwtAuthUpdateClaims: { numberOfKeys: 1, lua: updateClaimsLua },
  fastifyJwtAuthStepUp: { numberOfKeys: 3, lua: stepUpLua },
  fastifyJwtAuthNotice: { numberOfKeys: 3, lua: noticeLua },
  fastifyJwtAuthFollow: { numberOfKeys: 2, lua: followLua },
  fastifyJwtAuthFollowLegacy: { numberOfKeys: 2, lua: followLegacyLua, readOnly: true },
  fastifyJwtAuthExistsBatch: { lua: existsBatchLua, readOnly: true }
}
const scriptNames = Object.keys(scriptDefinitions) as Array<keyof ScriptClient>

export interface RedisStoreOptions {
  /** An ioredis 5 or 6 Redis (standalone or through Sentinel) or Cluster client. Never closed by the store. */
  client?: RedisStoreClient
  /** Convenience: a redis:// or rediss:// URL; the store creates the client (ioredis must be installed), owns it and closes it on app close. */
  url?: string
  /** ioredis options for the client made from `url`. */
  redisOptions?: RedisClientOptions
  /** Key prefix, without braces. Default 'fja:'. */
  prefix?: string
  /** Most time one store call may take before it fails (and the request gets 503), in ms. Default 2000. */
  commandTimeout?: number
  /**
   * Opt-in durability: after each rotation and revocation, WAIT on the same connection until this
   * many replicas acknowledged it, for at most `timeout` ms (shorter than commandTimeout). Fewer
   * acknowledgements fail the call (503). See docs/redis-durability.md.
   */
  waitForReplicas?: ReplicaAcknowledgement
  /**
   * Most users whose revocation notice waits for a retry (or for Redis to say whether they need
   * one); beyond it, one notice makes every replica check every token at the store for one
   * access lifetime. Default 1000.
   */
  maxPendingNotices?: number
  /**
   * The start-up self-check (Redis version, eviction policy, ACL permissions, Cluster replicas;
   * see docs/redis-production.md): 'warn' (default) logs each finding as a warning with its fix,
   * 'fail' makes app.ready() reject when there is one (or Redis does not answer), false only PINGs.
   */
  selfCheck?: 'warn' | 'fail' | false
  /**
   * How sessions are written (both layouts are read whatever this says; see docs/stores.md).
   * 'compatible' (default) writes each session exactly as earlier versions did (its key and index
   * member by the whole session id, its claims as whole JSON, its end in an 'exp' field), so that
   * instances of those versions sharing the Redis read and rotate the sessions this one writes:
   * keep it while any instance older than this version shares the Redis (a rolling upgrade).
   * 'compact' writes a session by the random part of its id, its claims without the sub, its end
   * as the key's expiry alone on Redis 7: less memory per session, but unreadable to earlier
   * versions (their instances would log those sessions out). Set it once every instance runs this
   * version or later; going back to an earlier version then logs out the sessions written so.
   * A later major version may make 'compact' the default.
   */
  sessionLayout?: 'compatible' | 'compact'
}

export interface ReplicaAcknowledgement {
  /** How many replicas must acknowledge each rotation and revocation. At least 1. */
  replicas: number
  /** How long to wait for them, in ms. */
  timeout: number
}

/** A write that fewer replicas acknowledged than asked: the call fails, its reply is kept. */
class UnacknowledgedWrite extends Error {
  readonly reply: unknown
  constructor (reply: unknown, acknowledged: number, options: ReplicaAcknowledgement) {
    super(`Redis replicas acknowledged a write ${acknowledged} of ${options.replicas} times within ${options.timeout} ms`)
    this.reply = reply
  }
}

/**
 * Options for a client the store owns (the ones docs/stores.md recommends): fail fast while Redis
 * is away, reconnect by itself. No ioredis commandTimeout: the store bounds each call itself, and
 * ioredis's would add a timer per command (3-5 µs of CPU each).
 */
const ownedClientOptions: RedisClientOptions = {
  maxRetriesPerRequest: 1,
  enableAutoPipelining: true,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000)
}

export class RedisStore implements Store {
  readonly client: RedisStoreClient
  readonly #scripts: ScriptClient
  readonly #prefix: string
  readonly #ownsClient: boolean
  /** Bounds every call from the moment it is asked, with one timer for all of them. */
  readonly #deadlines: DeadlineSweep
  /** The notice streams, by partition: one on a single Redis, 16 on a Cluster. */
  readonly #noticeStreams: readonly string[]
  /** The single stream older versions wrote on a Cluster, which replicas read until it expires. */
  readonly #legacyNotices: string | null
  /** The longest access lifetime a registration announced; an hour until one does. */
  #announcedLifetime: number | undefined
  readonly #feeds = new Set<RevocationFeed>()
  readonly #pending: PendingNotices
  readonly #replicas: ReplicaAcknowledgement | null
  /** Where the store's Redis is, for messages: the URL without its credentials, or the client. */
  readonly #address: string
  /** The client's error events: the cause a failed call is logged with. */
  readonly #errors: ConnectionErrors
  readonly #unwatch: () => void
  readonly #selfCheck: 'warn' | 'fail' | false
  /** 'compact' writes sessions in the compact layout; 'compatible' as earlier versions did. */
  readonly #compact: boolean
  /** A single Redis's revocation checks, sent together per event-loop round; null on a Cluster. */
  readonly #checks: CheckBatch | null
  /** True with `selfCheck: 'fail'`: the plugin's ready() waits for the probe and fails with it. */
  readonly probeFailsStart: boolean

  constructor (options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object' || (options.client === undefined) === (options.url === undefined)) {
      throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore', 'needs exactly one of client or url')
    }
    const prefix = options.prefix ?? 'fja:'
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore prefix', 'must be a string without { or }')
    }
    const timeout = options.commandTimeout ?? 2000
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore commandTimeout', 'must be a positive number of ms')
    }
    const selfCheck = options.selfCheck ?? 'warn'
    if (selfCheck !== 'warn' && selfCheck !== 'fail' && selfCheck !== false) {
      throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore selfCheck', "must be 'warn', 'fail' or false")
    }
    this.#selfCheck = selfCheck
    const layout = options.sessionLayout ?? 'compatible'
    if (layout !== 'compatible' && layout !== 'compact') {
      throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore sessionLayout', "must be 'compatible' or 'compact'")
    }
    this.#compact = layout === 'compact'
    this.probeFailsStart = selfCheck === 'fail'
    this.#prefix = prefix
    this.#ownsClient = options.client === undefined
    if (options.client === undefined) {
      const url = checkRedisUrl(options.url)
      this.client = createRedisClient(url, { ...ownedClientOptions, ...options.redisOptions })
      this.#address = withoutCredentials(url)
    } else {
      this.client = options.client
      this.#address = this.client.isCluster ? 'the Redis Cluster client passed in' : 'the Redis client passed in'
    }
    // Connection errors reach the plugin through failed commands (503, logged with this cause).
    this.#errors = new ConnectionErrors(this.#address)
    this.#unwatch = this.#errors.watch(this.client, this.client.isCluster)
    // ioredis's commandTimeout starts when a command is sent: with auto-pipelining a command
    // first waits for the batch before it, so a hung Redis made requests wait up to two timeouts.
    // The store bounds each call from the moment it is asked, by the shorter of the two timeouts
    // (a Cluster queues commands of its own: its commandTimeout bounds nothing reliably).
    const clientTimeout = (this.client.options as { commandTimeout?: unknown }).commandTimeout
    const isCluster = this.client.isCluster
    // A Cluster spreads the notices over its shards; a single Redis keeps the one stream.
    this.#noticeStreams = isCluster ? noticePartitionTags.map(tag => `${prefix}{${tag}}`) : [`${prefix}{revocations}`]
    this.#legacyNotices = isCluster ? `${prefix}{revocations}` : null
    // The WAIT must end before whichever timeout ends its call.
    const callBound = isCluster || typeof clientTimeout !== 'number' || !(clientTimeout > 0) ? timeout : Math.min(timeout, clientTimeout)
    this.#deadlines = new DeadlineSweep(callBound, error => error instanceof UnacknowledgedWrite ? error : this.#errors.explain(error))
    this.#replicas = replicaAcknowledgement(options.waitForReplicas, callBound)
    const maxPending = options.maxPendingNotices ?? defaultPendingNotices
    if (!Number.isSafeInteger(maxPending) || maxPending < 1) {
      throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore maxPendingNotices', 'must be a positive integer')
    }
    this.#pending = new PendingNotices({
      write: async sub => { await this.#notice(sub) },
      marked: async sub => await this.#call(this.client.exists(`${this.#userKey(sub)}:rv`)) === 1,
      tellLocal: sub => { this.#tellLocal(sub) },
      coverage: () => noticeCoverage(this.#lifetime),
      limit: maxPending,
      retryDelay: noticeRetryDelay
    })
    for (const name of scriptNames) this.client.defineCommand(name, scriptDefinitions[name])
    // The store's scripts are one command each: ioredis's auto-pipelining would gather a round's
    // into a Pipeline object (which copies every defined command), about 2.8 µs of CPU per check
    // in a batch; 50 concurrent rotations in one process ran 1.4-1.9x as many without it, at less
    // CPU each (docs/benchmarks.md). Sent as they are, they still share the connection. Only the
    // scripts are left out; the app's commands are untouched. A new array on this client's
    // options: ioredis shares its default array between clients.
    const clientOptions = this.client.options as { autoPipeliningIgnoredCommands?: unknown }
    const ignored = clientOptions.autoPipeliningIgnoredCommands
    if (Array.isArray(ignored)) {
      const missing = scriptNames.filter(name => !ignored.includes(name))
      if (missing.length > 0) clientOptions.autoPipeliningIgnoredCommands = [...ignored as unknown[], ...missing]
    }
    this.#scripts = this.#wrapScripts(this.client as unknown as ScriptClient)
    this.#checks = isCluster
      ? null
      : new CheckBatch({
        exists: (...keys) => this.client.exists(...keys),
        existsBatch: this.#scripts.fastifyJwtAuthExistsBatch,
        deadlines: this.#deadlines,
        answer: notLive,
        keysPerCheck: 5,
        scriptForOne: (this.client.options as { enableAutoPipelining?: unknown }).enableAutoPipelining === true
      })
  }

  /**
   * The scripts as the methods call them: the revoking ones get the marker's lifetime as their
   * last argument, and with waitForReplicas every call that wrote waits for its replicas.
   */
  #wrapScripts (client: ScriptClient): ScriptClient {
    const marking = (name: 'fastifyJwtAuthCreateSession' | 'fastifyJwtAuthRotate' | 'fastifyJwtAuthRevokeSession', wrote: (reply: Reply | null) => boolean): ScriptCall =>
      (...args) => this.#acknowledged(String(args[0]), client[name](...args, noticeCoverage(this.#lifetime)) as Promise<Reply | null>, wrote)
    return {
      // A login's durability is the app's concern; an eviction is a revocation.
      fastifyJwtAuthCreateSession: marking('fastifyJwtAuthCreateSession', created => (created as Reply).length > 2),
      // Not for made-up tokens ('invalid'), which must not make anyone wait.
      fastifyJwtAuthRotate: marking('fastifyJwtAuthRotate', rotated => rotated?.[0] === 'rotated' || rotated?.[0] === 'grace' || rotated?.[0] === 'reused'),
      fastifyJwtAuthRevokeSession: marking('fastifyJwtAuthRevokeSession', revoked => revoked !== null),
      fastifyJwtAuthRevokeUser: (...args) => this.#acknowledged(String(args[0]), client.fastifyJwtAuthRevokeUser(...args), () => true),
      fastifyJwtAuthListSessions: (...args) => client.fastifyJwtAuthListSessions(...args),
      // A claims update takes privileges away as often as it grants them: as durable as a revocation.
      fastifyJwtAuthUpdateClaims: (...args) => this.#acknowledged(String(args[0]), client.fastifyJwtAuthUpdateClaims(...args), () => true),
      // A step-up spends a refresh token: as durable as a rotation.
      fastifyJwtAuthStepUp: (...args) => this.#acknowledged(String(args[0]), client.fastifyJwtAuthStepUp(...args), reply => reply !== null),
      fastifyJwtAuthNotice: (...args) => client.fastifyJwtAuthNotice(...args),
      fastifyJwtAuthFollow: (...args) => client.fastifyJwtAuthFollow(...args),
      fastifyJwtAuthFollowLegacy: (...args) => client.fastifyJwtAuthFollowLegacy(...args),
      fastifyJwtAuthExistsBatch: (...args) => client.fastifyJwtAuthExistsBatch(...args)
    }
  }

  async createSession (input: CreateSessionInput): Promise<CreateSessionResult> {
    const { user, key, member, sub64 } = this.#session(input.sub, input.sessionId)
    const reply = await this.#conditional(input.sub, this.#scripts.fastifyJwtAuthCreateSession(
      key, `${user}:ss`,
      member, input.refreshDigest, this.#claims(input.sub, input.claims), input.lifetime, input.idleTimeout, input.maxSessions,
      input.userAgent ?? '', input.ip ?? '', `${user}:s:`, input.jkt ?? '',
      input.acr ?? '', input.amr === undefined ? '' : JSON.stringify(input.amr), input.persistent === false ? '1' : '', input.sessionIdleTimeout ?? '',
      sub64, this.#keepExp
    ) as Promise<Reply>, created => created.length > 2)
    const evicted = reply.slice(2) as string[]
    const now = Number(reply[0])
    const session = withLogin(withClient({
      id: input.sessionId, sub: input.sub, createdAt: now, lastUsedAt: now, expiresAt: Number(reply[1]), claims: input.claims
    } as SessionRecord, input.userAgent ?? '', input.ip ?? ''), [null, input.acr ?? null, input.amr === undefined ? null : JSON.stringify(input.amr), input.persistent === false ? '1' : null, input.sessionIdleTimeout ?? null])
    if (input.jkt !== undefined) session.jkt = input.jkt
    return { session, evicted }
  }

  async rotateRefreshToken (input: RotateInput): Promise<RotateResult> {
    const { user, key, other, name } = this.#session(input.sub, input.sessionId)
    const reply = await this.#conditional(input.sub, this.#scripts.fastifyJwtAuthRotate(
      key, `${user}:ss`, other,
      name, input.presentedDigest, input.successorDigest, input.sealedSuccessor, input.idleTimeout, input.reuseGrace,
      reuseHistory, input.peek === true ? '1' : '', input.claims === undefined ? '' : this.#claims(input.sub, input.claims),
      input.claimsFrom === undefined ? '' : sessionClaims(input.sub, input.claimsFrom), input.jkt ?? '', input.sessionId,
      // The compatible layout (and earlier versions) keep the claims as whole JSON: a session
      // written so compares with that.
      input.claimsFrom === undefined ? '' : JSON.stringify(input.claimsFrom), this.#keepExp
    ) as Promise<Reply>, rotated => rotated[0] === 'reused')
    const status = reply[0] as RotateResult['status']
    if (status === 'invalid' || status === 'reused') return { status }
    const session = sessionOf(input.sub, input.sessionId, reply)
    return status === 'grace'
      ? { status, session, sealedSuccessors: reply.slice(13) as string[] }
      : { status, session }
  }

  async stepUpSession (input: StepUpInput): Promise<SessionRecord | null> {
    const { user, key, other, name } = this.#session(input.sub, input.sessionId)
    const reply = await this.#call(this.#scripts.fastifyJwtAuthStepUp(
      key, `${user}:ss`, other,
      name, input.successorDigest, input.idleTimeout, reuseHistory, input.acr ?? '', input.amr === undefined ? '' : JSON.stringify(input.amr),
      this.#keepExp
    ) as Promise<Reply | null>)
    return reply === null ? null : sessionOf(input.sub, input.sessionId, reply)
  }

  isRevoked (sub: string, sessionId: string, jti: string): Promise<boolean> {
    const { user, key, other } = this.#session(sub, sessionId)
    // EXISTS counts each key it is given, so naming each of the session's keys twice (its key in
    // each layout) makes the answer unambiguous: 2 (or 4 when
    // both are one key) = session live and jti not denylisted; 0 = session gone; odd = the jti
    // denylisted. All keys share the user's slot. On a single Redis the checks of one event-loop
    // round share one call (check-batch.ts); on a Cluster each is one EXISTS. One promise of the
    // store's own: the bounded answer, already mapped to a boolean.
    const keys = [key, key, other, other, `${user}:j:${jti}`]
    if (this.#checks !== null) return this.#checks.check(keys)
    return this.#deadlines.bound(this.client.exists(...keys), notLive)
  }

  // Unconditional revocations post their notice first: a replica then asks the store about that
  // user, so the revocation cannot take effect without its notice (at worst a notice without one).
  // Conditional ones (reuse, eviction, logout with a refresh token) post it after they happened,
  // so that no request can make notices for sessions it cannot end.
  async revokeToken (sub: string, jti: string, ttl: number): Promise<void> {
    await this.#noticeFirst(sub)
    const key = `${this.#userKey(sub)}:j:${jti}`
    await this.#call(this.#acknowledged(key, this.client.set(key, '1', 'PX', ttl), () => true))
  }

  async rememberProof (key: string, ttl: number): Promise<boolean> {
    // SET NX answers OK for a new key and null for one that exists: a replay. No hash tag: each
    // proof lands on its own slot of a Cluster.
    return await this.#call(this.client.set(`${this.#prefix}dpop:${key}`, '1', 'PX', ttl, 'NX')) === 'OK'
  }

  async revokeSession (sub: string, sessionId: string, refreshDigest?: string): Promise<SessionInfo | null> {
    const { user, key, other, name } = this.#session(sub, sessionId)
    // Sent only when called: by id, the revocation must wait for its notice.
    const call = (): Promise<Reply | null> => this.#scripts.fastifyJwtAuthRevokeSession(
      key, `${user}:ss`, other, name, refreshDigest ?? '', sessionId
    ) as Promise<Reply | null>
    let reply: Reply | null
    if (refreshDigest === undefined) {
      await this.#noticeFirst(sub)
      reply = await this.#call(call())
    } else {
      reply = await this.#conditional(sub, call(), revoked => revoked !== null)
    }
    if (reply === null) return null
    return withLogin(withClient({
      id: sessionId, sub, createdAt: Number(reply[0]), lastUsedAt: Number(reply[1]), expiresAt: Number(reply[2])
    } as SessionInfo, reply[3] as string, reply[4] as string), reply.slice(5))
  }

  async revokeUser (sub: string): Promise<number> {
    const user = this.#userKey(sub)
    await this.#noticeFirst(sub)
    return await this.#call(this.#scripts.fastifyJwtAuthRevokeUser(`${user}:ss`, `${user}:s:`)) as number
  }

  async listSessions (sub: string): Promise<SessionInfo[]> {
    const user = this.#userKey(sub)
    const reply = await this.#call(this.#scripts.fastifyJwtAuthListSessions(`${user}:ss`, `${user}:s:`, subKey(sub))) as Reply
    const sessions: SessionInfo[] = []
    for (let i = 0; i < reply.length; i += 11) {
      sessions.push(withLogin(withClient({
        id: reply[i] as string,
        sub,
        createdAt: Number(reply[i + 1]),
        lastUsedAt: Number(reply[i + 2]),
        expiresAt: Number(reply[i + 3])
      } as SessionInfo, reply[i + 4] as string, reply[i + 5] as string), reply.slice(i + 6, i + 11)))
    }
    return sessions
  }

  async updateClaims (sub: string, claims: Record<string, unknown>): Promise<number> {
    const user = this.#userKey(sub)
    return await this.#call(this.#scripts.fastifyJwtAuthUpdateClaims(`${user}:ss`, `${user}:s:`, this.#claims(sub, claims))) as number
  }

  /** Told by the plugin where to log the client's errors (each distinct cause at most every 30 s). */
  useLogger (log: StoreLogger): void {
    this.#errors.useLogger(log)
  }

  useAccessLifetime (ms: number): void {
    this.#announcedLifetime = Math.max(this.#announcedLifetime ?? 0, ms)
  }

  /**
   * Revocation notices for a replica: each read is one script call per notice stream, all sent at
   * once, that pages through the stream and checks its epoch. When an epoch changed (the notices
   * were lost), the read starts again from that stream's oldest notice, so a replica never misses
   * one. On a Cluster each stream is a partition the replica confirms on its own.
   */
  openRevocationFeed (): RevocationFeed {
    const legacy = this.#legacyNotices
    const feed = openNoticeFeed({
      streams: this.#noticeStreams,
      ...(this.#noticeStreams.length > 1 ? { partitionOf: (sub: string) => partitionOfKey(this.#userKey(sub)) } : {}),
      follow: async (stream, cursor) => await this.#call(this.#scripts.fastifyJwtAuthFollow(
        stream, `${stream}:epoch`, cursor, randomUUID(), epochTtl, feedPage
      )) as [string, number, StreamEntry[]],
      ...(legacy === null
        ? {}
        : { followLegacy: async (cursor: string) => await this.#call(this.#scripts.fastifyJwtAuthFollowLegacy(legacy, `${legacy}:keep`, cursor, feedPage)) as StreamEntry[] | null }),
      page: feedPage,
      close: () => { this.#feeds.delete(feed) }
    })
    this.#feeds.add(feed)
    return feed
  }

  /**
   * One PING, bounded like every call: the plugin calls it when the app is ready and logs a
   * failure as a warning (the app still starts; requests that need the store answer 503).
   */
  async probe (): Promise<SelfCheckFinding[]> {
    try {
      await this.#call(this.client.ping())
    } catch (error) {
      // A user that may not PING is the self-check's to report.
      if (this.#selfCheck === false || !/no permissions/i.test((error as Error).message)) {
        const cause = this.#errors.latest ?? (error as Error).message
        throw new Error(`Redis at ${this.#address} does not answer (${cause}): every request that needs the store answers 503 until it does`)
      }
    }
    return this.#selfCheck === false ? [] : await this.runSelfCheck()
  }

  /**
   * Checks what a production Redis can get wrong: its version, an eviction policy that can drop a
   * revocation, ACL permissions for every command the store calls, Cluster masters without a
   * replica. Resolves to the findings, each with its fix (none: all is well); writes nothing that
   * outlives it.
   */
  async runSelfCheck (): Promise<SelfCheckFinding[]> {
    const client = this.client
    const cluster = client.isCluster ? client as RedisStoreClient & RedisClusterParts : null
    const nodes = cluster === null ? [{ node: this.#address, client }] : cluster.nodes('master').map(master => ({ node: nodeAddress(master), client: master }))
    return await runSelfCheck({
      call: async (command, ...args) => await this.#call(client.call(command, ...args)),
      info: async section => await Promise.all(nodes.map(async ({ node, client }) => ({ node, text: String(await this.#call(client.call('INFO', section))) }))),
      mastersWithoutReplica: () => cluster === null ? [] : [...new Set(cluster.slots.filter(holders => holders.length === 1).map(holders => holders[0] as string))],
      checkKey: `${this.#prefix}{self-check}`,
      isCluster: cluster !== null,
      waitsForReplicas: this.#replicas !== null
    })
  }

  /** Closes the client only when the store created it (from `url`); stops listening to one passed in. */
  async close (): Promise<void> {
    this.#pending.close()
    // A client passed in outlives the store: it keeps none of its listeners.
    if (this.#ownsClient) this.client.disconnect()
    else this.#unwatch()
  }

  #userKey (sub: string): string {
    return `${this.#prefix}{u:${subKey(sub)}}`
  }

  /**
   * Where a session lives. Its compact name is the random part of its id (the whole id when the
   * id is not one minted for the sub); its key and index member in the compatible layout are
   * the whole id, as earlier versions wrote them. `key` and `member` are where this store's
   * layout writes it, `other` the other layout's key (the same key when both names are one):
   * a session is read under either, whichever layout wrote it.
   */
  #session (sub: string, sessionId: string): { user: string, key: string, other: string, member: string, name: string, sub64: string } {
    const sub64 = subKey(sub)
    const user = `${this.#prefix}{u:${sub64}}`
    const minted = sessionId.length > sessionRandomLength && sessionId.slice(sessionRandomLength) === sub64
    const name = minted ? sessionId.slice(0, sessionRandomLength) : sessionId
    const compact = `${user}:s:${name}`
    const whole = `${user}:s:${sessionId}`
    return this.#compact
      ? { user, key: compact, other: whole, member: name, name, sub64 }
      : { user, key: whole, other: compact, member: sessionId, name, sub64 }
  }

  /** Claims as this store's layout writes them (sessionClaims, or whole JSON as earlier versions). */
  #claims (sub: string, claims: Record<string, unknown>): string {
    return this.#compact ? sessionClaims(sub, claims) : JSON.stringify(claims)
  }

  /** The keep-'exp' argument of the scripts that set a session's end (sessionEnd). */
  get #keepExp (): string {
    return this.#compact ? '' : '1'
  }

  /** How many users wait for a revocation notice to be retried (bounded by maxPendingNotices). */
  get pendingNotices (): number {
    return this.#pending.size
  }

  /**
   * Tells replicas to ask the store about this user's tokens (null: every user's) for one access
   * lifetime (Redis skips it when a notice within the repeat window covers it).
   */
  async #notice (sub: string | null, first = false): Promise<void> {
    // A notice for every user goes to every partition: a replica that cannot read one partition
    // still reads the others.
    const streams = sub === null
      ? this.#noticeStreams
      : [this.#noticeStreams.length === 1 ? this.#noticeStreams[0] as string : this.#noticeStreams[partitionOfKey(this.#userKey(sub))] as string]
    // '*' is no base64url: the window of the notice for every user is nobody's.
    const repeatSuffix = sub === null ? '*' : Buffer.from(sub, 'utf8').toString('base64url')
    await Promise.all(streams.map(async stream => {
      const written = this.#scripts.fastifyJwtAuthNotice(
        stream, `${stream}:keep`, `${stream}:r:${repeatSuffix}`, sub ?? '', noticeCoverage(this.#lifetime), noticeRepeatWindow(this.#lifetime),
        sub === null ? 'all' : 'sub'
      )
      // With waitForReplicas a notice is as durable as its revocation, so that no failover keeps
      // the revocation and loses its notice. One written first on the connection of the user's keys
      // is covered by the revocation's own WAIT (which then counts both writes).
      // (Which master holds what is read once the notice landed: the client knows the slots by then.)
      const wrote = (reply: unknown): boolean => reply === 1
      await this.#call(first && sub !== null
        ? written.then(async reply => this.#onOtherMaster(stream, this.#userKey(sub)) ? await this.#acknowledged(stream, Promise.resolve(reply), wrote) : reply)
        : this.#acknowledged(stream, written, wrote))
    }))
  }

  /** True on a Cluster whose slot map puts the two keys on different masters (or does not say). */
  #onOtherMaster (key: string, other: string): boolean {
    if (!this.client.isCluster) return false
    const slots = (this.client as RedisStoreClient & RedisClusterParts).slots
    const master = slots[keySlot(key)]?.[0]
    return master === undefined || master !== slots[keySlot(other)]?.[0]
  }

  /** An unconditional revocation's notice, written before it takes effect. */
  async #noticeFirst (sub: string): Promise<void> {
    await this.#notice(sub, true)
    this.#tellLocal(sub)
  }

  get #lifetime (): number {
    return this.#announcedLifetime ?? 3_600_000
  }

  #tellLocal (sub: string | null): void {
    for (const feed of this.#feeds) feed.onLocalNotice?.(sub)
  }

  /**
   * A conditional revocation (reuse, eviction, logout with a refresh token): noticed after it
   * happened, so that no request can make notices for sessions it cannot end. When the outcome is
   * unknown (the call failed or timed out, and may still have run in Redis), the notice waits
   * until Redis shows the marker the revoking script leaves.
   */
  async #conditional<T> (sub: string, command: Promise<T>, revoked: (reply: T) => boolean): Promise<T> {
    const since = performance.now()
    let reply: T
    try {
      reply = await this.#call(command)
    } catch (error) {
      if (!(error instanceof UnacknowledgedWrite)) this.#pending.unknown(sub, since)
      else if (revoked(error.reply as T)) this.#pending.revoked(sub)
      throw error
    }
    if (revoked(reply)) this.#pending.revoked(sub)
    return reply
  }

  /** With waitForReplicas: resolves once the replicas acknowledged a write (when `wrote` says there was one). */
  #acknowledged<T> (key: string, command: Promise<T>, wrote: (reply: T) => boolean): Promise<T> {
    const replicas = this.#replicas
    if (replicas === null) return command
    return command.then(async reply => {
      if (!wrote(reply)) return reply
      // WAIT counts the writes of its own connection: the node that holds the key's slot.
      const node = this.#nodeOf(key)
      const connection = connectionOf(node)
      const acknowledged = await node.wait(replicas.replicas, replicas.timeout)
      // A connection made since the write would count nothing of it.
      if (acknowledged < replicas.replicas || connectionOf(node) !== connection) throw new UnacknowledgedWrite(reply, acknowledged, replicas)
      return reply
    })
  }

  /** The connection that holds a key: the client itself, or the Cluster master of the key's slot. */
  #nodeOf (key: string): RedisStoreClient {
    if (!this.client.isCluster) return this.client
    const cluster = this.client as RedisStoreClient & RedisClusterParts
    const address = cluster.slots[keySlot(key)]?.[0]
    const node = cluster.nodes('master').find(master => nodeAddress(master) === address)
    if (node === undefined) throw new Error('Redis Cluster: no known master for the slot just written')
    return node
  }

  /** Bounds a call in time from the moment it is asked, whatever the client's own settings, so a request never hangs. */
  #call<T> (command: Promise<T>): Promise<T> {
    return this.#deadlines.bound(command)
  }
}

/**
 * EXISTS key key other other jti: 2 is a live session (4 when both names are one key) whose
 * jti is not denylisted; anything else is revoked.
 */
function notLive (count: number): boolean {
  return count !== 2 && count !== 4
}

/** The sub as the user's hash tag holds it. */
function subKey (sub: string): string {
  return Buffer.from(sub, 'utf8').toString('base64url')
}

/**
 * Claims as a session hash keeps them: without the sub, which the key's tag names, and without
 * the JSON's opening brace, which tells them from the whole JSON of sessions written by earlier versions (or
 * claims that do not carry the session's sub), kept and read back as they are.
 */
function sessionClaims (sub: string, claims: Record<string, unknown>): string {
  if (claims.sub !== sub) return JSON.stringify(claims)
  const { sub: _sub, ...rest } = claims
  return JSON.stringify(rest).slice(1)
}

/** Claims as the session hash keeps them, with the sub (first) when the hash left it out. */
function claimsOfSession (sub: string, stored: string): Record<string, unknown> {
  if (stored.startsWith('{')) return JSON.parse(stored) as Record<string, unknown>
  return { sub, ...JSON.parse(`{${stored}`) as Record<string, unknown> }
}

/** Validates waitForReplicas once; null when it is not asked for. */
function replicaAcknowledgement (option: ReplicaAcknowledgement | undefined, commandTimeout: number): ReplicaAcknowledgement | null {
  if (option === undefined) return null
  if (option === null || typeof option !== 'object' || !Number.isSafeInteger(option.replicas) || option.replicas < 1) {
    throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore waitForReplicas.replicas', 'must be a positive integer')
  }
  // WAIT 0 would block forever; a wait as long as the command timeout would always fail first.
  if (!Number.isSafeInteger(option.timeout) || option.timeout < 1 || option.timeout >= commandTimeout) {
    throw new FST_JWT_AUTH_INVALID_OPTION('RedisStore waitForReplicas.timeout', `must be a whole number of ms from 1 to below the command timeout (${commandTimeout} ms)`)
  }
  return { replicas: option.replicas, timeout: option.timeout }
}

/** A Cluster node's host:port, as the client's slots name it. */
function nodeAddress (node: RedisStoreClient): string {
  const { host, port } = node.options as { host?: string, port?: number }
  return `${host}:${port}`
}

const connections = new WeakMap<RedisStoreClient, { count: number }>()

/** Which connection of a client is current: a number that changes with each reconnection. */
function connectionOf (node: RedisStoreClient): number {
  let state = connections.get(node)
  if (state === undefined) {
    const counter = { count: 0 }
    node.on('ready', () => { counter.count++ })
    connections.set(node, counter)
    state = counter
  }
  return state.count
}

/** A redis:// URL fit for a log line: user name and password removed. */
function withoutCredentials (url: string): string {
  const parsed = new URL(url)
  parsed.username = ''
  parsed.password = ''
  return parsed.toString()
}

/** A session as the rotate and step-up scripts answer it. */
function sessionOf (sub: string, sessionId: string, reply: Reply): SessionRecord {
  const session = withLogin(withClient({
    id: sessionId,
    sub,
    createdAt: Number(reply[1]),
    lastUsedAt: Number(reply[2]),
    expiresAt: Number(reply[3]),
    claims: claimsOfSession(sub, reply[6] as string)
  } as SessionRecord, reply[4] as string, reply[5] as string), reply.slice(8, 13))
  if (reply[7] !== '') session.jkt = reply[7] as string
  return session
}

/**
 * Adds the login's strength and lifetimes from the hash fields at, acr, amr, np and idle (null
 * when absent): a session that never stepped up authenticated when it started.
 */
function withLogin<T extends SessionInfo> (session: T, [authTime, acr, amr, notPersistent, idle]: Reply): T {
  session.authTime = authTime === null || authTime === undefined ? session.createdAt : Number(authTime)
  if (acr !== null && acr !== undefined) session.acr = String(acr)
  if (amr !== null && amr !== undefined) session.amr = JSON.parse(String(amr)) as string[]
  session.persistent = notPersistent !== '1'
  if (idle !== null && idle !== undefined) session.idleTimeout = Number(idle)
  return session
}

/** Adds the optional client details, which Redis stores as '' when absent. */
function withClient<T extends SessionInfo> (session: T, userAgent: string, ip: string): T {
  if (userAgent !== '') session.userAgent = userAgent
  if (ip !== '') session.ip = ip
  return session
}
