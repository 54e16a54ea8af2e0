// A store of your own: fastify-jwt-auth's `Store` interface on PostgreSQL, through the `pg`
// client. Copy this file into your app (plain ESM JavaScript; the JSDoc types check under
// `checkJs`) and adapt the table names or the pool settings; test/postgres-store.test.ts runs the
// plugin's store contract suite against it on a real PostgreSQL.
//
//   import pg from 'pg'
//   import jwtAuth from 'fastify-jwt-auth'
//   import { PostgresStore } from './postgres-store.mjs'
//
//   // Fail fast while the database is away: the plugin then answers 503, never a 401.
//   const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 2000, query_timeout: 2000 })
//   const store = new PostgresStore({ pool, schema: 'auth' })
//   await store.createTables() // or run schemaSql('auth') in your migrations
//   await app.register(jwtAuth, { secret: process.env.JWT_SECRET, store })
//   // The store never ends a pool it was given; close() first lets a running purge finish.
//   app.addHook('onClose', async () => { await store.close(); await pool.end() })
//
// How it keeps the contract:
// - Refresh tokens are never seen: the plugin passes SHA-256 digests, and only digests are kept.
// - Every operation is atomic: one statement, or a transaction that first locks what it decides
//   on (the session row with SELECT ... FOR UPDATE for a rotation, the user with an advisory
//   lock for a login and its session cap, and for revokeUser). What deletes several rows of one
//   user takes that user's lock first, so that two of them cannot lock the rows in different
//   orders and deadlock; the purge skips locked rows instead of waiting for them.
// - Times come from PostgreSQL's clock (clock_timestamp(), truncated to milliseconds), never
//   from the Node.js process, so instances with skewed clocks agree.
// - Expired rows are ignored by every read, and deleted: a user's expired sessions at each of
//   their logins, and everything expired by purgeExpired(), in statements of at most
//   `purgeBatchSize` rows. The store also starts it on its own at most once per `purgeInterval`,
//   in the background: the request that finds it due neither waits for it nor fails with it, and
//   a failure goes to `onPurgeError`.
// - PostgreSQL text cannot hold U+0000, so no stored sub contains it: a sub (or id) that does is
//   treated as having no session, and createSession refuses it with a TypeError.
import { reuseHistory } from 'fastify-jwt-auth'

/**
 * @typedef {import('fastify-jwt-auth').Store} Store
 * @typedef {import('fastify-jwt-auth').CreateSessionInput} CreateSessionInput
 * @typedef {import('fastify-jwt-auth').CreateSessionResult} CreateSessionResult
 * @typedef {import('fastify-jwt-auth').RotateInput} RotateInput
 * @typedef {import('fastify-jwt-auth').RotateResult} RotateResult
 * @typedef {import('fastify-jwt-auth').SessionInfo} SessionInfo
 * @typedef {import('fastify-jwt-auth').SessionRecord} SessionRecord
 * @typedef {import('pg').Pool} Pool
 * @typedef {import('pg').PoolClient} PoolClient
 *
 * @typedef {object} PostgresStoreOptions
 * @property {Pool} pool A pg Pool; the store never ends it.
 * @property {string} [schema] Schema of the two tables (default 'public'): letters, digits and _.
 * @property {number} [purgeInterval] Least time between two automatic purges of expired rows, in
 *   ms (default 60 000); 0 leaves purging to your own calls of purgeExpired().
 * @property {number} [purgeBatchSize] Most rows one purge statement deletes (default 1000), so
 *   that each statement stays short: well within a query_timeout, and no long-held locks.
 * @property {(error: unknown) => void} [onPurgeError] Told when an automatic purge fails
 *   (default: console.error). The purge is tried again after the next purgeInterval.
 *
 * @typedef {object} SpentGeneration A rotated refresh token: digest, rotation time (epoch ms), the
 *   successor sealed with it (opaque here).
 * @property {string} digest
 * @property {number} rotatedAt
 * @property {string} sealed
 *
 * @typedef {object} SessionRow
 * @property {string} id
 * @property {string} sub
 * @property {string} current_digest
 * @property {SpentGeneration[]} spent
 * @property {Record<string, unknown>} claims
 * @property {string | null} user_agent
 * @property {string | null} ip
 * @property {Date} created_at
 * @property {Date} last_used_at
 * @property {Date} absolute_expires_at
 * @property {Date} expires_at
 * @property {string | null} dpop_jkt
 */

/** The database's clock, to the millisecond: what every stored time is taken from. */
const now = "date_trunc('milliseconds', clock_timestamp())"

/** The session columns that SessionInfo is made of. */
const infoColumns = 'id, sub, created_at, last_used_at, expires_at, user_agent, ip'

/**
 * PostgreSQL text cannot hold U+0000, so no stored sub, id or digest contains it: a lookup by
 * such a value finds nothing, without asking the database (which would refuse the query).
 * @param {string[]} values
 * @returns {boolean}
 */
const unstorable = (...values) => values.some(value => value.includes('\0'))

/** @param {unknown} error */
const reportPurgeError = error => { console.error('PostgresStore: purging expired rows failed', error) }

/**
 * The tables, for a migration tool or createTables().
 * @param {string} [schema]
 * @returns {string}
 */
export function schemaSql (schema = 'public') {
  const s = quoteSchema(schema)
  return `
CREATE SCHEMA IF NOT EXISTS ${s};

-- One row per session (one device, one refresh-token family).
CREATE TABLE IF NOT EXISTS ${s}.jwt_auth_sessions (
  id                  text PRIMARY KEY,            -- the sid claim; starts with 22 random characters
  sub                 text NOT NULL,
  created_seq         bigint GENERATED ALWAYS AS IDENTITY, -- creation order, for the session cap
  current_digest      text NOT NULL,               -- SHA-256 of the current refresh token
  spent               jsonb NOT NULL DEFAULT '[]', -- rotated tokens, newest first: {digest, rotatedAt, sealed} (grace, reuse)
  claims              json NOT NULL,               -- the login claims, as the plugin gave them
  user_agent          text,
  ip                  text,
  created_at          timestamptz NOT NULL,
  last_used_at        timestamptz NOT NULL,
  absolute_expires_at timestamptz NOT NULL,        -- fixed at login
  expires_at          timestamptz NOT NULL,        -- min(absolute end, idle end)
  dpop_jkt            text                         -- with DPoP: thumbprint of the key the session is bound to
);
ALTER TABLE ${s}.jwt_auth_sessions ADD COLUMN IF NOT EXISTS dpop_jkt text; -- tables made before DPoP
CREATE INDEX IF NOT EXISTS jwt_auth_sessions_by_user ON ${s}.jwt_auth_sessions (sub, created_seq);
CREATE INDEX IF NOT EXISTS jwt_auth_sessions_by_expiry ON ${s}.jwt_auth_sessions (expires_at);

-- Denylisted access tokens, each until it would have expired anyway.
CREATE TABLE IF NOT EXISTS ${s}.jwt_auth_denylist (
  sub        text NOT NULL,
  jti        text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (sub, jti)
);
CREATE INDEX IF NOT EXISTS jwt_auth_denylist_by_expiry ON ${s}.jwt_auth_denylist (expires_at);

-- DPoP proofs seen (the plugin's replay keys, digests), each until the proof is too old anyway.
CREATE TABLE IF NOT EXISTS ${s}.jwt_auth_dpop_proofs (
  key        text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS jwt_auth_dpop_proofs_by_expiry ON ${s}.jwt_auth_dpop_proofs (expires_at);
`
}

/** @implements {Store} */
export class PostgresStore {
  /** @type {Pool} */
  #pool
  /** @type {string} */
  #sessions
  /** @type {string} */
  #denylist
  #proofs
  /** @type {number} */
  #purgeInterval
  /** @type {number} */
  #lastPurge
  /** @type {number} */
  #purgeBatchSize
  /** @type {(error: unknown) => void} */
  #onPurgeError
  /** @type {Promise<void> | null} the automatic purge in progress */
  #purging = null
  /** @type {boolean} */
  #closing = false

  /** @param {PostgresStoreOptions} options */
  constructor (options) {
    if (options === null || typeof options !== 'object' || options.pool === null || typeof options.pool !== 'object') {
      throw new TypeError('PostgresStore needs { pool }: a pg Pool')
    }
    const purgeInterval = options.purgeInterval ?? 60_000
    if (!Number.isFinite(purgeInterval) || purgeInterval < 0) {
      throw new TypeError('PostgresStore purgeInterval must be a number of ms, 0 or more')
    }
    const purgeBatchSize = options.purgeBatchSize ?? 1000
    if (!Number.isSafeInteger(purgeBatchSize) || purgeBatchSize < 1) {
      throw new TypeError('PostgresStore purgeBatchSize must be a whole number, 1 or more')
    }
    const onPurgeError = options.onPurgeError ?? reportPurgeError
    if (typeof onPurgeError !== 'function') throw new TypeError('PostgresStore onPurgeError must be a function')
    this.schema = options.schema ?? 'public'
    const schema = quoteSchema(this.schema)
    this.#pool = options.pool
    this.#sessions = `${schema}.jwt_auth_sessions`
    this.#denylist = `${schema}.jwt_auth_denylist`
    this.#proofs = `${schema}.jwt_auth_dpop_proofs`
    this.#purgeInterval = purgeInterval
    this.#purgeBatchSize = purgeBatchSize
    this.#onPurgeError = onPurgeError
    // Scheduling only, so the process clock is fine here; every stored time is the database's.
    this.#lastPurge = Date.now()
  }

  /** Creates the schema and the tables if they do not exist yet. */
  async createTables () {
    await this.#pool.query(schemaSql(this.schema))
  }

  /**
   * Waits for an automatic purge in progress, which stops after its current statement, and starts
   * no more. Called by the plugin when the app closes; call it yourself before ending the pool.
   * @returns {Promise<void>}
   */
  async close () {
    this.#closing = true
    await this.#purging
  }

  /**
   * Deletes every expired session and denylist entry, in statements of at most purgeBatchSize
   * rows each. Rows that a request has locked are left for the next purge.
   * @returns {Promise<{ sessions: number, deniedTokens: number, proofs: number }>} how many rows went
   */
  async purgeExpired () {
    return await this.#purge(false)
  }

  /**
   * @param {CreateSessionInput} input
   * @returns {Promise<CreateSessionResult>}
   */
  async createSession (input) {
    if (unstorable(input.sub, input.sessionId, input.refreshDigest)) {
      throw new TypeError('PostgresStore cannot store a sub, session id or digest containing U+0000 (PostgreSQL text refuses it)')
    }
    this.#purgeIfDue()
    return await this.#transaction(async client => {
      // Logins of one user take turns, so that two of them cannot both slip under the cap.
      // (Row locks cannot do it: a first login has no row to lock.)
      await this.#lockUser(client, input.sub)
      await client.query(`DELETE FROM ${this.#sessions} WHERE sub = $1 AND expires_at <= clock_timestamp()`, [input.sub])
      const { rows: [row] } = await client.query(`
        INSERT INTO ${this.#sessions} (id, sub, current_digest, claims, user_agent, ip,
          created_at, last_used_at, absolute_expires_at, expires_at, dpop_jkt)
        SELECT $1, $2, $3, $4, $5, $6, t.now, t.now, t.now + $7::float8 * interval '1 ms', t.now + least($7::float8, $8::float8) * interval '1 ms', $9
        FROM (SELECT ${now} AS now) t
        RETURNING ${infoColumns}`,
      [input.sessionId, input.sub, input.refreshDigest, JSON.stringify(input.claims),
        input.userAgent ?? null, input.ip ?? null, input.lifetime, input.idleTimeout, input.jkt ?? null])
      // The oldest sessions beyond the cap go; the new one is the newest.
      const { rows: evicted } = await client.query(`
        DELETE FROM ${this.#sessions} WHERE id IN (
          SELECT id FROM ${this.#sessions} WHERE sub = $1 ORDER BY created_seq DESC OFFSET $2
        ) RETURNING id, created_seq`, [input.sub, input.maxSessions])
      evicted.sort((a, b) => Number(a.created_seq) - Number(b.created_seq))
      return { session: record(row, input.claims, input.jkt ?? null), evicted: evicted.map(e => e.id) }
    })
  }

  /**
   * @param {RotateInput} input
   * @returns {Promise<RotateResult>}
   */
  async rotateRefreshToken (input) {
    if (unstorable(input.sub, input.sessionId, input.presentedDigest)) return { status: 'invalid' }
    return await this.#transaction(async client => {
      // The row is locked before anything is decided, so concurrent rotations of one session run
      // one after the other. The clock is read outside the locking subquery: in the locking
      // SELECT's own column list it would be read before waiting for the lock.
      const { rows: [found] } = await client.query(`
        SELECT locked.*, ${now} AS now
        FROM (SELECT * FROM ${this.#sessions} WHERE id = $1 AND sub = $2 FOR UPDATE) AS locked`,
      [input.sessionId, input.sub])
      /** @type {SessionRow | undefined} */
      const session = found
      if (session === undefined) return { status: 'invalid' }
      const time = found.now.getTime()
      if (session.expires_at.getTime() <= time) {
        await client.query(`DELETE FROM ${this.#sessions} WHERE id = $1`, [session.id])
        return { status: 'invalid' }
      }

      // A bound session moves only for its own key (a spent token after grace is reuse all the same).
      const keyHeld = session.dpop_jkt === null || session.dpop_jkt === input.jkt
      if (input.presentedDigest === session.current_digest) {
        if (!keyHeld) return { status: 'invalid' }
        if (input.peek === true) return { status: 'current', session: record(session, session.claims, session.dpop_jkt) }
        // The current token: the successor becomes current, the idle timer restarts, the
        // presented token joins the remembered generations.
        const spent = [{ digest: session.current_digest, rotatedAt: time, sealed: input.sealedSuccessor }, ...session.spent]
          .slice(0, reuseHistory + 1)
        // The new claims, unless the session's changed since they were read (updateClaims wins).
        const keepOwn = input.claimsFrom !== undefined && JSON.stringify(input.claimsFrom) !== JSON.stringify(session.claims)
        const claims = keepOwn ? session.claims : input.claims ?? session.claims
        const expiresAt = Math.min(session.absolute_expires_at.getTime(), time + input.idleTimeout)
        const { rows: [row] } = await client.query(`
          UPDATE ${this.#sessions}
          SET current_digest = $2, spent = $3, claims = $4, last_used_at = $5, expires_at = $6
          WHERE id = $1
          RETURNING ${infoColumns}`,
        [session.id, input.successorDigest, JSON.stringify(spent), JSON.stringify(claims), new Date(time), new Date(expiresAt)])
        return { status: 'rotated', session: record(row, claims, session.dpop_jkt) }
      }
      const generation = session.spent.findIndex(spent => spent.digest === input.presentedDigest)
      if (generation !== -1 && time - session.spent[generation].rotatedAt < input.reuseGrace) {
        if (!keyHeld) return { status: 'invalid' }
        // Rotated within grace (every later generation too): its seals lead to the current token.
        const sealedSuccessors = session.spent.slice(0, generation + 1).reverse().map(spent => spent.sealed)
        return { status: 'grace', session: record(session, session.claims, session.dpop_jkt), sealedSuccessors }
      }
      if (generation !== -1) {
        // A spent token came back after grace: someone holds a copy. The session dies.
        await client.query(`DELETE FROM ${this.#sessions} WHERE id = $1`, [session.id])
        return { status: 'reused' }
      }
      // A token this session never issued (made up, or older than the history): no harm done.
      return { status: 'invalid' }
    })
  }

  /**
   * The per-request check: one statement.
   * @param {string} sub
   * @param {string} sessionId
   * @param {string} jti
   * @returns {Promise<boolean>}
   */
  async isRevoked (sub, sessionId, jti) {
    if (unstorable(sub, sessionId, jti)) return true
    const { rows: [row] } = await this.#pool.query(`
      SELECT NOT EXISTS (SELECT 1 FROM ${this.#sessions} WHERE id = $2 AND sub = $1 AND expires_at > clock_timestamp())
          OR EXISTS (SELECT 1 FROM ${this.#denylist} WHERE sub = $1 AND jti = $3 AND expires_at > clock_timestamp())
          AS revoked`, [sub, sessionId, jti])
    return row.revoked
  }

  /**
   * @param {string} sub
   * @param {string} jti
   * @param {number} ttl ms
   * @returns {Promise<void>}
   */
  async revokeToken (sub, jti, ttl) {
    // Nothing to deny: isRevoked already answers true for such a token.
    if (unstorable(sub, jti)) return
    this.#purgeIfDue()
    // Revoking a token twice never shortens its entry.
    await this.#pool.query(`
      INSERT INTO ${this.#denylist} AS d (sub, jti, expires_at) VALUES ($1, $2, ${now} + $3::float8 * interval '1 ms')
      ON CONFLICT (sub, jti) DO UPDATE SET expires_at = greatest(d.expires_at, excluded.expires_at)`, [sub, jti, ttl])
  }

  /**
   * A DPoP proof's replay key: true the first time, false for a replay. An expired row is taken over.
   * @param {string} key
   * @param {number} ttl ms
   * @returns {Promise<boolean>}
   */
  async rememberProof (key, ttl) {
    this.#purgeIfDue()
    const { rowCount } = await this.#pool.query(`
      INSERT INTO ${this.#proofs} AS p (key, expires_at) VALUES ($1, ${now} + $2::float8 * interval '1 ms')
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE p.expires_at <= ${now}`, [key, ttl])
    return rowCount === 1
  }

  /**
   * One statement: a concurrent rotation is waited for, then the digest is checked against the
   * row as that rotation left it.
   * @param {string} sub
   * @param {string} sessionId
   * @param {string} [refreshDigest]
   * @returns {Promise<SessionInfo | null>}
   */
  async revokeSession (sub, sessionId, refreshDigest) {
    if (unstorable(sub, sessionId, refreshDigest ?? '')) return null
    const { rows: [row] } = await this.#pool.query(`
      DELETE FROM ${this.#sessions}
      WHERE id = $2 AND sub = $1 AND expires_at > clock_timestamp()
        AND ($3::text IS NULL OR $3 = current_digest OR spent @> jsonb_build_array(jsonb_build_object('digest', $3::text)))
      RETURNING ${infoColumns}`, [sub, sessionId, refreshDigest ?? null])
    return row === undefined ? null : sessionInfo(row)
  }

  /**
   * @param {string} sub
   * @returns {Promise<number>} how many live sessions were ended
   */
  async revokeUser (sub) {
    if (unstorable(sub)) return 0
    return await this.#transaction(async client => {
      // Takes turns with this user's logins, whose deletes lock the same rows in another order.
      await this.#lockUser(client, sub)
      const { rows: [row] } = await client.query(`
        WITH gone AS (DELETE FROM ${this.#sessions} WHERE sub = $1 RETURNING expires_at)
        SELECT count(*) FILTER (WHERE expires_at > clock_timestamp())::int AS live FROM gone`, [sub])
      return row.live
    })
  }

  /**
   * @param {string} sub
   * @returns {Promise<SessionInfo[]>} oldest first
   */
  async listSessions (sub) {
    if (unstorable(sub)) return []
    const { rows } = await this.#pool.query(`
      SELECT ${infoColumns} FROM ${this.#sessions}
      WHERE sub = $1 AND expires_at > clock_timestamp() ORDER BY created_seq`, [sub])
    return rows.map(sessionInfo)
  }

  /**
   * @param {string} sub
   * @param {Record<string, unknown>} claims
   * @returns {Promise<number>} how many live sessions now carry the claims
   */
  async updateClaims (sub, claims) {
    if (unstorable(sub)) return 0
    const { rowCount } = await this.#pool.query(`
      UPDATE ${this.#sessions} SET claims = $2
      WHERE sub = $1 AND expires_at > clock_timestamp()`, [sub, JSON.stringify(claims)])
    return rowCount ?? 0
  }

  /**
   * Starts purgeExpired() in the background when the last automatic purge started more than
   * purgeInterval ago and none is running. Never awaited: the request that happens to find it
   * due neither waits for it nor fails with it.
   */
  #purgeIfDue () {
    if (this.#purgeInterval === 0 || this.#purging !== null || this.#closing ||
      Date.now() - this.#lastPurge < this.#purgeInterval) return
    this.#lastPurge = Date.now()
    this.#purging = this.#purge(true).then(() => {}, error => {
      try {
        this.#onPurgeError(error)
      } catch {
        // A failing reporter has nowhere left to report to; it must not become an unhandled rejection.
      }
    }).finally(() => { this.#purging = null })
  }

  /**
   * @param {boolean} automatic stops after the current statement once close() is called
   * @returns {Promise<{ sessions: number, deniedTokens: number, proofs: number }>}
   */
  async #purge (automatic) {
    const sessions = await this.#deleteExpired(this.#sessions, 'id', automatic)
    const deniedTokens = automatic && this.#closing ? 0 : await this.#deleteExpired(this.#denylist, 'sub, jti', automatic)
    const proofs = automatic && this.#closing ? 0 : await this.#deleteExpired(this.#proofs, 'key', automatic)
    return { sessions, deniedTokens, proofs }
  }

  /**
   * Deletes the expired rows of one table, a batch per statement, until a batch comes back short.
   * @param {string} table
   * @param {string} key the table's primary key columns
   * @param {boolean} automatic
   * @returns {Promise<number>} how many rows went
   */
  async #deleteExpired (table, key, automatic) {
    let deleted = 0
    for (;;) {
      // SKIP LOCKED: a row that a login, rotation or revocation holds is not waited for, so the
      // purge cannot be part of a deadlock, nor hold up the request.
      const { rowCount } = await this.#pool.query(`
        DELETE FROM ${table} WHERE (${key}) IN (
          SELECT ${key} FROM ${table} WHERE expires_at <= clock_timestamp() LIMIT $1 FOR UPDATE SKIP LOCKED)`,
      [this.#purgeBatchSize])
      deleted += rowCount ?? 0
      if ((rowCount ?? 0) < this.#purgeBatchSize || (automatic && this.#closing)) return deleted
    }
  }

  /**
   * Makes operations on several rows of one user take turns, until the transaction ends.
   * @param {PoolClient} client in a transaction
   * @param {string} sub
   */
  async #lockUser (client, sub) {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [this.#sessions, sub])
  }

  /**
   * Runs `work` in a transaction on one connection: committed when it resolves, rolled back
   * when it throws.
   * @template T
   * @param {(client: PoolClient) => Promise<T>} work
   * @returns {Promise<T>}
   */
  async #transaction (work) {
    const client = await this.#pool.connect()
    /** @type {Error | undefined} */
    let broken
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackError) {
        broken = /** @type {Error} */ (rollbackError) // the connection is unusable: the pool drops it
      }
      throw error
    } finally {
      client.release(broken)
    }
  }
}

/**
 * A row as the plugin sees a session: epoch ms, and no empty client details.
 * @param {Pick<SessionRow, 'id' | 'sub' | 'created_at' | 'last_used_at' | 'expires_at' | 'user_agent' | 'ip'>} row
 * @returns {SessionInfo}
 */
function sessionInfo (row) {
  /** @type {SessionInfo} */
  const info = {
    id: row.id,
    sub: row.sub,
    createdAt: row.created_at.getTime(),
    lastUsedAt: row.last_used_at.getTime(),
    expiresAt: row.expires_at.getTime()
  }
  if (row.user_agent !== null) info.userAgent = row.user_agent
  if (row.ip !== null) info.ip = row.ip
  return info
}

/**
 * A session with its claims and, when bound, its DPoP key.
 * @param {Pick<SessionRow, 'id' | 'sub' | 'created_at' | 'last_used_at' | 'expires_at' | 'user_agent' | 'ip'>} row
 * @param {Record<string, unknown>} claims
 * @param {string | null} jkt
 * @returns {SessionRecord}
 */
function record (row, claims, jkt) {
  /** @type {SessionRecord} */
  const session = { ...sessionInfo(row), claims }
  if (jkt !== null) session.jkt = jkt
  return session
}

/**
 * The schema name, quoted; only plain names, so that it can go into SQL text.
 * @param {string} schema
 * @returns {string}
 */
function quoteSchema (schema) {
  if (typeof schema !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new TypeError('PostgresStore schema must be a name of letters, digits and _ (at most 63)')
  }
  return `"${schema}"`
}
