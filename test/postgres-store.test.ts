// example/postgres-store.mjs, the custom-store example, on a real PostgreSQL: the store contract
// suite, then the plugin on top of it. Connects to PGURL or DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/test. Every store gets a schema of its own named
// fja_test_<run>_<n>; the test drops exactly those schemas and touches no other.
// The example imports the package by its own name: needs `npm run build` first.
import t from 'tap'
import type { Test } from 'tap'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Store } from '../lib/index.js'
import { bearer, buildApp, login, refresh } from './helpers.js'
import { freePort } from './redis-harness.js'
import { storeContract } from './store-contract.js'

interface PostgresStore extends Store {
  readonly schema: string
  createTables (): Promise<void>
  purgeExpired (): Promise<{ sessions: number, deniedTokens: number, proofs: number }>
  close (): Promise<void>
}
interface PostgresStoreOptions {
  pool: pg.Pool
  schema?: string
  purgeInterval?: number
  purgeBatchSize?: number
  onPurgeError?: (error: unknown) => void
}
interface PostgresStoreModule {
  PostgresStore: new (options: PostgresStoreOptions) => PostgresStore
  schemaSql (schema?: string): string
}

const url = process.env.PGURL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const run = randomBytes(4).toString('hex')
const schemas: string[] = []
const pools: pg.Pool[] = []
// A specifier in a variable: the example is plain JavaScript, typed here by the interface above.
const examplePath = '../example/postgres-store.mjs'
let example: PostgresStoreModule
let pool: pg.Pool

function newPool (options: pg.PoolConfig = {}): pg.Pool {
  const created = new pg.Pool({ connectionString: url, ...options })
  pools.push(created)
  return created
}

/** A store with tables in a new schema of this run. */
async function newStore (options: { pool?: pg.Pool, schema?: string, purgeInterval?: number } = {}): Promise<PostgresStore> {
  const schema = options.schema ?? `fja_test_${run}_${schemas.length + 1}`
  if (!schemas.includes(schema)) schemas.push(schema)
  const store = new example.PostgresStore({ pool, ...options, schema })
  await store.createTables()
  return store
}

async function rows (schema: string, table: 'jwt_auth_sessions' | 'jwt_auth_denylist'): Promise<Array<Record<string, unknown>>> {
  return (await pool.query(`SELECT * FROM "${schema}".${table}`)).rows
}

/** Sessions of `sub` written straight into the table: `live` ones, then `expired` ones (newer). */
async function insertSessions (schema: string, sub: string, prefix: string, live: number, expired: number): Promise<void> {
  await pool.query(`
    INSERT INTO "${schema}".jwt_auth_sessions (id, sub, current_digest, claims, created_at, last_used_at, absolute_expires_at, expires_at)
    SELECT $2 || i, $1, 'digest', '{}', now(), now(), e, e
    FROM generate_series(1, $3::int + $4::int) i, LATERAL (SELECT now() + CASE WHEN i <= $3 THEN interval '1 hour' ELSE interval '-1 hour' END AS e) x`,
  [sub, prefix, live, expired])
}

/** Waits until `done` holds (for work the store does in the background), at most 5 s. */
async function until (done: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline && !await done();) await sleep(20)
}

/** A connection in a transaction of its own, to hold locks as another client would; ended at teardown. */
async function otherTransaction (t: Test): Promise<pg.PoolClient> {
  const client = await pool.connect()
  t.teardown(async () => { await client.query('ROLLBACK'); client.release() }) // a no-op after COMMIT
  await client.query('BEGIN')
  return client
}

t.before(async () => {
  example = await import(examplePath) as PostgresStoreModule
  pool = newPool()
})
t.teardown(async () => {
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  for (const created of pools) await created.end()
})

storeContract(t, { name: 'PostgresStore', unit: 250, create: async () => await newStore(), advance: async ms => { await sleep(ms) } })

t.test('PostgresStore options are checked', async t => {
  const Store = example.PostgresStore
  t.throws(() => new Store({} as never), TypeError, 'a pool is needed')
  for (const schema of ['', 'a;drop table x', 'x"y', 'a.b', '1abc', 'x'.repeat(64)]) {
    t.throws(() => new Store({ pool, schema }), TypeError, `schema ${JSON.stringify(schema)} refused`)
  }
  t.throws(() => new Store({ pool, purgeInterval: -1 }), TypeError)
  for (const purgeBatchSize of [0, 1.5, Infinity]) t.throws(() => new Store({ pool, purgeBatchSize }), TypeError)
  t.throws(() => new Store({ pool, onPurgeError: 'log' as never }), TypeError)
  t.equal(new Store({ pool }).schema, 'public', 'default schema')
  t.match(example.schemaSql('auth'), /CREATE TABLE IF NOT EXISTS "auth"\.jwt_auth_sessions/)
})

t.test('createTables can run again on existing tables', async t => {
  const store = await newStore()
  await store.createTables()
  const { rows: tables } = await pool.query(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [store.schema])
  t.same(tables.map(row => row.table_name), ['jwt_auth_denylist', 'jwt_auth_dpop_proofs', 'jwt_auth_sessions'])
})

t.test('concurrent logins of one user keep to the session cap', async t => {
  const store = await newStore()
  const app = await buildApp({ store, maxSessionsPerUser: 3 })
  t.teardown(() => app.close())
  const logins = await Promise.all(Array.from({ length: 12 }, async () => await login(app)))
  t.equal(logins.length, 12, 'every login answered')
  t.equal((await store.listSessions('alice')).length, 3, 'three sessions live')
  t.equal((await rows(store.schema, 'jwt_auth_sessions')).length, 3, 'and no more rows')
})

t.test('expired rows are ignored, and purged', async t => {
  const store = await newStore({ purgeInterval: 0 })
  const base = { claims: { sub: 'x' }, refreshDigest: 'digest', maxSessions: 10 }
  await store.createSession({ ...base, sub: 'alice', sessionId: 'short-a', lifetime: 250, idleTimeout: 250 })
  await store.createSession({ ...base, sub: 'bob', sessionId: 'short-b', lifetime: 250, idleTimeout: 250 })
  await store.createSession({ ...base, sub: 'bob', sessionId: 'long-b', lifetime: 60_000, idleTimeout: 60_000 })
  await store.revokeToken('bob', 'short-jti', 250)
  await store.revokeToken('bob', 'long-jti', 60_000)
  await sleep(400)
  t.equal(await store.isRevoked('alice', 'short-a', 'j'), true, 'an expired session counts as revoked')
  t.equal(await store.isRevoked('bob', 'long-b', 'short-jti'), false, 'an expired denylist entry no longer counts')
  t.same((await store.listSessions('bob')).map(session => session.id), ['long-b'])
  t.equal(await store.revokeSession('bob', 'short-b'), null, 'an expired session cannot be revoked')
  t.equal((await rows(store.schema, 'jwt_auth_sessions')).length, 3, 'reads leave expired rows in place')

  await store.createSession({ ...base, sub: 'alice', sessionId: 'new-a', lifetime: 60_000, idleTimeout: 60_000 })
  t.same((await rows(store.schema, 'jwt_auth_sessions')).map(row => row.id).sort(), ['long-b', 'new-a', 'short-b'],
    'a login deletes its own user\'s expired sessions')

  t.same(await store.purgeExpired(), { sessions: 1, deniedTokens: 1, proofs: 0 })
  t.same((await rows(store.schema, 'jwt_auth_sessions')).map(row => row.id).sort(), ['long-b', 'new-a'])
  t.same((await rows(store.schema, 'jwt_auth_denylist')).map(row => row.jti), ['long-jti'])
  t.same(await store.purgeExpired(), { sessions: 0, deniedTokens: 0, proofs: 0 })
})

t.test('the store purges by itself at most once per purgeInterval', async t => {
  const { schema } = await newStore()
  // Made after the tables, so that the interval starts now, not before their creation.
  const store = new example.PostgresStore({ pool, schema, purgeInterval: 1000 })
  const base = { claims: { sub: 'x' }, refreshDigest: 'digest', maxSessions: 10 }
  await store.createSession({ ...base, sub: 'bob', sessionId: 'short-b', lifetime: 100, idleTimeout: 100 })
  await store.revokeToken('bob', 'short-jti', 100)
  await sleep(150)
  await store.createSession({ ...base, sub: 'alice', sessionId: 'a1', lifetime: 60_000, idleTimeout: 60_000 })
  t.equal((await rows(store.schema, 'jwt_auth_sessions')).length, 2, 'not yet due')
  await sleep(1000)
  await store.revokeToken('alice', 'jti', 60_000)
  await until(async () => (await rows(store.schema, 'jwt_auth_denylist')).length === 1) // the purge runs in the background
  t.same((await rows(store.schema, 'jwt_auth_sessions')).map(row => row.id), ['a1'], 'another user\'s expired session went')
  t.same((await rows(store.schema, 'jwt_auth_denylist')).map(row => row.jti), ['jti'])
})

t.test('an automatic purge runs in the background: the request that starts it neither waits for it nor fails with it', async t => {
  const { schema } = await newStore()
  const setup = new example.PostgresStore({ pool, schema })
  const base = { claims: { sub: 'x' }, refreshDigest: 'digest', maxSessions: 10, lifetime: 1, idleTimeout: 1 }
  await setup.createSession({ ...base, sub: 'bob', sessionId: 'expired-b' })
  await setup.revokeToken('bob', 'expired-jti', 1)
  // Another client holds the denylist table (a long transaction, a migration): the purge's
  // DELETE waits for it, until lock_timeout (as query_timeout would with a large table).
  const other = await otherTransaction(t)
  await other.query(`LOCK TABLE "${schema}".jwt_auth_denylist IN EXCLUSIVE MODE`) // writes wait, reads do not
  const failures: unknown[] = []
  let reported = (): void => {}
  const failed = new Promise<void>(resolve => { reported = resolve })
  const store = new example.PostgresStore({
    pool: newPool({ options: '-c lock_timeout=1500' }),
    schema,
    purgeInterval: 50,
    onPurgeError: error => { failures.push(error); reported() }
  })
  const app = await buildApp({ store })
  t.teardown(() => app.close())
  await sleep(60)

  const response = await app.inject({ method: 'POST', url: '/login', payload: { sub: 'alice' } })
  t.equal(response.statusCode, 200, 'the login that found the purge due succeeded')
  t.same(failures, [], 'before the purge gave up')
  await Promise.race([failed, sleep(10_000)])
  t.match(failures, [{ code: '55P03' }], 'the purge\'s failure went to onPurgeError')
  t.same((await rows(schema, 'jwt_auth_denylist')).map(row => row.jti), ['expired-jti'], 'the locked table kept its rows')

  await other.query('COMMIT')
  await sleep(60)
  await store.revokeToken('alice', 'jti', 60_000)
  await until(async () => (await rows(schema, 'jwt_auth_denylist')).length === 1)
  t.same((await rows(schema, 'jwt_auth_denylist')).map(row => row.jti), ['jti'], 'the next purge went through')
  t.same((await rows(schema, 'jwt_auth_sessions')).map(row => row.sub), ['alice'])
  t.equal(failures.length, 1)
})

t.test('close() stops a running automatic purge after its current statement, and no purge starts after it', async t => {
  const { schema } = await newStore()
  await insertSessions(schema, 'bob', 'b', 0, 300)
  const store = new example.PostgresStore({ pool, schema, purgeInterval: 50, purgeBatchSize: 1 })
  await sleep(60)
  await store.revokeToken('alice', 'jti', 60_000) // starts a purge of 300 statements
  await store.close()
  const left = (await rows(schema, 'jwt_auth_sessions')).length
  t.ok(left > 0 && left < 300, `the purge had begun and was stopped (${left} rows left)`)
  await sleep(60)
  await store.revokeToken('alice', 'jti-2', 60_000)
  await sleep(100)
  t.equal((await rows(schema, 'jwt_auth_sessions')).length, left, 'no purge after close()')
  t.same(await store.purgeExpired(), { sessions: left, deniedTokens: 0, proofs: 0 }, 'purgeExpired() by hand still purges everything')
})

t.test('purgeExpired deletes in statements of at most purgeBatchSize rows, and skips rows that others hold', async t => {
  const { schema } = await newStore()
  const store = new example.PostgresStore({ pool: newPool({ options: '-c lock_timeout=3000' }), schema, purgeInterval: 0, purgeBatchSize: 100 })
  for (let user = 0; user < 5; user++) await insertSessions(schema, `user-${user}`, `u${user}-`, 2, 50)
  await pool.query(`
    INSERT INTO "${schema}".jwt_auth_denylist (sub, jti, expires_at)
    SELECT 'bob', 'jti-' || i, now() + CASE WHEN i <= 5 THEN interval '1 hour' ELSE interval '-1 hour' END FROM generate_series(1, 125) i`)
  // A statement-level trigger records how many rows each DELETE statement removed.
  await pool.query(`
    CREATE TABLE "${schema}".deletes (n serial, tbl text, deleted int);
    CREATE FUNCTION "${schema}".count_deletes() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO "${schema}".deletes (tbl, deleted) SELECT TG_TABLE_NAME, count(*) FROM gone; RETURN NULL; END $$;
    CREATE TRIGGER count_deletes AFTER DELETE ON "${schema}".jwt_auth_sessions
      REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".count_deletes();
    CREATE TRIGGER count_deletes AFTER DELETE ON "${schema}".jwt_auth_denylist
      REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".count_deletes()`)
  const statements = async (): Promise<Record<string, number[]>> => {
    const { rows: logged } = await pool.query(`SELECT tbl, deleted FROM "${schema}".deletes ORDER BY n`)
    await pool.query(`TRUNCATE "${schema}".deletes`)
    const byTable: Record<string, number[]> = {}
    for (const row of logged) (byTable[row.tbl as string] ??= []).push(row.deleted as number)
    return byTable
  }
  // A rotation in progress holds an expired session: the purge goes past it instead of waiting.
  const other = await otherTransaction(t)
  await other.query(`SELECT 1 FROM "${schema}".jwt_auth_sessions WHERE id = 'u0-3' FOR UPDATE`)

  t.same(await store.purgeExpired(), { sessions: 249, deniedTokens: 120, proofs: 0 })
  t.same(await statements(), { jwt_auth_sessions: [100, 100, 49], jwt_auth_denylist: [100, 20] }, 'rows per statement')
  await other.query('COMMIT')
  t.same(await store.purgeExpired(), { sessions: 1, deniedTokens: 0, proofs: 0 }, 'the held row goes at the next purge')
  t.same(await statements(), { jwt_auth_sessions: [1], jwt_auth_denylist: [0] })
  t.equal((await rows(schema, 'jwt_auth_sessions')).length, 10, 'the live sessions stay')
  t.equal((await rows(schema, 'jwt_auth_denylist')).length, 5, 'the live denylist entries stay')
})

t.test('concurrent logins and revokeUser of one user never deadlock', async t => {
  const store = await newStore({ pool: newPool({ max: 12 }) })
  // A slow INSERT (a trigger that sleeps 30 ms) holds each login between its delete of expired
  // sessions and its eviction beyond the cap, as a loaded database would: a revokeUser that
  // deletes the same rows in its own order would run in between.
  await pool.query(`
    CREATE FUNCTION "${store.schema}".slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.03); RETURN NEW; END $$;
    CREATE TRIGGER slow_insert BEFORE INSERT ON "${store.schema}".jwt_auth_sessions
      FOR EACH ROW WHEN (NEW.id LIKE 'slow-%') EXECUTE FUNCTION "${store.schema}".slow_insert()`)
  const login = (id: string) => store.createSession({
    sub: 'alice', sessionId: `slow-${id}`, claims: { sub: 'alice' }, refreshDigest: 'digest', lifetime: 60_000, idleTimeout: 60_000, maxSessions: 2
  })
  const failures: string[] = []
  for (let round = 0; round < 10; round++) {
    // Older live sessions, to be evicted, then newer expired ones, deleted first by a login.
    await insertSessions(store.schema, 'alice', `r${round}-`, 3, 2)
    const results = await Promise.allSettled([
      login(`${round}-a`),
      sleep(10).then(async () => await store.revokeUser('alice')),
      login(`${round}-b`),
      sleep(45).then(async () => await store.revokeUser('alice')),
      login(`${round}-c`)
    ])
    for (const result of results) {
      if (result.status === 'rejected') failures.push((result.reason as { code?: string }).code ?? String(result.reason))
    }
    t.ok((await store.listSessions('alice')).length <= 2, `round ${round}: within the cap`)
  }
  t.same(failures, [], 'no deadlock (40P01), no error')
})

t.test('a sub holding U+0000 has no session (PostgreSQL text cannot hold it), and cannot log in', async t => {
  const store = await newStore()
  const sub = 'ali\u0000ce'
  const sessionId = `${'A'.repeat(22)}${Buffer.from(sub).toString('base64url')}`
  t.same(await store.rotateRefreshToken({
    sub, sessionId, presentedDigest: 'digest', successorDigest: 'next', sealedSuccessor: 'sealed', idleTimeout: 60_000, reuseGrace: 10_000
  }), { status: 'invalid' })
  t.equal(await store.revokeSession(sub, sessionId), null)
  t.equal(await store.revokeSession(sub, sessionId, 'digest'), null)
  t.equal(await store.isRevoked(sub, sessionId, 'jti'), true)
  t.same(await store.listSessions(sub), [])
  t.equal(await store.revokeUser(sub), 0)
  await store.revokeToken(sub, 'jti', 60_000)
  await t.rejects(store.createSession({
    sub, sessionId, claims: { sub }, refreshDigest: 'digest', lifetime: 60_000, idleTimeout: 60_000, maxSessions: 10
  }), { name: 'TypeError', message: /U\+0000/ })
  t.same(await rows(store.schema, 'jwt_auth_sessions'), [])
  t.same(await rows(store.schema, 'jwt_auth_denylist'), [])

  const app = await buildApp({ store })
  t.teardown(() => app.close())
  t.equal((await refresh(app, `${sessionId}.${'B'.repeat(43)}`)).statusCode, 400, 'a crafted refresh token is refused, not a 503')
})

t.test('the plugin on PostgreSQL: no token is stored, and every row expires', async t => {
  const store = await newStore()
  const app = await buildApp({ store, maxSessionsPerUser: 3 })
  t.teardown(() => app.close())
  // A second instance on the same store without grace: a spent token presented there is reuse.
  const strict = await buildApp({ store, maxSessionsPerUser: 3, refreshToken: { reuseGrace: 0 } })
  t.teardown(() => strict.close())
  const secrets: string[] = []
  const remember = (tokens: { access_token: string, refresh_token: string }): void => {
    secrets.push(tokens.access_token, tokens.refresh_token.split('.')[1] as string)
  }
  for (const sub of ['alice', 'bob', 'carol']) {
    for (let i = 0; i < 4; i++) {
      const tokens = await login(app, { sub })
      remember(tokens)
      const next = (await refresh(app, tokens.refresh_token)).json()
      remember(next)
      t.equal((await refresh(app, tokens.refresh_token)).json().refresh_token, next.refresh_token, 'grace: the same successor')
      if (i === 1) {
        t.equal((await refresh(app, `${tokens.refresh_token.split('.')[0] as string}.${'A'.repeat(43)}`)).statusCode, 400, 'a made-up secret')
        const live = (await refresh(app, next.refresh_token)).json()
        remember(live)
        t.equal((await refresh(app, tokens.refresh_token)).json().refresh_token, live.refresh_token, 'two generations old, within grace: the live token')
        t.equal((await refresh(strict, tokens.refresh_token)).statusCode, 400, 'without grace: reuse')
        t.equal((await app.inject({ url: '/me', headers: bearer(next.access_token) })).statusCode, 401, 'the session died')
      }
      if (i === 2) {
        await app.jwtAuth.revokeToken(next.access_token)
        t.equal((await app.inject({ url: '/me', headers: bearer(next.access_token) })).statusCode, 401, 'denylisted')
      }
      if (i === 3) t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(next.access_token) })).statusCode, 204)
    }
  }
  t.equal(await app.jwtAuth.revokeUser('carol'), 2)
  const sessions = await rows(store.schema, 'jwt_auth_sessions')
  const denied = await rows(store.schema, 'jwt_auth_denylist')
  t.equal(sessions.length, 4, 'alice and bob each keep two of four sessions (one reused, one logged out)')
  t.equal(denied.length, 3)
  const { rows: [{ now }] } = await pool.query('SELECT clock_timestamp() AS now')
  const month = 30 * 86_400_000
  for (const row of [...sessions, ...denied]) {
    const left = (row.expires_at as Date).getTime() - (now as Date).getTime()
    t.ok(left > 0 && left <= month, `a row expires (${left} ms)`)
    if ('jti' in row) t.ok(left <= 15 * 60_000 + 5000, 'a denylist entry lives no longer than its access token')
    const text = JSON.stringify(row)
    t.notOk(secrets.some(secret => text.includes(secret)), 'the row holds no token')
  }
})

t.test('two instances on one database: 50 parallel refreshes of one token leave one chain; logout holds on both', async t => {
  const schema = `fja_test_${run}_shared`
  const a = await buildApp({ store: await newStore({ schema, pool: newPool() }) })
  const b = await buildApp({ store: await newStore({ schema, pool: newPool() }) })
  t.teardown(async () => { await a.close(); await b.close() })
  const tokens = await login(a)
  const responses = await Promise.all(Array.from({ length: 50 }, async (_, i) => await refresh(i % 2 === 0 ? a : b, tokens.refresh_token)))
  t.ok(responses.every(response => response.statusCode === 200), 'every one within grace')
  const successors = new Set(responses.map(response => response.json().refresh_token))
  t.equal(successors.size, 1, 'one successor')
  const next = (await refresh(b, [...successors][0] as string)).json()
  t.equal((await a.inject({ url: '/me', headers: bearer(next.access_token) })).statusCode, 200)
  await b.inject({ method: 'POST', url: '/auth/logout', headers: bearer(next.access_token) })
  t.equal((await a.inject({ url: '/me', headers: bearer(next.access_token) })).statusCode, 401, 'logged out on the other instance')
})

t.test('database unreachable: login and refresh fail closed with 503', async t => {
  const port = await freePort()
  const deadPool = newPool({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMillis: 500 })
  const store = new example.PostgresStore({ pool: deadPool, schema: 'unused' })
  const app = await buildApp({ store }, { logger: false })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(response.statusCode, 503)
  t.equal(response.headers['retry-after'], '5')
  const refreshed = await refresh(app, `${'A'.repeat(22)}YWxpY2U.${'B'.repeat(43)}`)
  t.equal(refreshed.statusCode, 503)
})
