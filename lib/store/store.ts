// The storage contract every store implements. The plugin passes durations, never
// timestamps: each store reads its own clock (Redis reads TIME inside its scripts), so
// instances with skewed clocks agree. Digests only: a store never sees a refresh token.

/** What a store keeps about one session (one device, one refresh-token family). */
export interface SessionInfo {
  /** The session id, also the `sid` claim of its access tokens. */
  id: string
  sub: string
  /** Epoch milliseconds. */
  createdAt: number
  lastUsedAt: number
  /** When the session dies if it is not refreshed again: min(absolute end, idle end). */
  expiresAt: number
  userAgent?: string
  ip?: string
  /**
   * Epoch ms of the user's last real authentication (OpenID Connect Core §2 `auth_time`): the
   * login, or the last step-up. Never moved by a refresh. Every store of the plugin sets it; a
   * store that leaves it out gives tokens without auth_time, which maxAge guards refuse.
   */
  authTime?: number
  /** Authentication context class of that authentication (`acr`), when the app named one. */
  acr?: string
  /** Authentication methods of that authentication (`amr`, RFC 8176), when the app named them. */
  amr?: string[]
  /**
   * False for a login without remember-me: its cookies last as long as the browser session.
   * Absent means true (every store of the plugin sets it).
   */
  persistent?: boolean
  /** The session's own idle lifetime in ms, when its login set one shorter than the configured one. */
  idleTimeout?: number
}

/** A session plus the app's claims, which each refreshed access token carries again. */
export interface SessionRecord extends SessionInfo {
  claims: Record<string, unknown>
  /** With DPoP: the RFC 7638 thumbprint of the key the session is bound to (RFC 9449 §5). */
  jkt?: string
}

export interface CreateSessionInput {
  sub: string
  sessionId: string
  /** SHA-256 digest (base64url) of the first refresh token. */
  refreshDigest: string
  claims: Record<string, unknown>
  /** Absolute lifetime in ms, fixed now and never extended. */
  lifetime: number
  /** Idle lifetime in ms, restarted by every rotation. */
  idleTimeout: number
  /** Most live sessions one user may hold; the oldest are evicted beyond it. */
  maxSessions: number
  userAgent?: string
  ip?: string
  /** With DPoP: binds the session to this key thumbprint; every refresh must prove that key. */
  jkt?: string
  /** The login's `acr` and `amr`, kept with the session; `auth_time` is the session's start. */
  acr?: string
  amr?: string[]
  /** False: a browser-session login (default true). */
  persistent?: boolean
  /**
   * A shorter idle lifetime for this session alone, in ms: recorded, and used instead of the
   * rotation's `idleTimeout` when shorter. `idleTimeout` above is then this value too.
   */
  sessionIdleTimeout?: number
}

/**
 * A step-up inside a session: the user authenticated again. `auth_time` becomes now, `acr` and
 * `amr` are replaced when given (kept when absent), and the current refresh token is spent in
 * favour of `successorDigest` as by a rotation, but without a seal: a refresh with the spent
 * token within grace is refused (invalid), after it is reuse.
 */
export interface StepUpInput {
  sub: string
  sessionId: string
  successorDigest: string
  idleTimeout: number
  acr?: string
  amr?: string[]
}

export interface CreateSessionResult {
  session: SessionRecord
  /** Ids of the sessions evicted to respect maxSessions. */
  evicted: string[]
}

export interface RotateInput {
  sub: string
  sessionId: string
  presentedDigest: string
  successorDigest: string
  /** The successor token sealed with a key only its predecessor can derive (for grace). */
  sealedSuccessor: string
  idleTimeout: number
  /**
   * A spent token whose rotation happened less than this many ms ago is never reuse, whatever its
   * generation: it is led back onto the live chain (status 'grace').
   */
  reuseGrace: number
  /** With 'rotated': the claims the session carries from now on (kept as they were when absent). */
  claims?: Record<string, unknown>
  /**
   * With `claims`: the session's claims they were made from (as `peek` answered). When the
   * session's claims are no longer these (an updateClaims came in between), its own are kept.
   */
  claimsFrom?: Record<string, unknown>
  /**
   * Look, do not rotate: a current token answers 'current' and nothing changes. Every other
   * answer ('grace', 'reused', 'invalid') is the same as without `peek`, reuse revocation included.
   */
  peek?: boolean
  /**
   * The thumbprint of the DPoP proof's key sent with this refresh (none without a proof). A
   * session bound to a key answers 'invalid' and changes nothing unless it is that key, for a
   * current token and within grace alike; a spent token after grace is still reuse.
   */
  jkt?: string
}

export type RotateResult =
  /** The presented token was current: the successor is now current. */
  | { status: 'rotated', session: SessionRecord }
  /** With `peek`: the presented token is current; nothing was changed. */
  | { status: 'current', session: SessionRecord }
  /**
   * The presented token was rotated less than `reuseGrace` ago (it may be several generations
   * old): `sealedSuccessors` leads from it to the current token, each link sealed with the token
   * before it (the first with the presented token, the last holds the current token).
   */
  | { status: 'grace', session: SessionRecord, sealedSuccessors: string[] }
  /**
   * A spent token of a live session rotated `reuseGrace` ago or longer (any of the
   * `reuseHistory + 1` generations the store remembers): the store has revoked the session.
   */
  | { status: 'reused' }
  /** No live session, or a token it never issued (made up, or older than the history). */
  | { status: 'invalid' }

/** The part of a logger a store may write to (Fastify's logger fits). */
export interface StoreLogger {
  warn: (details: object, message: string) => void
}

/** One problem a store's start-up probe found, and how to fix it. */
export interface StoreFinding {
  /** A short name for what was checked, e.g. 'eviction'. */
  check: string
  message: string
  fix: string
}

export interface Store {
  createSession (input: CreateSessionInput): Promise<CreateSessionResult>
  /** One atomic step: N concurrent calls with one token leave exactly one successor chain. */
  rotateRefreshToken (input: RotateInput): Promise<RotateResult>
  /**
   * True when the session is gone or the jti is denylisted. The per-request check. A store that
   * knows at once (in memory) may answer a boolean: the request then waits for no promise.
   */
  isRevoked (sub: string, sessionId: string, jti: string): boolean | Promise<boolean>
  /** Denylists one access token for `ttl` ms (until it would have expired anyway). */
  revokeToken (sub: string, jti: string, ttl: number): Promise<void>
  /**
   * Deletes one session. With `refreshDigest`, only when that digest is the session's current
   * refresh token or one of the spent generations it remembers. Resolves to the revoked session,
   * or null when none was.
   */
  revokeSession (sub: string, sessionId: string, refreshDigest?: string): Promise<SessionInfo | null>
  /** Deletes every session of the user; resolves to how many there were. */
  revokeUser (sub: string): Promise<number>
  listSessions (sub: string): Promise<SessionInfo[]>
  /**
   * Replaces the claims of every live session of the user (the next refresh of each carries
   * them); resolves to how many sessions were changed.
   */
  updateClaims (sub: string, claims: Record<string, unknown>): Promise<number>
  /**
   * Optional (needed by `reply.stepUp()`): raises the login strength of a live session and rotates
   * its refresh token (see StepUpInput). Resolves to the session, or null when it is not live.
   */
  stepUpSession? (input: StepUpInput): Promise<SessionRecord | null>
  /**
   * Optional; needed by the `dpop` option: remembers a DPoP proof's replay key (a digest of the
   * client key's thumbprint and the proof's jti) for `ttl` ms, on every instance. Resolves true
   * the first time, false for a key it already holds (a replayed proof). One command in RedisStore.
   */
  rememberProof? (key: string, ttl: number): Promise<boolean>
  /**
   * Optional: called once when the app is ready, not awaited; a rejection is logged as a warning
   * whose message should name the cause and the fix (never a password), and so is each finding it
   * resolves to. The app starts anyway, unless `probeFailsStart`.
   */
  probe? (): Promise<void | StoreFinding[]>
  /** With a probe: true makes the app's ready() wait for it and reject on a rejection or a finding. */
  readonly probeFailsStart?: boolean
  /**
   * Optional: told once per registration where to log what the store sees outside its calls (a
   * client's connection errors). Never a token, a secret or a password.
   */
  useLogger? (log: StoreLogger): void
  /** Called when the app closes: release what the store itself created (never a client passed in). */
  close? (): Promise<void>
  /**
   * Told once per registration how long the plugin's access tokens can live (lifetime plus clock
   * tolerance, in ms): a store with a revocation feed keeps its notices for
   * `noticeCoverage(ms)`.
   */
  useAccessLifetime? (ms: number): void
  /**
   * A store shared by several instances may offer a feed of revocation notices, which lets each
   * instance keep a revocation replica (`revocation: { replica: true }`) instead of asking the
   * store on every request. Every revocation (of a token, a session or a user, including reuse
   * detection and eviction) must be noticed on the feed, before it takes effect where possible.
   */
  openRevocationFeed? (): RevocationFeed
}

/** One read of a revocation feed. */
export interface RevocationBatch {
  /** Where the next read starts. */
  cursor: string
  /** The subs of the notices read; a sub may repeat. */
  subs: string[]
  /** False when more notices wait after this batch: read again at once. */
  complete: boolean
  /**
   * Epoch ms (store clock) from which the feed holds every notice. A feed that lost its data
   * (a restart without persistence, a flush) starts again with a later time: tokens issued
   * before it may belong to sessions the store no longer has, and are checked at the store.
   */
  completeSince: number
  /**
   * True when a notice in this batch covers every user: a store that lost track of which users
   * it owed notices (more than it could hold while it could not write them). Every token is then
   * checked at the store for one notice coverage.
   */
  everyone?: boolean
  /**
   * A partitioned feed (`RevocationFeed.partitions`): how each partition fared in this read, by
   * partition number. The batch's own `complete` and `completeSince` then only cover the
   * partitions that could be read; a read that fails for some partitions resolves all the same.
   */
  partitions?: RevocationPartitionRead[]
}

/** One partition of a partitioned feed in one read: caught up or not, or unreadable. */
export type RevocationPartitionRead =
  | { complete: boolean, completeSince: number }
  | { error: string }

/** The reading side of a store's revocation notices; each replica opens its own. */
export interface RevocationFeed {
  /**
   * The notices after `cursor` (from the oldest kept when null), without waiting. A read that
   * resolves with `complete` confirms that the replica has every notice written before the read
   * was sent. A partitioned feed resolves within `patience` ms (when given): a partition whose
   * read takes longer counts as unreadable in this batch, and its notices come with a later one.
   */
  read (cursor: string | null, patience?: number): Promise<RevocationBatch>
  /**
   * A feed split in partitions (RedisStore on a Cluster: one per group of slots), each confirmed
   * on its own: a partition that cannot be read sends to the store only the tokens of the users
   * whose notices it holds. Absent: one partition, and a read that fails rejects.
   */
  partitions?: { count: number, of: (sub: string) => number }
  /** Set by the replica: called at once with the sub of each notice this process writes (null: every user). */
  onLocalNotice?: ((sub: string | null) => void) | undefined
  close (): Promise<void>
}

/** The longest a store may skip repeated notices for one user after writing one (ms). */
const maxNoticeRepeatWindow = 10_000

/**
 * How long a store may skip repeated notices for one user after writing one: a quarter of the
 * lifetime, at most `maxNoticeRepeatWindow`. Tokens revoked in that window are covered by the
 * first notice, which is heeded that much longer.
 */
export function noticeRepeatWindow (lifetime: number): number {
  // At least 1 ms: Redis refuses a zero expiry for the window's marker.
  return Math.max(1, Math.min(maxNoticeRepeatWindow, Math.floor(lifetime / 4)))
}

/**
 * How long a notice must be kept and heeded, for tokens that live `lifetime` ms. Instances that
 * share a store should share the access lifetime, so that they agree on it.
 */
export function noticeCoverage (lifetime: number): number {
  return lifetime + noticeRepeatWindow(lifetime)
}

/**
 * How many generations before the predecessor a store remembers (as digests) for reuse
 * detection (so `reuseHistory + 1` spent generations in all). A token that matches none of them is merely invalid: a made-up secret for a known
 * session id must not be able to end that session.
 */
export const reuseHistory = 8

/** The method names a store must have, checked once at registration. */
export const storeMethods = [
  'createSession',
  'rotateRefreshToken',
  'isRevoked',
  'revokeToken',
  'revokeSession',
  'revokeUser',
  'listSessions',
  'updateClaims'
] as const
