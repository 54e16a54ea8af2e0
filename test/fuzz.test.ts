// Property-based fuzzing (issue "Hardening", item 2) with fast-check, through app.inject. Each
// property has a fixed seed and 300 runs by default; FUZZ_RUNS and FUZZ_SEED override them for a
// longer local session (FUZZ_RUNS=20000 npx tap test/fuzz.test.ts).
import t from 'tap'
import type { Test } from 'tap'
import fc from 'fast-check'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import type { FastifyInstance, InjectOptions } from 'fastify'
import jwtAuth from '../lib/index.js'
import type { JwtAuthOptions } from '../lib/index.js'

const numRuns = Number(process.env.FUZZ_RUNS ?? 300)
const seedBase = process.env.FUZZ_SEED === undefined ? 0x7a11 : Number(process.env.FUZZ_SEED)
const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
const modes: Record<'secret' | 'keys', Partial<JwtAuthOptions>> = {
  secret: { secret: randomBytes(32).toString('base64url') },
  keys: { keys: [{ kid: 'ec', alg: 'ES256', key: ecKey.privateKey }, { kid: 'rsa', alg: 'RS256', key: rsaKey.publicKey }] }
}

interface Target { app: FastifyInstance, access: string, refresh: string }

/** A fresh app per property, so that what one property revokes cannot change another's answers. */
async function target (t: Test, mode: keyof typeof modes = 'secret'): Promise<Target> {
  const app = Fastify()
  await app.register(jwtAuth, { ...modes[mode], cookies: { secure: false } } as JwtAuthOptions)
  app.post('/login', async (_request, reply) => await reply.issueTokens({ sub: 'alice', roles: ['user'] }))
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  app.post('/me', { preHandler: app.authenticate }, async request => request.user)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  const tokens = response.json<{ access_token: string, refresh_token: string }>()
  return { app, access: tokens.access_token, refresh: tokens.refresh_token }
}

/** Runs a property; one assertion, with fast-check's counterexample when it fails. */
async function holds<T> (t: Test, name: string, property: fc.IAsyncPropertyWithHooks<T>, seed: number): Promise<void> {
  const details = await fc.check(property, { seed: seedBase + seed, numRuns })
  t.ok(!details.failed, details.failed ? `${name}\n${fc.defaultReportMessage(details) ?? ''}` : name)
  t.equal(details.numRuns, numRuns, `${name}: ${details.numRuns} runs`)
}

/** The standard error body of a 400/401. */
function standardError (status: number, body: string): boolean {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>
    return parsed.statusCode === status && typeof parsed.code === 'string' && typeof parsed.error === 'string' && typeof parsed.message === 'string'
  } catch {
    return false
  }
}

const refused = (status: number, body: string): boolean => (status === 400 || status === 401) && standardError(status, body)

/**
 * True for another spelling of the same signed token: same header and payload text, signature
 * segment in the base64url alphabet decoding to the same bytes (RFC 4648 §3.5 non-canonical
 * trailing bits). Verifiers may take it; it carries the same jti, so revocation still holds
 * (see attacks.test.ts). Anything else that is not the token itself must be refused.
 */
function sameSignedToken (candidate: string, genuine: string): boolean {
  const a = candidate.split('.')
  const b = genuine.split('.')
  return a.length === 3 && a[0] === b[0] && a[1] === b[1] && /^[A-Za-z0-9_-]+$/.test(a[2] as string) &&
    Buffer.from(a[2] as string, 'base64url').equals(Buffer.from(b[2] as string, 'base64url'))
}

// --- generators -----------------------------------------------------------------------------

const base64urlChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')
const oneChar = fc.oneof(
  fc.constantFrom(...base64urlChars, '.', '=', '+', '/', ' ', '%', '\t', '\u0000', '"', ';', ','),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })
)
const json = fc.jsonValue({ maxDepth: 2 })

/** One edit of a token, as data so that fast-check prints it in a counterexample. */
type Edit =
  | { op: 'replace' | 'insert', at: number, char: string }
  | { op: 'flip', at: number, bit: number }
  | { op: 'delete' | 'truncate', at: number }
  | { op: 'segments', order: readonly number[] }
  | { op: 'part', index: 0 | 1 | 2, value: unknown }
  | { op: 'field', index: 0 | 1, name: string, value: unknown }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constantFrom('replace' as const, 'insert' as const), at: fc.nat(), char: oneChar }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ op: fc.constantFrom('delete' as const, 'truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('segments' as const), order: fc.constantFrom([1, 0, 2], [0, 2, 1], [2, 1, 0], [0, 1], [0, 1, 2, 2], [0, 0, 2], [0, 1, 1, 2], [1, 2]) }),
  fc.record({ op: fc.constant('part' as const), index: fc.constantFrom(0 as const, 1 as const, 2 as const), value: json }),
  fc.record({
    op: fc.constant('field' as const),
    index: fc.constantFrom(0 as const, 1 as const),
    name: fc.oneof(fc.constantFrom('alg', 'typ', 'kid', 'crit', 'jku', 'jwk', 'x5u', 'b64', 'sub', 'sid', 'jti', 'exp', 'nbf', 'iat', 'iss', 'aud', 'roles', 'scope', '__proto__'), fc.string({ maxLength: 8 })),
    value: json
  })
)

function applyEdit (token: string, change: Edit): string {
  const at = (n: number): number => token.length === 0 ? 0 : n % token.length
  switch (change.op) {
    case 'replace': return token.slice(0, at(change.at)) + change.char + token.slice(at(change.at) + 1)
    case 'insert': return token.slice(0, at(change.at)) + change.char + token.slice(at(change.at))
    case 'flip': {
      const i = at(change.at)
      return token.slice(0, i) + String.fromCharCode(token.charCodeAt(i) ^ (1 << change.bit)) + token.slice(i + 1)
    }
    case 'delete': return token.slice(0, at(change.at)) + token.slice(at(change.at) + 1)
    case 'truncate': return token.slice(0, at(change.at))
    case 'segments': {
      const parts = token.split('.')
      return change.order.map(i => parts[i] ?? '').join('.')
    }
    case 'part': {
      const parts = token.split('.')
      parts[change.index] = Buffer.from(JSON.stringify(change.value) ?? 'null').toString('base64url')
      return parts.join('.')
    }
    case 'field': {
      const parts = token.split('.')
      let object: Record<string, unknown>
      try {
        object = JSON.parse(Buffer.from(parts[change.index] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
      } catch {
        object = {}
      }
      parts[change.index] = Buffer.from(JSON.stringify({ ...object, [change.name]: change.value })).toString('base64url')
      return parts.join('.')
    }
  }
}

const edits = fc.array(edit, { minLength: 1, maxLength: 3 })
const mutate = (token: string, changes: Edit[]): string => changes.reduce(applyEdit, token)

const randomStrings = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.uint8Array({ maxLength: 200 }).map(bytes => Buffer.from(bytes).toString('latin1')),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{0,60}$/), fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/), fc.stringMatching(/^[A-Za-z0-9_-]{0,90}$/))
    .map(parts => parts.join('.')),
  fc.tuple(json, json, fc.stringMatching(/^[A-Za-z0-9_-]{0,90}$/))
    .map(([header, payload, signature]) => `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`)
)

// --- properties -----------------------------------------------------------------------------

t.test('(a) random strings and bytes as the Bearer token: never 2xx, never 5xx, a standard 400/401', async t => {
  for (const [i, mode] of (['secret', 'keys'] as const).entries()) {
    const { app } = await target(t, mode)
    await holds(t, `${mode}: random Bearer tokens are refused`, fc.asyncProperty(randomStrings, async token => {
      const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
      return refused(response.statusCode, response.body)
    }), 1 + i)
    await holds(t, `${mode}: random access cookies are refused`, fc.asyncProperty(randomStrings, async token => {
      const response = await app.inject({ url: '/me', cookies: { access_token: token } })
      return refused(response.statusCode, response.body)
    }), 3 + i)
  }
})

t.test('(b) mutations of a valid access token: never 2xx unless it is still the same signed token, never 5xx', async t => {
  for (const [i, mode] of (['secret', 'keys'] as const).entries()) {
    const { app, access } = await target(t, mode)
    let changed = 0
    let otherSpellings = 0
    await holds(t, `${mode}: mutated tokens are refused`, fc.asyncProperty(edits, async changes => {
      const token = mutate(access, changes)
      const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
      if (token === access) return response.statusCode === 200
      changed++
      if (sameSignedToken(token, access)) {
        if (response.statusCode === 200) otherSpellings++
        return response.statusCode === 200 || refused(response.statusCode, response.body)
      }
      return refused(response.statusCode, response.body)
    }), 10 + i)
    t.ok(changed > numRuns * 0.9, `${mode}: ${changed} of ${numRuns} runs changed the token`)
    t.ok(otherSpellings >= 0, `${mode}: ${otherSpellings} non-canonical spellings of the signature were taken`)
    t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${access}` } })).statusCode, 200, `${mode}: the genuine token still passes`)
  }
})

t.test('(c) random Authorization header values: 4xx only, 200 only for the genuine token', async t => {
  const { app, access } = await target(t)
  const scheme = fc.oneof(
    fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR', 'Basic', 'Digest', 'DPoP', 'Token', 'JWT', 'Bearer:', 'Bearer,', ''),
    fc.string({ maxLength: 10 })
  )
  const gap = fc.constantFrom(' ', '  ', '\t', '', ',', '=', ' \t ', '\u00a0', '\r\n ')
  const credential = fc.oneof(
    { arbitrary: fc.constant(access), weight: 2 },
    { arbitrary: edits.map(changes => mutate(access, changes)), weight: 3 },
    { arbitrary: randomStrings, weight: 3 }
  )
  const tail = fc.oneof(fc.constant(''), fc.string({ maxLength: 10 }), fc.constantFrom(' ', ',', ', Basic eA==', '==', '\u0000'))
  const value = fc.oneof(
    { arbitrary: fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR'), fc.constantFrom(' ', '  ', '   '), credential).map(parts => parts.join('')), weight: 2 },
    { arbitrary: fc.tuple(scheme, gap, credential, tail).map(parts => parts.join('')), weight: 3 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 1 }
  )
  let genuine = 0
  await holds(t, 'Authorization values', fc.asyncProperty(value, async header => {
    const response = await app.inject({ url: '/me', headers: { authorization: header } })
    const match = /^Bearer +(\S+)$/i.exec(header)
    if (response.statusCode === 200) {
      genuine++
      return match !== null && (match[1] === access || sameSignedToken(match[1] as string, access))
    }
    return refused(response.statusCode, response.body)
  }), 20)
  t.ok(genuine > numRuns / 100, `the genuine token went through ${genuine} times (the generator reaches it)`)
})

t.test('(d) random bodies and content types to /auth/refresh, /auth/logout, /auth/revoke: never 5xx; /auth/refresh never 2xx', async t => {
  const { app, access, refresh } = await target(t)
  const value = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 100 }),
    json,
    edits.map(changes => mutate(refresh, changes)),
    edits.map(changes => mutate(access, changes)),
    fc.constantFrom('refresh_token', '', 'x'.repeat(5000))
  )
  const field = fc.constantFrom('refresh_token', 'grant_type', 'token', 'token_type_hint', '__proto__', 'constructor')
  const jsonTypes = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=latin1', 'application/json;charset=utf-16')
  const formTypes = fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'Application/X-WWW-Form-Urlencoded')
  const otherTypes = fc.oneof(
    fc.constantFrom('text/plain', 'text/plain; charset=utf-8', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/jwt',
      '*/*', 'application/json, text/plain', 'application/jsonx', 'application/x-www-form-urlencodedx'),
    fc.string({ unit: 'binary-ascii', maxLength: 30 })
  )
  const jsonBodies = fc.oneof(
    { arbitrary: fc.dictionary(field, value, { maxKeys: 4 }).map(fields => JSON.stringify(fields)), weight: 4 },
    { arbitrary: json.map(v => JSON.stringify(v) ?? 'null'), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 1 }
  )
  const formBodies = fc.oneof(
    { arbitrary: fc.dictionary(field, fc.oneof(value.map(String), fc.string({ unit: 'binary', maxLength: 80 })), { maxKeys: 4 }).map(fields => new URLSearchParams(fields).toString()), weight: 4 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 1 }
  )
  const anyBody = fc.oneof(jsonBodies, formBodies, fc.uint8Array({ maxLength: 300 }).map(bytes => Buffer.from(bytes)))
  const typedBody: fc.Arbitrary<[string | undefined, string | Buffer]> = fc.oneof(
    { arbitrary: fc.tuple(jsonTypes, jsonBodies), weight: 4 },
    { arbitrary: fc.tuple(formTypes, formBodies), weight: 3 },
    { arbitrary: fc.tuple(fc.option(otherTypes, { nil: undefined }), anyBody), weight: 2 }
  )
  const url = fc.constantFrom('/auth/refresh', '/auth/logout', '/auth/revoke')
  const statuses = new Map<number, number>()
  await holds(t, 'token endpoint bodies', fc.asyncProperty(url, typedBody, async (path, [type, payload]) => {
    const request: InjectOptions = { method: 'POST', url: path, payload, headers: type === undefined ? {} : { 'content-type': type } }
    const response = await app.inject(request)
    statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
    if (response.statusCode >= 500) return false
    if (path === '/auth/refresh') return response.statusCode >= 400 && response.statusCode < 500
    return true
  }), 30)
  t.ok(statuses.size > 1, `answers seen: ${JSON.stringify(Object.fromEntries(statuses))}`)
})

t.test('(e) random Cookie headers: never 5xx; 2xx only for a token signed over the genuine header and payload', async t => {
  const { app, access, refresh } = await target(t)
  const signedPart = access.slice(0, access.lastIndexOf('.') + 1)
  const name = fc.oneof(
    fc.constantFrom('access_token', 'refresh_token', 'ACCESS_TOKEN', 'access_token ', ' access_token', '__proto__', 'constructor', ''),
    fc.string({ unit: 'binary-ascii', maxLength: 12 })
  )
  const value = fc.oneof(
    edits.map(changes => mutate(access, changes)),
    edits.map(changes => mutate(refresh, changes)),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.constantFrom('', '""', '"x"', '%', '%zz', '%E0%A4%A', 'a;b', ' ', '=', '==')
  )
  const cookie = fc.oneof(
    fc.tuple(fc.array(fc.tuple(name, value), { maxLength: 5 }), fc.constantFrom('; ', ';', ', ', ' ; '))
      .map(([pairs, separator]) => pairs.map(([n, v]) => `${n}=${v}`).join(separator)),
    fc.string({ unit: 'binary', maxLength: 300 })
  )
  const route = fc.constantFrom(['GET', '/me'], ['POST', '/me'], ['POST', '/auth/refresh'], ['POST', '/auth/logout'], ['GET', '/auth/sessions'], ['POST', '/auth/logout-all'], ['POST', '/auth/revoke'])
  const origin = fc.option(fc.oneof(fc.constantFrom('http://localhost:80', 'http://localhost', 'https://evil.example', 'null'), fc.string({ unit: 'binary-ascii', maxLength: 20 })), { nil: undefined })
  await holds(t, 'Cookie headers', fc.asyncProperty(route, cookie, origin, async ([method, path], header, from) => {
    const response = await app.inject({ method: method as 'GET', url: path as string, headers: { cookie: header, ...(from === undefined ? {} : { origin: from }) } })
    if (response.statusCode >= 500) return false
    // Routes behind authenticate can only pass with a token the issuer signed.
    if (response.statusCode < 300 && (path === '/me' || path === '/auth/sessions' || path === '/auth/logout-all')) return header.includes(signedPart)
    return true
  }), 40)
})
