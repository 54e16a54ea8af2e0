// TLS with a private CA, against a real redis-server --tls-port that asks for client
// certificates: with the right CA and a client certificate the whole flow works; with a wrong CA,
// or without a client certificate, requests answer 503 and the log names the TLS cause.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { RedisStore } from '../lib/index.js'
import { buildApp, logged, loginRefreshRevoke } from './helpers.js'
import { freePort, startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

const run = promisify(execFile)
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

interface Pki { ca: Buffer, otherCa: Buffer, clientCert: Buffer, clientKey: Buffer, dir: string }

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signs, and a second, unrelated CA. */
async function makePki (dir: string): Promise<Pki> {
  const file = (name: string): string => join(dir, name)
  const selfSigned = async (name: string): Promise<void> => {
    await run('openssl', ['req', '-x509', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '1', '-subj', `/CN=fja ${name}`])
  }
  const signed = async (name: string, extensions: string): Promise<void> => {
    await run('openssl', ['req', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=fja ${name}`])
    await writeFile(file(`${name}.cnf`), extensions)
    await run('openssl', ['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${name}.pem`), '-days', '1', '-extfile', file(`${name}.cnf`)])
  }
  await selfSigned('ca')
  await selfSigned('other-ca')
  await signed('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  await signed('client', 'extendedKeyUsage=clientAuth\n')
  return {
    ca: await readFile(file('ca.pem')),
    otherCa: await readFile(file('other-ca.pem')),
    clientCert: await readFile(file('client.pem')),
    clientKey: await readFile(file('client.key')),
    dir
  }
}


const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

let pki: Pki
let server: RedisServer
let tlsUrl: string

t.before(async () => {
  pki = await makePki(await mkdtemp(join(tmpdir(), 'fja-tls-')))
  const tlsPort = await freePort()
  // The plain port stays for the harness's own PING and SHUTDOWN.
  server = await startRedis([
    '--tls-port', String(tlsPort),
    '--tls-cert-file', join(pki.dir, 'server.pem'),
    '--tls-key-file', join(pki.dir, 'server.key'),
    '--tls-ca-cert-file', join(pki.dir, 'ca.pem'),
    '--tls-auth-clients', 'yes'
  ])
  tlsUrl = `rediss://127.0.0.1:${tlsPort}`
})
t.teardown(async () => {
  await server?.stop()
  if (pki !== undefined) await rm(pki.dir, { recursive: true, force: true })
})

t.test('the right CA and a client certificate: login, refresh, revocation and the self-check all work', async t => {
  const store = new RedisStore({ url: tlsUrl, redisOptions: { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } } })
  const app = await buildApp({ store })
  t.teardown(() => app.close())
  await loginRefreshRevoke(t, app)
  t.same((await store.runSelfCheck()).map(finding => finding.check), [])
})

t.test('a wrong CA: 503, and the log names the certificate', async t => {
  const log = logged()
  const store = new RedisStore({ url: tlsUrl, commandTimeout: 500, redisOptions: { tls: { ca: pki.otherCa, cert: pki.clientCert, key: pki.clientKey } } })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  await sleep(300)
  const response = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(response.statusCode, 503)
  t.ok(response.headers['retry-after'], 'with Retry-After')
  const failed = log.lines.find(line => line.msg === 'fastify-jwt-auth store call failed')
  t.match(`${String(failed?.error)} ${String(failed?.cause)}`, /certificate/, 'the 503 line names the certificate problem')
  const reported = log.lines.filter(line => line.msg === 'fastify-jwt-auth: the Redis client reports an error')
  t.equal(reported.length, 1, 'reported once, however often the client retried')
  t.match(reported[0], { level: 40, cause: /^[A-Z_]+: .*certificate/, redis: `${tlsUrl}` }, `with its code (${String(reported[0]?.cause)})`)
  const probe = log.lines.find(line => line.msg === 'fastify-jwt-auth: the store does not answer')
  t.match(probe?.error, /certificate/, 'and the start-up probe says so too')
})

t.test('the right CA without a client certificate: 503, and the log names a cause', async t => {
  const log = logged()
  const store = new RedisStore({ url: tlsUrl, commandTimeout: 500, redisOptions: { tls: { ca: pki.ca } } })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  await sleep(300)
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: {} })).statusCode, 503)
  const reported = log.lines.find(line => line.msg === 'fastify-jwt-auth: the Redis client reports an error')
  t.ok(typeof reported?.cause === 'string' && reported.cause.length > 0, `the cause is logged (${String(reported?.cause)})`)
})
