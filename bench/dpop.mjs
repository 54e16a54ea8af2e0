// npm run bench:dpop: what DPoP (RFC 9449) costs. First the proof check alone, per algorithm, in
// this process; then one server (MemoryStore, dpop on) loaded over HTTP, alternating rounds of
// Bearer requests and DPoP requests that each carry a fresh ES256 proof. The proofs are signed
// in this process (autocannon's setupRequest), so on a small machine the load generator and
// the server share the cores: compare the server's CPU per request, not only requests/s.
import { fork } from 'node:child_process'
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { dpopAlgorithms, HeaderCache, verifyProof } from '../dist/esm/tokens/dpop.js'

const here = dirname(fileURLToPath(import.meta.url))
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = 50

const b64 = value => Buffer.from(JSON.stringify(value)).toString('base64url')
const keyPairs = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  Ed25519: generateKeyPairSync('ed25519'),
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  PS256: generateKeyPairSync('rsa', { modulusLength: 2048 })
}

/** A proof signed here (the load generator's own code, not the plugin's). */
function proof (alg, htm, htu, accessToken) {
  const { privateKey, publicKey } = keyPairs[alg]
  const header = b64({ typ: 'dpop+jwt', alg, jwk: publicKey.export({ format: 'jwk' }) })
  const claims = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) }
  if (accessToken !== undefined) claims.ath = createHash('sha256').update(accessToken).digest('base64url')
  const input = `${header}.${b64(claims)}`
  const options = alg === 'ES256'
    ? { key: privateKey, dsaEncoding: 'ieee-p1363' }
    : alg === 'PS256' ? { key: privateKey, padding: 6, saltLength: 32 } : privateKey
  return `${input}.${sign(alg === 'Ed25519' ? null : 'sha256', Buffer.from(input), options).toString('base64url')}`
}

/** µs per verifyProof over 2000 distinct proofs of one key: with a fresh header cache (every key imported) and with the plugin's cache. */
function microbench () {
  const rows = []
  for (const alg of Object.keys(keyPairs)) {
    const proofs = Array.from({ length: 2000 }, () => proof(alg, 'GET', 'http://127.0.0.1/data', 'token'))
    const check = { htm: 'GET', htu: 'http://127.0.0.1/data', now: Math.floor(Date.now() / 1000), accessToken: 'token' }
    const time = rules => {
      for (const p of proofs.slice(0, 200)) verifyProof(p, rules(), check) // warm-up
      const start = process.hrtime.bigint()
      for (const p of proofs) verifyProof(p, rules(), check)
      return (Number(process.hrtime.bigint() - start) / 1000 / proofs.length).toFixed(1)
    }
    const shared = { algorithms: new Set(dpopAlgorithms), proofMaxAge: 300, headers: new HeaderCache(1000) }
    const uncached = time(() => ({ algorithms: shared.algorithms, proofMaxAge: 300 }))
    const cached = time(() => shared)
    rows.push(`| ${alg} | ${uncached} µs | ${cached} µs |`)
  }
  return rows
}

function startServer () {
  const child = fork(join(here, 'servers', 'h-plugin-dpop.mjs'), [], {
    env: { ...process.env, BENCH_SECRET: randomBytes(32).toString('base64url') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  process.on('exit', () => child.kill('SIGKILL'))
  return new Promise((resolve, reject) => {
    child.once('message', ({ port }) => resolve({
      port,
      cpu: () => new Promise(resolve => {
        child.once('message', message => resolve(message.cpu))
        child.send('cpu')
      }),
      stop: () => child.kill('SIGKILL')
    }))
    child.once('exit', code => reject(new Error(`the server exited with ${code}`)))
  })
}

async function login (port, withProof) {
  const url = `http://127.0.0.1:${port}/login`
  const response = await fetch(url, { method: 'POST', headers: withProof ? { dpop: proof('ES256', 'POST', url) } : {} })
  if (response.status !== 200) throw new Error(`login: ${response.status}`)
  return (await response.json()).access_token
}

async function load (server, scheme, token) {
  const url = `http://127.0.0.1:${server.port}/data`
  const before = await server.cpu()
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION_S,
    requests: [{
      setupRequest (request) {
        const headers = scheme === 'DPoP'
          ? { authorization: `DPoP ${token}`, dpop: proof('ES256', 'GET', url, token) }
          : { authorization: `Bearer ${token}` }
        return { ...request, headers: { ...request.headers, ...headers } }
      }
    }]
  })
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0) throw new Error(`${scheme}: ${bad} failed requests`)
  return { rps: result.requests.average, cpuPerRequest: (await server.cpu() - before) / result.requests.total }
}

const median = values => [...values].sort((x, y) => x - y)[values.length >> 1]

console.log('DPoP proof check (lib/tokens/dpop.ts verifyProof), this process, 2000 distinct proofs of one key each:\n')
console.log('| proof alg | key imported each time | header cached (the plugin) |\n|---|--:|--:|')
for (const row of microbench()) console.log(row)

const server = await startServer()
const tokens = { Bearer: await login(server.port, false), DPoP: await login(server.port, true) }
const results = { Bearer: [], DPoP: [] }
for (let round = 0; round < ROUNDS; round++) {
  for (const scheme of round % 2 === 0 ? ['Bearer', 'DPoP'] : ['DPoP', 'Bearer']) results[scheme].push(await load(server, scheme, tokens[scheme]))
}
server.stop()
console.log(`\nOne server (MemoryStore, dpop on), ${CONNECTIONS} connections, ${ROUNDS} alternated rounds of ${DURATION_S} s, medians:\n`)
console.log('| requests | req/s | server CPU per request |\n|---|--:|--:|')
for (const scheme of ['Bearer', 'DPoP']) {
  console.log(`| ${scheme} | ${Math.round(median(results[scheme].map(r => r.rps)))} | ${median(results[scheme].map(r => r.cpuPerRequest)).toFixed(0)} µs |`)
}
