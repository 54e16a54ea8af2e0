// Adversarial suite (issue "Hardening", item 1). Known JWT attacks, each turned into tokens and
// requests, against the plugin in both key modes (an HMAC `secret`; `keys` with an ES256 signing
// key and an RS256 verify-only key), through app.inject and through a real listening socket.
//
// Every refused request must be a 400 or 401 with the standard error body (431, from Node's
// parser, for headers over its 16 KB limit), answered promptly (a liveness bound, not a speed
// test); nothing may be 2xx or 5xx; no request may reach a URL named in a token; and the
// process still answers a valid token afterwards. Attacks already in keys.test.ts (HS256 with the
// SPKI and PKCS#1 PEMs, ES384/ES512/RS256 relabelling, a numeric or path-traversal kid, an
// embedded jwk, jku and x5u with the EC kid) are not repeated here; this file extends them.
//
// Sources: jwt_tool's attack modes (-X a/n/b/s/i/k, -I, -C -d), PortSwigger Web Security
// Academy "JWT attacks", and the advisories named in each group.
import t from 'tap'
import type { Test } from 'tap'
import { constants, createHash, createHmac, createSign, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { createServer, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import jwtAuth from '../lib/index.js'
import type { JwtAuthOptions } from '../lib/index.js'

const issuer = 'https://auth.example.test'
const audience = 'api'
const hmacSecret = randomBytes(48).toString('base64url') // 64 characters, fresh on each run
const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
const attackerEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const attackerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const p256Order = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
/** Liveness, not speed: a request that takes longer than this is treated as a hang. */
const promptMs = 2000

type Mode = 'secret' | 'keys'
type Json = Record<string, unknown>
type Signer = (input: string) => string

// --- token building -------------------------------------------------------------------------

/** A JWS part: objects are serialised as JSON; strings are raw JSON text; Buffers raw bytes. */
function part (value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64url')
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

function jws (header: unknown, payload: unknown, signature: Signer | string): string {
  const input = `${part(header)}.${part(payload)}`
  return `${input}.${typeof signature === 'string' ? signature : signature(input)}`
}

const hmac = (key: string | Buffer, bits: 256 | 384 | 512 = 256): Signer =>
  input => createHmac(`sha${bits}`, key).update(input).digest('base64url')
const ecdsa = (key: KeyObject): Signer =>
  input => createSign('SHA256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
const rsa = (key: KeyObject, pss = false): Signer =>
  input => createSign('SHA256').update(input)
    .sign(pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key).toString('base64url')
const zeros = (bytes: number): string => Buffer.alloc(bytes).toString('base64url')

// --- the targets ----------------------------------------------------------------------------

interface Target {
  mode: Mode
  app: FastifyInstance
  port: number
  access: string
  refresh: string
  /** The genuine token's header, claims and segments. */
  header: Json
  claims: Json
  segments: [string, string, string]
  /** Signs as the issuer does, for tokens that test claim checks behind a valid signature. */
  issuerSign: Signer
  /** The JWKS route's body in keys mode (what any attacker can fetch); null in secret mode. */
  jwksText: string | null
}

function pluginOptions (mode: Mode): Partial<JwtAuthOptions> {
  return mode === 'secret'
    ? { secret: hmacSecret }
    : { keys: [{ kid: 'ec', alg: 'ES256', key: ecKey.privateKey }, { kid: 'rsa', alg: 'RS256', key: rsaKey.publicKey }] }
}

async function buildTarget (mode: Mode): Promise<Target> {
  const app = Fastify()
  await app.register(jwtAuth, { ...pluginOptions(mode), issuer, audience, cookies: { secure: false } } as JwtAuthOptions)
  app.post<{ Body: { sub?: string } }>('/login', async (request, reply) =>
    await reply.issueTokens({ sub: request.body?.sub ?? 'alice', roles: ['user'] }))
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => ({ admin: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  // A token whose signature uses - or _, so that its standard-base64 spelling is another string.
  let tokens = await loginOn(app)
  while (!/[-_]/.test(tokens.access_token.split('.')[2] as string)) tokens = await loginOn(app)
  const segments = tokens.access_token.split('.') as [string, string, string]
  const jwks = mode === 'keys' ? await app.inject({ url: '/.well-known/jwks.json' }) : null
  return {
    mode,
    app,
    port: (app.server.address() as AddressInfo).port,
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    header: decodeSegment(segments[0]),
    claims: decodeSegment(segments[1]),
    segments,
    issuerSign: mode === 'secret' ? hmac(hmacSecret) : ecdsa(ecKey.privateKey),
    jwksText: jwks === null ? null : jwks.body
  }
}

async function loginOn (app: FastifyInstance, sub = 'alice'): Promise<{ access_token: string, refresh_token: string }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { sub } })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

function decodeSegment (segment: string): Json {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Json
}

// --- transports -----------------------------------------------------------------------------

interface Outgoing { method?: string, url: string, headers?: Record<string, string>, body?: string }
interface Answer { status: number, body: string, ms: number }
type Send = (request: Outgoing) => Promise<Answer>

function viaInject (app: FastifyInstance): Send {
  return async request => {
    const started = Date.now()
    const response = await app.inject({
      method: (request.method ?? 'GET') as 'GET',
      url: request.url,
      headers: request.headers ?? {},
      ...(request.body === undefined ? {} : { payload: request.body })
    })
    return { status: response.statusCode, body: response.body, ms: Date.now() - started }
  }
}

function viaHttp (port: number): Send {
  return async request => await new Promise((resolve, reject) => {
    const started = Date.now()
    const outgoing = httpRequest({ host: '127.0.0.1', port, method: request.method ?? 'GET', path: request.url, headers: request.headers ?? {}, agent: false }, response => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started }))
      response.on('error', reject)
    })
    outgoing.setTimeout(promptMs * 5, () => outgoing.destroy(new Error('no answer')))
    outgoing.on('error', reject)
    outgoing.end(request.body)
  })
}

/**
 * The status of an answer that never came because the server reset the connection: how Node 24's
 * HTTP parser refuses some requests that Node 20 and 22 answer with 431.
 */
const connectionReset = 0

/** Status, headers and body of the bytes an HTTP/1.1 answer came in. */
function parseAnswer (text: string, started: number): Answer {
  const split = text.indexOf('\r\n\r\n')
  const head = text.slice(0, split).split('\r\n')
  const headers: IncomingHttpHeaders = {}
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body = text.slice(split + 4)
  if (headers['transfer-encoding'] === 'chunked') {
    let decoded = ''
    for (let rest = body; ;) {
      const eol = rest.indexOf('\r\n')
      const size = parseInt(rest.slice(0, eol), 16)
      if (!(size > 0)) break
      decoded += rest.slice(eol + 2, eol + 2 + size)
      rest = rest.slice(eol + 4 + size)
    }
    body = decoded
  }
  return { status: Number(head[0]?.split(' ')[1]), body, ms: Date.now() - started }
}

/** Bytes on a socket, for what an HTTP client refuses to send; the server closes after answering. */
async function rawHttp (port: number, bytes: Buffer | string): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.setTimeout(promptMs * 5, () => socket.destroy(new Error('no answer')))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may answer and reset while the request is still being written (Node 24 does
      // for oversized headers): what arrived is the answer, and nothing at all is a refusal too.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error)
      else if (chunks.length === 0) resolve({ status: connectionReset, body: '', ms: Date.now() - started })
      else resolve(parseAnswer(Buffer.concat(chunks).toString('latin1'), started))
    })
    socket.on('end', () => { resolve(parseAnswer(Buffer.concat(chunks).toString('latin1'), started)) })
    socket.end(bytes)
  })
}

function rawRequest (path: string, headerLines: Array<string | Buffer>, method = 'GET'): Buffer {
  const lines: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`)]
  for (const line of headerLines) lines.push(Buffer.isBuffer(line) ? line : Buffer.from(line, 'latin1'), Buffer.from('\r\n'))
  lines.push(Buffer.from('Connection: close\r\n\r\n'))
  return Buffer.concat(lines)
}

// --- the verdict ----------------------------------------------------------------------------

/**
 * A refusal: 400 or 401 (or another status the case allows, such as 431), the standard error body
 * for a 400/401, never 2xx, never 5xx, and in time.
 */
function assertRefused (t: Test, answer: Answer, name: string, allowed: readonly number[] = [400, 401], by: 'plugin' | 'parser' = 'plugin'): void {
  t.ok(allowed.includes(answer.status), `${name}: ${answer.status} is one of ${allowed.join('/')}`)
  t.ok(answer.ms < promptMs, `${name}: answered in ${answer.ms} ms`)
  if (answer.status === 400 || answer.status === 401) {
    let body: unknown
    try {
      body = JSON.parse(answer.body)
    } catch {
      body = answer.body
    }
    // What Node's HTTP parser refuses never reaches a route: Fastify's client-error answer has no code.
    const shape = by === 'plugin' ? { statusCode: answer.status, code: /^FST_/, error: String, message: String } : { statusCode: answer.status, error: String, message: String }
    t.match(body, shape, `${name}: standard error body`)
  }
}

// A listener that must never be asked for anything: URLs in token headers point at it.
let listenerHits = 0
const listener = createServer((_request, response) => { listenerHits++; response.end('{"keys":[]}') })

t.before(async () => { await new Promise<void>(resolve => listener.listen(0, '127.0.0.1', resolve)) })
t.teardown(() => { listener.close() })
const listenerUrl = (): string => `http://127.0.0.1:${(listener.address() as AddressInfo).port}`

// --- the attacks ----------------------------------------------------------------------------

interface Attack { name: string, token: string }
interface Group { title: string, attacks: Attack[], paths?: string[] }

function groups (target: Target): Group[] {
  const { header, claims, segments, mode } = target
  const [h, p, s] = segments
  const now = Math.floor(Date.now() / 1000)
  // The victim's own sub, sid and jti: a verifier that skipped the signature would answer 200.
  const escalated = { ...claims, roles: ['admin'], scope: 'admin', exp: now + 365 * 86400 }
  const kids: Array<string | undefined> = mode === 'keys' ? ['ec', 'rsa', undefined] : [undefined]
  const withKid = (extra: Json, kid: string | undefined): Json => ({ typ: 'at+jwt', ...(kid === undefined ? {} : { kid }), ...extra })
  const url = listenerUrl()
  const list: Group[] = []

  // 1. alg "none" (CVE-2015-9235 jsonwebtoken; CVE-2022-23540 jsonwebtoken; CVE-2020-15084
  // express-jwt; jwt_tool -X a; PortSwigger "flawed signature verification").
  const none: Attack[] = []
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    const noneHeader = { ...header, alg }
    const input = `${part(noneHeader)}.${part(escalated)}`
    none.push(
      { name: `alg ${alg}, trailing dot`, token: `${input}.` },
      { name: `alg ${alg}, no trailing dot`, token: input },
      { name: `alg ${alg}, garbage signature`, token: `${input}.Z2FyYmFnZQ` },
      { name: `alg ${alg}, the genuine signature`, token: `${input}.${s}` },
      { name: `alg ${alg}, genuine payload, trailing dot`, token: `${part(noneHeader)}.${p}.` }
    )
  }
  for (const [name, alg] of [['missing', undefined], ['null', null], ['empty', ''], ['an array', ['none']], ['lowercase hs256', 'hs256'], ['with a NUL', `${String(header.alg)}\u0000`], ['with a space', ` ${String(header.alg)}`]] as const) {
    none.push({ name: `alg ${name}, unsigned`, token: `${part({ ...header, alg })}.${part(escalated)}.` })
    none.push({ name: `alg ${name}, genuine signature`, token: `${part({ ...header, alg })}.${p}.${s}` })
  }
  list.push({ title: 'alg none in every spelling, and malformed alg values (CVE-2015-9235, CVE-2022-23540, CVE-2020-15084)', attacks: none, paths: ['/me', '/admin'] })

  // 2. Null and empty keys (CVE-2026-44351 fast-jwt empty HMAC secret; CVE-2022-23540 falsy key;
  // CVE-2022-21449 "psychic signatures": an all-zero ECDSA signature; jwt_tool -X n).
  const empty: Attack[] = []
  for (const kid of kids) {
    for (const bits of [256, 384, 512] as const) {
      empty.push({ name: `HS${bits} with an empty key, kid ${String(kid)}`, token: jws(withKid({ alg: `HS${bits}` }, kid), escalated, hmac('', bits)) })
    }
    empty.push({ name: `HS256 with a NUL byte key, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS256' }, kid), escalated, hmac(Buffer.alloc(1))) })
    empty.push({ name: `HS256 with an all-zero signature, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS256' }, kid), escalated, zeros(32)) })
    empty.push({ name: `ES256 with an all-zero signature (r = s = 0), kid ${String(kid)}`, token: jws(withKid({ alg: 'ES256' }, kid), escalated, zeros(64)) })
    empty.push({ name: `ES256 with r = s = n, kid ${String(kid)}`, token: jws(withKid({ alg: 'ES256' }, kid), escalated, Buffer.from(p256Order.toString(16).repeat(2), 'hex').toString('base64url')) })
    empty.push({ name: `RS256 with an all-zero signature, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256' }, kid), escalated, zeros(256)) })
    empty.push({ name: `RS256 with a one-byte signature, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256' }, kid), escalated, 'AQ') })
    empty.push({ name: `HS256 header, empty signature segment, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS256' }, kid), escalated, '') })
  }
  list.push({ title: 'null and empty-key signatures (CVE-2026-44351, CVE-2022-23540, CVE-2022-21449)', attacks: empty })

  // 3. Key confusion: the public key, in any serialisation an attacker can get, as an HMAC secret
  // (CVE-2015-9235 jsonwebtoken; CVE-2016-10555 jwt-simple; the jws 3.0.0 advisory;
  // CVE-2022-23541 jsonwebtoken; CVE-2023-48223 fast-jwt PKCS#1 PEM; CVE-2026-34950
  // GHSA-mvf2-f6gm-w987 whitespace-prefixed PEM; CVE-2026-107722 GHSA-ww5h-9m49-7xx4 other
  // prefixes; GHSA-g3jj-5cmm-3hxx JWK / JWKS JSON as HMAC key; jwt_tool -X k; PortSwigger
  // "algorithm confusion"). keys.test.ts has the plain SPKI and PKCS#1 PEMs with kid rsa.
  const confusion: Attack[] = []
  const rsaSpki = rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const rsaPkcs1 = rsaKey.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string
  const ecSpki = ecKey.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const knownKeys: Array<[string, string | Buffer]> = [
    ['the RSA SPKI PEM with CRLF line ends', rsaSpki.replace(/\n/g, '\r\n')],
    ['the RSA SPKI PEM after a newline', `\n${rsaSpki}`],
    ['the RSA SPKI PEM after spaces', `   ${rsaSpki}`],
    ['the RSA SPKI PEM after a BOM', `\ufeff${rsaSpki}`],
    ['the RSA SPKI PEM after other text', `key: ${rsaSpki}`],
    ['the RSA PKCS#1 PEM after a tab', `\t${rsaPkcs1}`],
    ['the RSA SPKI DER bytes', rsaKey.publicKey.export({ type: 'spki', format: 'der' })],
    ['the RSA PKCS#1 DER bytes', rsaKey.publicKey.export({ type: 'pkcs1', format: 'der' })],
    ['the base64 body of the RSA PEM', rsaSpki.replace(/-----[A-Z ]+-----|\s/g, '')],
    ['the EC SPKI PEM', ecSpki],
    ['the EC SPKI PEM, trimmed', ecSpki.trim()],
    ['the EC SPKI DER bytes', ecKey.publicKey.export({ type: 'spki', format: 'der' })],
    ['the RSA public JWK as JSON', JSON.stringify(rsaKey.publicKey.export({ format: 'jwk' }))],
    ['the RSA public JWK as JSON with kid, alg and use', JSON.stringify({ ...rsaKey.publicKey.export({ format: 'jwk' }), kid: 'rsa', alg: 'RS256', use: 'sig' })],
    ['the EC public JWK as JSON with kid, alg and use', JSON.stringify({ ...ecKey.publicKey.export({ format: 'jwk' }), kid: 'ec', alg: 'ES256', use: 'sig' })],
    ['the RSA modulus n', String(rsaKey.publicKey.export({ format: 'jwk' }).n)]
  ]
  if (target.jwksText !== null) {
    knownKeys.push(['the JWKS route body, byte for byte', target.jwksText])
    const served = JSON.parse(target.jwksText) as { keys: Json[] }
    for (const jwk of served.keys) knownKeys.push([`the served JWK of ${String(jwk.kid)}, byte for byte`, JSON.stringify(jwk)])
  }
  for (const [keyName, key] of knownKeys) {
    for (const kid of kids) confusion.push({ name: `HS256 keyed with ${keyName}, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS256' }, kid), escalated, hmac(key)) })
  }
  for (const kid of kids) {
    confusion.push({ name: `HS384 keyed with the RSA SPKI PEM, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS384' }, kid), escalated, hmac(rsaSpki, 384)) })
    confusion.push({ name: `HS512 keyed with the EC SPKI PEM, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS512' }, kid), escalated, hmac(ecSpki, 512)) })
    confusion.push({ name: `PS256 by the attacker's RSA key, kid ${String(kid)}`, token: jws(withKid({ alg: 'PS256' }, kid), escalated, rsa(attackerRsa.privateKey, true)) })
    confusion.push({ name: `RS256 by the attacker's RSA key, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256' }, kid), escalated, rsa(attackerRsa.privateKey)) })
    confusion.push({ name: `ES256 by the attacker's EC key, kid ${String(kid)}`, token: jws(withKid({ alg: 'ES256' }, kid), escalated, ecdsa(attackerEc.privateKey)) })
  }
  if (mode === 'keys') {
    confusion.push({ name: 'PS256 header on the RS256 key, the genuine ES256 signature', token: `${part({ alg: 'PS256', typ: 'at+jwt', kid: 'rsa' })}.${p}.${s}` })
    confusion.push({ name: 'EdDSA header on the EC key', token: `${part({ alg: 'EdDSA', typ: 'at+jwt', kid: 'ec' })}.${p}.${s}` })
    confusion.push({ name: 'ES256 signature in DER instead of P1363', token: `${h}.${p}.${createSign('SHA256').update(`${h}.${p}`).sign(attackerEc.privateKey).toString('base64url')}` })
  } else {
    confusion.push({ name: 'ES256 header on the HMAC secret, the genuine HMAC as signature', token: `${part({ ...header, alg: 'ES256' })}.${p}.${s}` })
    confusion.push({ name: 'HS512 header on the HS256 secret, HMAC-SHA512 with a weak key', token: jws({ ...header, alg: 'HS512' }, escalated, hmac('secret', 512)) })
  }
  list.push({ title: 'key confusion: public keys, JWK and JWKS text as HMAC secrets (CVE-2015-9235, CVE-2016-10555, CVE-2022-23541, CVE-2023-48223, CVE-2026-34950, GHSA-g3jj-5cmm-3hxx)', attacks: confusion, paths: ['/me', '/admin'] })

  // 4. Embedded and remote keys: jwk (CVE-2018-0114 node-jose; jwt_tool -X i; PortSwigger "jwk
  // header injection"), jku / x5u (jwt_tool -X s; PortSwigger "jku header injection"), x5c.
  // None of these may be trusted or fetched: the listener counts requests.
  const attackerEcJwk = attackerEc.publicKey.export({ format: 'jwk' })
  const attackerRsaJwk = attackerRsa.publicKey.export({ format: 'jwk' })
  const attackerDer = attackerRsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')
  const thumbprint = createHash('sha256').update(JSON.stringify({ crv: attackerEcJwk.crv, kty: attackerEcJwk.kty, x: attackerEcJwk.x, y: attackerEcJwk.y })).digest('base64url')
  const remote: Attack[] = []
  for (const kid of [...kids, thumbprint]) {
    remote.push(
      { name: `embedded EC jwk, kid ${String(kid)}`, token: jws(withKid({ alg: 'ES256', jwk: { ...attackerEcJwk, kid } }, kid), escalated, ecdsa(attackerEc.privateKey)) },
      { name: `embedded RSA jwk, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256', jwk: attackerRsaJwk }, kid), escalated, rsa(attackerRsa.privateKey)) },
      { name: `embedded oct jwk with its HMAC, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS256', jwk: { kty: 'oct', k: part('attacker') } }, kid), escalated, hmac('attacker')) },
      { name: `jku to the listener, RS256, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256', jku: `${url}/jwks.json` }, kid), escalated, rsa(attackerRsa.privateKey)) },
      { name: `jku with userinfo to the listener, kid ${String(kid)}`, token: jws(withKid({ alg: 'ES256', jku: `http://auth.example.test@127.0.0.1:${url.split(':')[2] as string}/` }, kid), escalated, ecdsa(attackerEc.privateKey)) },
      { name: `x5u to the listener, RS256, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256', x5u: `${url}/cert.pem` }, kid), escalated, rsa(attackerRsa.privateKey)) },
      { name: `x5c with the attacker's key, kid ${String(kid)}`, token: jws(withKid({ alg: 'RS256', x5c: [attackerDer] }, kid), escalated, rsa(attackerRsa.privateKey)) },
      { name: `x5t#S256 and jku together, kid ${String(kid)}`, token: jws(withKid({ alg: 'ES256', jku: url, 'x5t#S256': thumbprint, x5t: thumbprint }, kid), escalated, ecdsa(attackerEc.privateKey)) }
    )
  }
  list.push({ title: 'embedded and remote key headers: jwk, jku, x5u, x5c (CVE-2018-0114)', attacks: remote, paths: ['/me', '/admin'] })

  // 5. kid injection (jwt_tool -I -hc kid; PortSwigger "kid header path traversal"; CVE-2022-23529
  // and CVE-2022-23541 jsonwebtoken, where the key lookup is attacker-steered). Each kid is tried
  // with the key its exploit predicts (an empty file, a file holding "2", a SQL-injected "key"),
  // and behind the genuine signature (keys mode: a lookup that is not exact would pass it).
  const injections: Array<[string, unknown, string | Buffer]> = [
    ['path traversal to /dev/null', '../../../../../../../../dev/null', ''],
    ['absolute /dev/null', '/dev/null', ''],
    ['traversal to a known file', '../../../../../../proc/sys/kernel/randomize_va_space', '2\n'],
    ['filter-evading traversal', '....//....//....//etc/passwd', ''],
    ['a file URL', 'file:///dev/null', ''],
    ['SQL injection', "x' UNION SELECT 'key' -- ", 'key'],
    ['SQL tautology', "' OR '1'='1", 'key'],
    ['command injection with a pipe', 'ec|sleep 5', ''],
    ['command substitution', '$(sleep 5)', ''],
    ['backticks', '`sleep 5`', ''],
    ['a NUL byte after the kid', 'ec\u0000', ''],
    ['a NUL byte and an extension', 'ec\u0000.pem', ''],
    ['a trailing newline', 'ec\n', ''],
    ['a leading space', ' ec', ''],
    ['another case', 'EC', ''],
    ['a lone surrogate', '\ud800', ''],
    ['very long (4096 characters)', 'k'.repeat(4096), ''],
    ['null', null, ''],
    ['true', true, ''],
    ['an object', { $ne: null }, ''],
    ['an array holding the real kid', ['ec'], ''],
    ['constructor', 'constructor', ''],
    ['toString', 'toString', ''],
    ['hasOwnProperty', 'hasOwnProperty', ''],
    ['prototype', 'prototype', ''],
    ['__defineGetter__', '__defineGetter__', '']
  ]
  const kidAttacks: Attack[] = []
  for (const [name, kid, key] of injections) {
    kidAttacks.push({ name: `kid ${name}, HS256 with the predicted key`, token: jws({ alg: 'HS256', typ: 'at+jwt', kid }, escalated, hmac(key)) })
    kidAttacks.push({ name: `kid ${name}, the genuine signature`, token: `${part({ ...header, kid })}.${p}.${s}` })
    kidAttacks.push({ name: `kid ${name}, signed by the issuer`, token: jws({ ...header, kid }, claims, target.issuerSign) })
  }
  // In secret mode the kid is not read at all: the issuer-signed ones are genuine there.
  list.push({ title: 'kid injection: traversal, SQL, command, NUL, long, non-string, prototype names (CVE-2022-23529, CVE-2022-23541)', attacks: mode === 'keys' ? kidAttacks : kidAttacks.filter(attack => !attack.name.endsWith('signed by the issuer')) })

  // 6. Weak-secret re-signing (jwt_tool -C -d; PortSwigger "weak signing key"; hashcat -m 16500
  // with jwt.secrets.list).
  const weak: Attack[] = []
  for (const guess of ['secret', 'password', '', 'secret123', 'changeme', '123456', 'your-256-bit-secret', 'jwt', 'key', 'test', 'fastify-jwt-auth', issuer, audience, 'auth.example.test']) {
    for (const kid of kids) {
      weak.push({ name: `HS256 with ${JSON.stringify(guess)}, kid ${String(kid)}`, token: jws(withKid({ alg: 'HS256' }, kid), escalated, hmac(guess)) })
    }
  }
  weak.push({ name: 'HS384 with "secret"', token: jws({ alg: 'HS384', typ: 'at+jwt' }, escalated, hmac('secret', 384)) })
  weak.push({ name: 'HS512 with "secret"', token: jws({ alg: 'HS512', typ: 'at+jwt' }, escalated, hmac('secret', 512)) })
  list.push({ title: 'weak-secret re-signing (jwt_tool -C, PortSwigger weak signing key)', attacks: weak, paths: ['/me', '/admin'] })

  // 7. Claim tampering behind the genuine signature (PortSwigger "unverified signature").
  const tamper = (name: string, changes: Json): Attack => ({ name, token: `${h}.${part({ ...claims, ...changes })}.${s}` })
  const tampering: Attack[] = [
    tamper('roles raised to admin', { roles: ['admin'] }),
    tamper('sub changed', { sub: 'admin' }),
    tamper('exp pushed a year ahead', { exp: now + 365 * 86400 }),
    tamper('exp removed', { exp: undefined }),
    tamper('sid of another session', { sid: `${String(claims.sid)}x` }),
    tamper('jti changed (to dodge a denylist)', { jti: 'another' }),
    tamper('scope added', { scope: 'admin reports:write' }),
    tamper('aud widened to an array', { aud: [audience, 'other'] }),
    { name: 'same claims with a trailing space in the JSON', token: `${h}.${part(`${JSON.stringify(claims)} `)}.${s}` },
    { name: 'typ JWT behind the genuine signature', token: `${part({ ...header, typ: 'JWT' })}.${p}.${s}` },
    { name: 'an extra header field behind the genuine signature', token: `${part({ ...header, x: 1 })}.${p}.${s}` },
    { name: 'header and payload swapped', token: `${p}.${h}.${s}` },
    { name: 'the signature reversed', token: `${h}.${p}.${s.split('').reverse().join('')}` }
  ]
  list.push({ title: 'claim tampering behind the genuine signature (PortSwigger unverified signature)', attacks: tampering, paths: ['/me', '/admin'] })

  // 8. Malformed input classes (jsrsasign CVE-2022-25898 and fast-jwt's canonical-alphabet check:
  // non-base64url characters; RFC 7515 §7.1 segment counts; RFC 7519 §7.2 JSON objects; JWE-shaped
  // tokens including jose CVE-2022-36083 PBES2 p2c and CVE-2024-28176 zip, which must not be
  // processed at all; GHSA-5hjw-83fp-phq9 array payloads; RFC 7515 §4 duplicate names).
  const standard = (segment: string): string => Buffer.from(segment, 'base64url').toString('base64')
  const plusSlash = part({ ...header, pad: '>>>???' }) // base64url with - and _ in it
  const malformed: Attack[] = [
    { name: '1 segment: the header', token: h },
    { name: '1 segment: a word', token: 'abc' },
    { name: '2 segments', token: `${h}.${p}` },
    { name: '4 segments', token: `${h}.${p}.${s}.${s}` },
    { name: '4 segments, trailing dot', token: `${target.access}.` },
    { name: '5 segments, JWE dir', token: `${part({ alg: 'dir', enc: 'A256GCM', kid: header.kid })}..${part('iviviviviviv')}.${p}.${part('tagtagtagtagtagt')}` },
    { name: '5 segments, JWE PBES2 with p2c 2^31 (CVE-2022-36083)', token: `${part({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2 ** 31, p2s: part('salt') })}.${part('k')}.${part('iv')}.${p}.${part('tag')}` },
    { name: '5 segments, JWE zip DEF (CVE-2024-28176)', token: `${part({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}..${part('iv')}.${part(Buffer.alloc(512))}.${part('tag')}` },
    { name: 'empty payload segment', token: `${h}..${s}` },
    { name: 'only dots', token: '..' },
    { name: 'header in standard base64 with + and /', token: `${part({ ...header, pad: '>>>???' }).replace(/-/g, '+').replace(/_/g, '/')}.${p}.${s}` },
    { name: 'base64url header with - and _ (control of the line above: still a bad signature)', token: `${plusSlash}.${p}.${s}` },
    { name: 'signature in standard base64', token: `${h}.${p}.${standard(s).replace(/=+$/, '')}` },
    { name: 'padding after the header', token: `${h}==.${p}.${s}` },
    { name: 'the header in standard base64 with its padding', token: `${standard(part({ ...header, x: 1 }))}.${p}.${s}` },
    { name: 'padding on the signature', token: `${h}.${p}.${s}==` },
    { name: 'padding inside the payload', token: `${h}.${p.slice(0, 4)}=${p.slice(4)}.${s}` },
    { name: 'a space inside the token', token: `${h}. ${p}.${s}` },
    { name: 'header JSON null', token: jws('null', escalated, hmac('')) },
    { name: 'header JSON array', token: jws(JSON.stringify([header]), escalated, hmac('')) },
    { name: 'header JSON number', token: jws('1', escalated, hmac('')) },
    { name: 'header JSON string', token: jws('"HS256"', escalated, hmac('')) },
    { name: 'header JSON true', token: jws('true', escalated, hmac('')) },
    { name: 'header {}', token: jws('{}', escalated, hmac('')) },
    { name: 'header not JSON', token: jws('{alg:HS256}', escalated, hmac('')) },
    { name: 'payload JSON null, genuine header', token: jws(header, 'null', s) },
    { name: 'payload JSON array (GHSA-5hjw-83fp-phq9)', token: jws(header, JSON.stringify([claims]), s) },
    { name: 'payload JSON number', token: jws(header, '1', s) },
    { name: 'payload JSON string', token: jws(header, '"alice"', s) },
    { name: 'two alg names, none last', token: `${part(`{"alg":${JSON.stringify(header.alg)},"typ":"at+jwt"${header.kid === undefined ? '' : ',"kid":"ec"'},"alg":"none"}`)}.${part(escalated)}.` },
    { name: 'two alg names, none first, HS256 with the empty key', token: jws(`{"alg":"none","typ":"at+jwt","alg":"HS256"}`, escalated, hmac('')) },
    { name: 'two kid names, rsa last, HS256 with the PEM', token: jws(`{"alg":"HS256","typ":"at+jwt","kid":"ec","kid":"rsa"}`, escalated, hmac(rsaSpki)) },
    { name: 'two typ names, at+jwt last, genuine signature', token: `${part(`{"alg":${JSON.stringify(header.alg)},"typ":"JWT"${header.kid === undefined ? '' : ',"kid":"ec"'},"typ":"at+jwt"}`)}.${p}.${s}` },
    { name: 'non-UTF-8 bytes in the header', token: `${part(Buffer.from([0x7b, 0x22, 0x61, 0x6c, 0x67, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]))}.${p}.${s}` },
    { name: 'overlong UTF-8 in the payload', token: `${h}.${part(Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]))}.${s}` },
    { name: 'a BOM before the header JSON', token: `${part(`\ufeff${JSON.stringify(header)}`)}.${p}.${s}` },
    { name: 'deeply nested header JSON', token: jws(`{"alg":"HS256","x":${'['.repeat(3000)}${']'.repeat(3000)}}`, escalated, hmac('')) },
    { name: 'an 8 KB token', token: jws(header, { ...escalated, pad: 'x'.repeat(8192) }, s) },
    { name: 'a 14 KB token (just under the header limit)', token: jws(header, { ...escalated, pad: 'x'.repeat(10_000) }, ecdsa(attackerEc.privateKey)) },
    { name: 'a huge number in the payload', token: jws(header, `{"exp":1${'0'.repeat(5000)},"sub":"alice"}`, s) },
    { name: 'crit with an unknown extension (GHSA-hm7r-c7qw-ghp6)', token: jws({ ...header, crit: ['x-policy'], 'x-policy': 'mfa' }, escalated, hmac('')) },
    { name: 'crit b64 false (RFC 7797)', token: jws({ ...header, crit: ['b64'], b64: false }, escalated, hmac('')) },
    { name: 'the refresh token as an access token', token: target.refresh },
    { name: 'the refresh token with two dots', token: `${target.refresh}.x` }
  ]
  list.push({ title: 'malformed tokens: segments, alphabet, padding, non-object JSON, duplicate names, bad UTF-8, size, crit, JWE (CVE-2022-25898, CVE-2022-36083, CVE-2024-28176, GHSA-5hjw-83fp-phq9, GHSA-hm7r-c7qw-ghp6)', attacks: malformed })
  return list
}

/**
 * Issuer-signed tokens with odd values in claims the plugin makes no decision on, or that only an
 * issuer could put there: taken or refused, never a 5xx. (Reported in the Hardening issue: iat is
 * not type-checked, and an exp of 1e400 parses to Infinity and never expires.)
 */
function issuerSignedTolerated (target: Target): Attack[] {
  const text = JSON.stringify(target.claims)
  const now = Math.floor(Date.now() / 1000)
  return [
    { name: 'iat as a string', token: jws(target.header, { ...target.claims, iat: String(now) }, target.issuerSign) },
    { name: 'iat in the future', token: jws(target.header, { ...target.claims, iat: now + 86400 }, target.issuerSign) },
    { name: 'exp 1e400 (Infinity once parsed)', token: jws(target.header, text.replace(/"exp":\d+/, '"exp":1e400'), target.issuerSign) },
    { name: 'exp 1e300', token: jws(target.header, { ...target.claims, exp: 1e300 }, target.issuerSign) },
    { name: 'nbf -1e400', token: jws(target.header, text.replace(/}$/, ',"nbf":-1e400}'), target.issuerSign) }
  ]
}

/** Tokens signed with the real key whose claims or header the plugin must still refuse. */
function issuerSigned (target: Target): Attack[] {
  const { header, claims } = target
  const now = Math.floor(Date.now() / 1000)
  const sign = (name: string, changes: Json, headerChanges: Json = {}): Attack =>
    ({ name, token: jws({ ...header, ...headerChanges }, { ...claims, ...changes }, target.issuerSign) })
  const raw = (name: string, payloadText: string): Attack => ({ name, token: jws(header, payloadText, target.issuerSign) })
  return [
    sign('exp as a string', { exp: String(now + 600) }),
    sign('exp null', { exp: null }),
    sign('exp true', { exp: true }),
    sign('exp an object', { exp: { $gt: 0 } }),
    sign('exp an array', { exp: [now + 600] }),
    sign('exp negative', { exp: -1 }),
    sign('exp zero', { exp: 0 }),
    sign('exp fractional, past', { exp: now - 3600.5 }),
    sign('exp "NaN"', { exp: 'NaN' }),
    sign('exp "Infinity"', { exp: 'Infinity' }),
    sign('nbf as a string', { nbf: String(now) }),
    raw('nbf 1e400 (Infinity once parsed): never valid', JSON.stringify(claims).replace(/}$/, ',"nbf":1e400}')),
    sign('sub an object', { sub: { $ne: null } }),
    sign('sub an array', { sub: [claims.sub] }),
    sign('sub a number', { sub: 1 }),
    sign('sub null', { sub: null }),
    sign('sub empty', { sub: '' }),
    sign('sub of another user with this session', { sub: 'bob' }),
    sign('sid unknown', { sid: 'A'.repeat(22) + 'Ym9i' }),
    sign('sid an object', { sid: { $ne: null } }),
    sign('jti a number', { jti: 1 }),
    sign('jti an object', { jti: {} }),
    sign('aud an array without ours', { aud: ['other', 'another'] }),
    sign('aud an empty array', { aud: [] }),
    sign('aud in another case', { aud: audience.toUpperCase() }),
    sign('aud an object', { aud: { 0: audience } }),
    sign('iss in another case', { iss: issuer.toUpperCase() }),
    sign('iss with a trailing slash', { iss: `${issuer}/` }),
    sign('iss an array', { iss: [issuer] }),
    sign('iss missing', { iss: undefined }),
    sign('exp missing', { exp: undefined }),
    sign('sid missing', { sid: undefined }),
    raw('payload an array (GHSA-5hjw-83fp-phq9)', JSON.stringify([claims])),
    raw('payload null', 'null'),
    raw('payload a string', JSON.stringify('alice')),
    sign('crit with an unknown extension (GHSA-hm7r-c7qw-ghp6)', {}, { crit: ['x-policy'], 'x-policy': 'mfa' }),
    sign('crit b64 false (RFC 7797)', {}, { crit: ['b64'], b64: false }),
    sign('crit empty', {}, { crit: [] }),
    sign('crit not an array', {}, { crit: 'exp' }),
    sign('crit naming alg', {}, { crit: ['alg'] }),
    ...rejectedTyps.map(([name, typ]) => sign(`typ ${name}`, {}, { typ }))
  ]
}

// RFC 8725 §3.11 and RFC 9068 §4: an access token says typ at+jwt. RFC 7515 §4.1.9 makes typ a
// media type, compared case-insensitively, whose "application/" prefix may be left out; the
// plugin (through fast-jwt) therefore takes these spellings and nothing else.
const acceptedTyps = ['at+jwt', 'AT+JWT', 'At+Jwt', 'application/at+jwt', 'APPLICATION/AT+JWT']
const rejectedTyps: Array<[string, unknown]> = [
  ['JWT', 'JWT'], ['jwt', 'jwt'], ['application/jwt', 'application/jwt'], ['with a trailing space', 'at+jwt '],
  ['with a leading space', ' at+jwt'], ['with a parameter', 'at+jwt; charset=utf-8'], ['application/ twice', 'application/application/at+jwt'],
  ['x-at+jwt', 'x-at+jwt'], ['at-jwt', 'at-jwt'], ['secevent+jwt', 'secevent+jwt'], ['dpop+jwt', 'dpop+jwt'], ['id_token', 'id_token'],
  ['with a NUL', 'at+jwt\u0000'], ['missing', undefined], ['null', null], ['a number', 1], ['an array', ['at+jwt']], ['an object', {}]
]

// --- the tests ------------------------------------------------------------------------------

for (const mode of ['secret', 'keys'] as const) {
  t.test(`${mode} mode`, async t => {
    const target = await buildTarget(mode)
    t.teardown(() => target.app.close())
    const transports: Array<[string, Send]> = [['inject', viaInject(target.app)], ['http', viaHttp(target.port)]]
    const hitsBefore = listenerHits
    let requests = 0

    for (const group of groups(target)) {
      t.test(group.title, async t => {
        t.ok(group.attacks.length > 0, 'has cases')
        for (const [transport, send] of transports) {
          for (const attack of group.attacks) {
            t.not(attack.token, target.access, `${attack.name}: differs from the genuine token`)
            for (const path of group.paths ?? ['/me']) {
              requests++
              assertRefused(t, await send({ url: path, headers: { authorization: `Bearer ${attack.token}` } }), `${transport} ${path} bearer: ${attack.name}`)
            }
            // The same token as the access cookie, where a cookie can carry it.
            if (/^[A-Za-z0-9._~+/=-]+$/.test(attack.token)) {
              requests++
              assertRefused(t, await send({ url: '/me', headers: { cookie: `access_token=${attack.token}` } }), `${transport} cookie: ${attack.name}`)
            }
          }
        }
      })
    }

    t.test('issuer-signed tokens with malformed claims, crit or typ are 401 (RFC 7519 §7.2, RFC 8725 §3.11, GHSA-5hjw-83fp-phq9)', async t => {
      for (const [transport, send] of transports) {
        for (const attack of issuerSigned(target)) {
          requests++
          assertRefused(t, await send({ url: '/me', headers: { authorization: `Bearer ${attack.token}` } }), `${transport}: ${attack.name}`, [401])
        }
      }
    })

    t.test('issuer-signed tokens with odd but harmless claim values are never 5xx', async t => {
      for (const [transport, send] of transports) {
        for (const attack of issuerSignedTolerated(target)) {
          const answer = await send({ url: '/me', headers: { authorization: `Bearer ${attack.token}` } })
          requests++
          t.ok(answer.status === 200 || answer.status === 401, `${transport}: ${attack.name}: ${answer.status}`)
          t.ok(answer.ms < promptMs, `${transport}: ${attack.name}: answered in ${answer.ms} ms`)
        }
      }
    })

    t.test('typ is at+jwt in any case, with or without application/: taken the same way over both transports', async t => {
      for (const [transport, send] of transports) {
        for (const typ of acceptedTyps) {
          const token = jws({ ...target.header, typ }, target.claims, target.issuerSign)
          const answer = await send({ url: '/me', headers: { authorization: `Bearer ${token}` } })
          requests++
          t.equal(answer.status, 200, `${transport}: issuer-signed typ ${typ} is an access token`)
          if (typ === target.header.typ) continue // that header is the genuine one
          const forged = `${part({ ...target.header, typ })}.${target.segments[1]}.${target.segments[2]}`
          requests++
          assertRefused(t, await send({ url: '/me', headers: { authorization: `Bearer ${forged}` } }), `${transport}: typ ${typ} behind the genuine signature of another header`, [401])
        }
      }
    })

    t.test('a JSON __proto__ claim pollutes nothing and grants nothing', async t => {
      const { roles: _roles, ...withoutRoles } = target.claims
      const text = `{"__proto__":{"roles":["admin"],"polluted":true},${JSON.stringify(withoutRoles).slice(1)}`
      const token = jws(target.header, text, target.issuerSign)
      for (const [transport, send] of transports) {
        const admin = await send({ url: '/admin', headers: { authorization: `Bearer ${token}` } })
        t.equal(admin.status, 403, `${transport}: authenticated, but no admin role came from __proto__`)
        const me = await send({ url: '/me', headers: { authorization: `Bearer ${token}` } })
        t.equal(me.status, 200, `${transport}: the token itself is genuine`)
        t.equal(({} as { polluted?: boolean }).polluted, undefined, `${transport}: Object.prototype untouched`)
      }
    })

    t.test('header and cookie together: a forgery next to a valid token is never taken', async t => {
      const forged = `${part({ ...target.header, alg: 'none' })}.${target.segments[1]}.`
      for (const [transport, send] of transports) {
        assertRefused(t, await send({ url: '/me', headers: { authorization: `Bearer ${forged}`, cookie: `access_token=${target.access}` } }), `${transport}: forged header, valid cookie`)
        assertRefused(t, await send({ url: '/me', headers: { authorization: `Bearer ${target.access}`, cookie: `access_token=${forged}` } }), `${transport}: valid header, forged cookie`)
        assertRefused(t, await send({ url: '/me', headers: { authorization: `Bearer ${forged}`, cookie: `access_token=${forged}` } }), `${transport}: the same forgery in both`)
        assertRefused(t, await send({ url: '/me', headers: { cookie: `access_token=${forged}; access_token=${target.access}` } }), `${transport}: two access cookies, the forgery first`)
        requests += 4
      }
    })

    t.test('a non-canonical spelling of a genuine signature names the same token: revoking one revokes both', async t => {
      // RFC 4648 §3.5: the unused low bits of the last base64url character, and for ECDSA the
      // (r, n - s) twin, give other strings for the same signed token. Whatever the verifier makes
      // of them, they carry the same jti and session, so revocation, keyed on those, holds.
      const own = await loginOn(target.app, 'mallory')
      const [h, p, s] = own.access_token.split('.') as [string, string, string]
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const last = alphabet.indexOf(s[s.length - 1] as string)
      const spellings = alphabet.split('').filter((_c, i) => i !== last && (i >> (mode === 'secret' ? 2 : 4)) === (last >> (mode === 'secret' ? 2 : 4)))
        .map(c => `${h}.${p}.${s.slice(0, -1)}${c}`)
      if (mode === 'keys') {
        const bytes = Buffer.from(s, 'base64url')
        const high = p256Order - BigInt(`0x${bytes.subarray(32).toString('hex')}`)
        spellings.push(`${h}.${p}.${Buffer.concat([bytes.subarray(0, 32), Buffer.from(high.toString(16).padStart(64, '0'), 'hex')]).toString('base64url')}`)
      }
      t.ok(spellings.length >= 3, 'there are other spellings')
      const jti = decodeSegment(p).jti
      const accepted: string[] = []
      for (const spelling of spellings) {
        t.not(spelling, own.access_token)
        const answer = await target.app.inject({ url: '/me', headers: { authorization: `Bearer ${spelling}` } })
        t.ok(answer.statusCode === 200 || answer.statusCode === 401, `${spelling.slice(-6)}: ${answer.statusCode}`)
        if (answer.statusCode === 200) {
          t.equal(answer.json().jti, jti, 'the same token, not a new one')
          accepted.push(spelling)
        }
      }
      // Revoke through another spelling when one is taken (the interesting direction), else directly.
      const revoke = await target.app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: accepted[0] ?? own.access_token } })
      t.equal(revoke.statusCode, 200)
      for (const spelling of [own.access_token, ...spellings]) {
        t.equal((await target.app.inject({ url: '/me', headers: { authorization: `Bearer ${spelling}` } })).statusCode, 401, `${spelling.slice(-6)}: revoked`)
      }
    })

    t.test('forged access tokens posted to /auth/revoke and /auth/logout end nothing', async t => {
      const victim = await loginOn(target.app, 'victim')
      const [, p] = victim.access_token.split('.') as [string, string, string]
      const victimClaims = decodeSegment(p)
      const forgeries = [
        `${part({ ...target.header, alg: 'none' })}.${p}.`,
        jws({ alg: 'HS256', typ: 'at+jwt', ...(mode === 'keys' ? { kid: 'rsa' } : {}) }, victimClaims, hmac(rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string)),
        jws({ alg: 'HS256', typ: 'at+jwt' }, victimClaims, hmac(''))
      ]
      for (const forged of forgeries) {
        const revoke = await target.app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: forged } })
        t.equal(revoke.statusCode, 200, 'RFC 7009: 200 for a token it does not know')
        const logout = await target.app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${forged}` } })
        assertRefused(t, { status: logout.statusCode, body: logout.body, ms: 0 }, 'logout with only a forged access token')
      }
      // A made-up secret with the victim's session id, which any access token shows in its sid.
      const madeUp = `${String(victimClaims.sid)}.${randomBytes(32).toString('base64url')}`
      const logout = await target.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: madeUp } })
      t.equal(logout.statusCode, 204, 'logout is idempotent for an unknown refresh token')
      const revoke = await target.app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: madeUp } })
      t.equal(revoke.statusCode, 200)
      t.equal((await target.app.inject({ url: '/me', headers: { authorization: `Bearer ${victim.access_token}` } })).statusCode, 200, 'the victim is still logged in')
      t.equal((await target.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: victim.refresh_token } })).statusCode, 200, 'and can still refresh')
    })

    t.test('over the socket only: oversized, non-UTF-8, NUL, folded and duplicated headers', async t => {
      const big = `Authorization: Bearer ${target.segments[0]}.${'A'.repeat(17_000)}.${target.segments[2]}`
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [big])), 'a token over the 16 KB header limit', [431])
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [`Cookie: access_token=${'A'.repeat(17_000)}`])), 'a cookie over the 16 KB header limit', [431])
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [Buffer.concat([Buffer.from('Authorization: Bearer '), Buffer.from([0xff, 0xfe, 0x80])])])), 'non-UTF-8 bytes in the header')
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [Buffer.from(`Authorization: Bearer ${target.segments[0]}.é.${target.segments[2]}`, 'utf8')])), 'UTF-8 in the header')
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [Buffer.concat([Buffer.from(`Cookie: access_token=${target.segments[0]}.`), Buffer.from([0xc0, 0xaf]), Buffer.from(`.${target.segments[2]}`)])])), 'non-UTF-8 bytes in the cookie')
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [`Authorization: Bearer ${target.access}\u0000`])), 'a NUL after the token', [400], 'parser')
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', ['Authorization: Bearer', ` ${target.access}`])), 'an obs-folded header', [400], 'parser')
      const forged = `${part({ ...target.header, alg: 'none' })}.${target.segments[1]}.`
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [`Authorization: Bearer ${forged}`, `Authorization: Bearer ${target.access}`])), 'two Authorization headers, the forgery first')
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [`Cookie: access_token=${forged}`, `Cookie: access_token=${target.access}`])), 'two Cookie headers, the forgery first')
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [`Authorization: Bearer ${forged}`, `Authorization: Bearer ${forged}`])), 'two forged Authorization headers')
      const many = Array.from({ length: 200 }, (_v, i) => `X-Pad-${i}: ${forged}`)
      assertRefused(t, await rawHttp(target.port, rawRequest('/me', [...many, `Authorization: Bearer ${forged}`])), '200 extra headers around a forgery', [401, 431, connectionReset])
      requests += 11
    })

    t.test('the refresh endpoint: garbage, oversized and wrong-typed tokens and bodies are 400, never 5xx', async t => {
      const victim = await loginOn(target.app, 'refresher')
      const [sessionId] = victim.refresh_token.split('.') as [string, string]
      const json = (body: unknown): Outgoing => ({ method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
      const form = (body: string): Outgoing => ({ method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
      const cases: Array<[string, Outgoing, number[]?]> = [
        ['garbage token', json({ refresh_token: 'garbage' })],
        ['a token of 4097 characters', json({ refresh_token: 'a'.repeat(4097) })],
        ['a token of 4096 characters', json({ refresh_token: 'a'.repeat(4096) })],
        ['a session id of 4000 characters', json({ refresh_token: `${'A'.repeat(4000)}.${'A'.repeat(43)}` })],
        ['token null', json({ refresh_token: null })],
        ['token true', json({ refresh_token: true })],
        ['token a number', json({ refresh_token: 1e308 })],
        ['token an array', json({ refresh_token: [victim.refresh_token, 'x'] })],
        ['token an object', json({ refresh_token: { $ne: null } })],
        ['grant_type an array', json({ grant_type: ['refresh_token', 'password'], refresh_token: 'x' })],
        ['grant_type in capitals', json({ grant_type: 'REFRESH_TOKEN', refresh_token: 'x' })],
        ['grant_type with a NUL', json({ grant_type: 'refresh_token\u0000', refresh_token: 'x' })],
        ['grant_type of 65 characters', json({ grant_type: 'g'.repeat(65), refresh_token: 'x' })],
        ['path traversal as the session id', json({ refresh_token: `../../../etc/passwd.${'A'.repeat(43)}` })],
        ['a Redis glob as the session id', json({ refresh_token: `${'A'.repeat(22)}*.${'A'.repeat(43)}` })],
        ['a hash-tag breakout in the sub', json({ refresh_token: `${'A'.repeat(22)}${part('}:x{')}.${'A'.repeat(43)}` })],
        ['an unknown user', json({ refresh_token: `${'A'.repeat(22)}${part('admin')}.${'A'.repeat(43)}` })],
        ['the secret with a NUL', json({ refresh_token: `${sessionId}.${'A'.repeat(42)}\u0000` })],
        ['the access token', json({ refresh_token: victim.access_token })],
        ['an alg none JWT', json({ refresh_token: `${part({ alg: 'none' })}.${part({ sub: 'refresher' })}.` })],
        ['body null', json('null')],
        ['body an array', json('[]')],
        ['body a number', json('1')],
        ['body true', json('true')],
        ['body an empty string', json('')],
        ['body not JSON', json('{"refresh_token":')],
        ['body with __proto__', json(`{"__proto__":{"refresh_token":${JSON.stringify(victim.refresh_token)}}}`)],
        ['body with constructor.prototype', json('{"constructor":{"prototype":{"refresh_token":"x"}}}')],
        ['a deeply nested body', json(`{"refresh_token":${'['.repeat(4000)}${']'.repeat(4000)}}`)],
        ['a body with 500 keys', json(JSON.stringify(Object.fromEntries(Array.from({ length: 500 }, (_v, i) => [`k${i}`, i]))))],
        ['a deeply nested body over the 8 KiB body limit', json(`{"refresh_token":${'['.repeat(5000)}${']'.repeat(5000)}}`), [413]],
        ['form with a bad percent escape', form('refresh_token=%E0%A4%A')],
        ['form with a NUL', form('refresh_token=%00')],
        ['form with brackets', form('refresh_token[]=x&refresh_token[]=y')],
        ['form with a huge token', form(`refresh_token=${'a'.repeat(5000)}`)],
        ['form over the 8 KiB body limit', form(`refresh_token=${'a'.repeat(20_000)}`), [413]],
        ['JSON over the 8 KiB body limit', json({ refresh_token: 'a'.repeat(1_100_000) }), [413]],
        ['text/plain', { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'text/plain' }, body: victim.refresh_token }],
        ['multipart', { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' }, [415]],
        ['an unknown content type', { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/x-evil' }, body: '{}' }, [415]],
        ['a refresh cookie of garbage', { method: 'POST', url: '/auth/refresh', headers: { cookie: 'refresh_token=%zz%00garbage' } }],
        ['a refresh cookie and a different body token', { ...json({ refresh_token: 'x' }), headers: { 'content-type': 'application/json', cookie: `refresh_token=${victim.refresh_token}` } }]
      ]
      for (const [transport, send] of transports) {
        for (const [name, request, allowed] of cases) {
          const answer = await send(request)
          requests++
          assertRefused(t, answer, `${transport}: ${name}`, allowed ?? [400])
        }
      }
      t.equal((await target.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: victim.refresh_token } })).statusCode, 200, 'none of it spent or revoked the genuine refresh token')
    })

    t.test('a made-up refresh secret for a session id read off an access token is 400 invalid_grant and ends nothing', async t => {
      // The session id is the sid claim of every access token, readable by whoever sees one, even
      // expired: it must not be a switch that logs the victim out.
      const victim = await loginOn(target.app, 'sid-victim')
      const sid = decodeSegment(victim.access_token.split('.')[1] as string).sid as string
      const answer = await target.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: `${sid}.${randomBytes(32).toString('base64url')}` } })
      assertRefused(t, { status: answer.statusCode, body: answer.body, ms: 0 }, 'made-up secret', [400])
      t.equal(answer.json().error, 'invalid_grant')
      t.equal((await target.app.inject({ url: '/me', headers: { authorization: `Bearer ${victim.access_token}` } })).statusCode, 200, 'the victim is still logged in')
    })

    t.test('nothing reached a URL named in a token, and the server is healthy afterwards', async t => {
      t.equal(listenerHits, hitsBefore, 'no request reached the listener')
      t.ok(requests > 500, `${requests} hostile requests were sent`)
      // Several in a row: a stateful matcher would fail every other one (CVE-2026-35040).
      for (const [transport, send] of transports) {
        for (let i = 0; i < 4; i++) {
          const answer = await send({ url: '/me', headers: { authorization: `Bearer ${target.access}` } })
          t.equal(answer.status, 200, `${transport}: the genuine token still passes (${i + 1})`)
        }
        const cookie = await send({ url: '/me', headers: { cookie: `access_token=${target.access}` } })
        t.equal(cookie.status, 200, `${transport}: and by cookie`)
        const fresh = await send({ method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: target.refresh }) })
        t.equal(fresh.status, 200, `${transport}: the genuine refresh token rotates`)
        target.refresh = (JSON.parse(fresh.body) as { refresh_token: string }).refresh_token
      }
    })
  })
}

t.test('jwks mode: jku, x5u and made-up kids never make the service fetch anything but its own JWKS URL', async t => {
  let jwksHits = 0
  const jwksServer = createServer((_request, response) => {
    jwksHits++
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys: [{ ...ecKey.publicKey.export({ format: 'jwk' }), kid: 'ec', alg: 'ES256', use: 'sig' }] }))
  })
  await new Promise<void>(resolve => jwksServer.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { jwksServer.close() })
  const app = Fastify()
  await app.register(jwtAuth, { jwks: { url: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`, cooldown: '1m' }, issuer, audience } as JwtAuthOptions)
  app.get('/me', { preHandler: app.authenticate }, async request => request.user)
  t.teardown(() => app.close())
  const issuerApp = await buildTarget('keys')
  t.teardown(() => issuerApp.app.close())
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${issuerApp.access}` } })).statusCode, 200, 'control: a genuine token verifies')

  const hitsBefore = listenerHits
  const url = listenerUrl()
  const claims = { ...issuerApp.claims, roles: ['admin'] }
  const tokens = [
    jws({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker', jku: url }, claims, ecdsa(attackerEc.privateKey)),
    jws({ alg: 'RS256', typ: 'at+jwt', kid: 'attacker', x5u: url }, claims, rsa(attackerRsa.privateKey)),
    jws({ alg: 'ES256', typ: 'at+jwt', kid: 'ec', jku: url, jwk: attackerEc.publicKey.export({ format: 'jwk' }) }, claims, ecdsa(attackerEc.privateKey)),
    jws({ alg: 'HS256', typ: 'at+jwt', kid: 'ec' }, claims, hmac(JSON.stringify({ ...ecKey.publicKey.export({ format: 'jwk' }), kid: 'ec', alg: 'ES256', use: 'sig' }))),
    ...Array.from({ length: 50 }, (_v, i) => jws({ alg: 'ES256', typ: 'at+jwt', kid: `made-up-${i}`, jku: url }, claims, ecdsa(attackerEc.privateKey)))
  ]
  for (const [i, token] of tokens.entries()) {
    const started = Date.now()
    const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    assertRefused(t, { status: response.statusCode, body: response.body, ms: Date.now() - started }, `token ${i}`, [401])
  }
  t.equal(listenerHits, hitsBefore, 'no jku / x5u was fetched')
  t.ok(jwksHits <= 2, `the JWKS URL was fetched ${jwksHits} times: at registration and at most once per cooldown`)
})
