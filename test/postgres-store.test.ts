// example/postgres-store.mjs, the custom-store example, on a real PostgreSQL: the store contract
// suite, then the plugin on top of it. Connects to PGURL or DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/test. Every store gets a schema of its own named
// fja_test_<run>_<n>; the test drops exactly those schemas and touches no other.
// The example imports the package by its own name: needs `npm run build` first.
import t from 'tap'
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
  purgeExpired (): Promise<{ sessions: number, deniedTokens: number }>
}
interface PostgresStoreModule {
  PostgresStore: new (options: { pool: pg.Pool, schema?: string, purgeInterval?: number }) => PostgresStore
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
  t.equal(new Store({ pool }).schema, 'public', 'default schema')
  t.match(example.schemaSql('auth'), /CREATE TABLE IF NOT EXISTS "auth"\.jwt_auth_sessions/)
})

t.test('createTables can run again on existing tables', async t => {
  const store = await newStore()
  await store.createTables()
  const { rows: tables } = await pool.query(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [store.schema])
  t.same(tables.map(row => row.table_name), ['jwt_auth_denylist', 'jwt_auth_sessions'])
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

  t.same(await store.purgeExpired(), { sessions: 1, deniedTokens: 1 })
  t.same((await rows(store.schema, 'jwt_auth_sessions')).map(row => row.id).sort(), ['long-b', 'new-a'])
  t.same((await rows(store.schema, 'jwt_auth_denylist')).map(row => row.jti), ['long-jti'])
  t.same(await store.purgeExpired(), { sessions: 0, deniedTokens: 0 })
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
  t.same((await rows(store.schema, 'jwt_auth_sessions')).map(row => row.id), ['a1'], 'another user\'s expired session went')
  t.same((await rows(store.schema, 'jwt_auth_denylist')).map(row => row.jti), ['jti'])
})

t.test('the plugin on PostgreSQL: no token is stored, and every row expires', async t => {
  const store = await newStore()
  const app = await buildApp({ store, maxSessionsPerUser: 3 })
  t.teardown(() => app.close())
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
        remember((await refresh(app, next.refresh_token)).json())
        t.equal((await refresh(app, tokens.refresh_token)).statusCode, 400, 'two generations old: reuse')
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
