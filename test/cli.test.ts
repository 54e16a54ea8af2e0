// The `fastify-jwt-auth` command line: keygen and decode called in-process through main(), the
// file run as a script, and once end to end from the packed tarball through npx.
import t from 'tap'
import type { Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { constants, createHash, createHmac, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { jwkThumbprint, main, usage } from '../lib/cli.js'
import { mintRefreshToken, mintSessionId } from '../lib/tokens/refresh.js'

const execFileAsync = promisify(execFile)
const root = join(__dirname, '..')

interface Run { code: number, stdout: string, stderr: string }

function cli (argv: string[], stdin?: string): Run {
  const stdout: string[] = []
  const stderr: string[] = []
  const out = { log: (line: string) => stdout.push(line), error: (line: string) => stderr.push(line) }
  const code = stdin === undefined ? main(argv, out) : main(argv, out, () => stdin)
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') }
}

// RFC 7638 §3.1, written out independently of lib/cli.ts: the required members in
// lexicographic order, no whitespace, SHA-256, base64url.
const requiredMembers: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] }
function thumbprint (jwk: JsonWebKey): string {
  const members = requiredMembers[jwk.kty as string] as string[]
  const json = '{' + members.map(name => `"${name}":"${jwk[name] as string}"`).join(',') + '}'
  return createHash('sha256').update(json, 'utf8').digest('base64url')
}

// The example key of RFC 7638 §3.1 and its thumbprint.
const rfc7638Key: JsonWebKey = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF' +
    'V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0' +
    'zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFC' +
    'ur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29'
}
const rfc7638Thumbprint = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'

t.test('the RFC 7638 §3.1 example thumbprint', async t => {
  t.equal(thumbprint(rfc7638Key), rfc7638Thumbprint, 'the test\'s own implementation')
  t.equal(jwkThumbprint(rfc7638Key), rfc7638Thumbprint, 'the CLI\'s')
})

// How each algorithm signs with node:crypto.
const signing: Record<string, { digest: string | null, curve?: string, signatureBytes?: number, options: object }> = {
  RS256: { digest: 'sha256', options: { padding: constants.RSA_PKCS1_PADDING } },
  PS256: { digest: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  ES256: { digest: 'sha256', curve: 'prime256v1', signatureBytes: 64, options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { digest: 'sha384', curve: 'secp384r1', signatureBytes: 96, options: { dsaEncoding: 'ieee-p1363' } },
  ES512: { digest: 'sha512', curve: 'secp521r1', signatureBytes: 132, options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { digest: null, options: {} }
}
const expectedKty: Record<string, string> = { RS256: 'RSA', PS256: 'RSA', ES256: 'EC', ES384: 'EC', ES512: 'EC', EdDSA: 'OKP' }

interface KeyOutput {
  kid: string
  alg: string
  privateKeyPem: string
  publicKeyPem: string
  privateJwk: JsonWebKey
  publicJwk: JsonWebKey
}

/** The four blocks of keygen's text output. */
function parseKeyText (stdout: string): KeyOutput {
  const header = /^# (\S+) key pair, kid (\S+)$/m.exec(stdout)
  const privateKeyPem = /-----BEGIN PRIVATE KEY-----\n[^-]+-----END PRIVATE KEY-----/.exec(stdout)?.[0]
  const publicKeyPem = /-----BEGIN PUBLIC KEY-----\n[^-]+-----END PUBLIC KEY-----/.exec(stdout)?.[0]
  const privateJwk = /^# Private JWK.*\n(\{.*\})$/m.exec(stdout)?.[1]
  const publicJwk = /^# Public JWK.*\n(\{.*\})$/m.exec(stdout)?.[1]
  if (header === null || privateKeyPem === undefined || publicKeyPem === undefined || privateJwk === undefined || publicJwk === undefined) {
    throw new Error('unexpected keygen output')
  }
  return {
    alg: header[1] as string,
    kid: header[2] as string,
    privateKeyPem,
    publicKeyPem,
    privateJwk: JSON.parse(privateJwk) as JsonWebKey,
    publicJwk: JSON.parse(publicJwk) as JsonWebKey
  }
}

/** Signs with both private forms, verifies with both public forms; a changed message fails. */
function checkKeys (t: Test, alg: string, keys: KeyOutput): void {
  const { digest, options, curve, signatureBytes } = signing[alg] as typeof signing[string]
  const privateKeys: KeyObject[] = [createPrivateKey(keys.privateKeyPem), createPrivateKey({ key: keys.privateJwk, format: 'jwk' })]
  const publicKeys: KeyObject[] = [createPublicKey(keys.publicKeyPem), createPublicKey({ key: keys.publicJwk, format: 'jwk' })]
  const message = Buffer.from(`signed with ${alg}`)
  for (const [i, privateKey] of privateKeys.entries()) {
    const signature = sign(digest, message, { key: privateKey, ...options })
    if (signatureBytes !== undefined) t.equal(signature.length, signatureBytes, `${alg} JOSE signature size`)
    for (const [j, publicKey] of publicKeys.entries()) {
      t.ok(verify(digest, message, { key: publicKey, ...options }, signature), `private ${['PEM', 'JWK'][i]} signs, public ${['PEM', 'JWK'][j]} verifies`)
      t.notOk(verify(digest, Buffer.from('something else'), { key: publicKey, ...options }, signature))
    }
  }
  const publicKey = publicKeys[0] as KeyObject
  t.equal(createPublicKey(privateKeys[0] as KeyObject).export({ type: 'spki', format: 'pem' }).toString().trimEnd(), keys.publicKeyPem, 'one pair')
  t.match(keys.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8')
  if (expectedKty[alg] === 'RSA') {
    t.equal(publicKey.asymmetricKeyType, 'rsa')
    t.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048)
  } else if (curve !== undefined) {
    t.equal(publicKey.asymmetricKeyDetails?.namedCurve, curve)
  } else {
    t.equal(publicKey.asymmetricKeyType, 'ed25519')
    t.equal(keys.publicJwk.crv, 'Ed25519')
  }
  for (const jwk of [keys.privateJwk, keys.publicJwk]) {
    t.match(jwk, { kty: expectedKty[alg], kid: keys.kid, alg, use: 'sig' })
  }
  t.type(keys.privateJwk.d, 'string', 'the private JWK has its private part')
  t.equal(keys.publicJwk.d, undefined, 'the public JWK has none')
  t.equal(keys.alg, alg)
}

t.test('keygen makes a working key pair for each asymmetric algorithm', async t => {
  for (const alg of Object.keys(signing)) {
    t.test(alg, async t => {
      const text = cli(['keygen', '--alg', alg])
      t.equal(text.code, 0)
      t.equal(text.stderr, '')
      const fromText = parseKeyText(text.stdout)
      checkKeys(t, alg, fromText)
      t.equal(fromText.kid, thumbprint(fromText.publicJwk), 'kid is the RFC 7638 thumbprint')

      const json = cli(['keygen', `--alg=${alg}`, '--format', 'json'])
      t.equal(json.code, 0)
      const fromJson = JSON.parse(json.stdout) as KeyOutput
      t.same(Object.keys(fromJson), ['kid', 'alg', 'privateKeyPem', 'publicKeyPem', 'privateJwk', 'publicJwk'])
      checkKeys(t, alg, fromJson)
      t.equal(fromJson.kid, thumbprint(fromJson.publicJwk))
      t.not(fromJson.kid, fromText.kid, 'a new key each time')
    })
  }
})

t.test('keygen --kid names the key instead of the thumbprint', async t => {
  const { code, stdout } = cli(['keygen', '--alg', 'ES384', '--kid', '2026-01-signing', '--format', 'json'])
  t.equal(code, 0)
  const keys = JSON.parse(stdout) as KeyOutput
  t.equal(keys.kid, '2026-01-signing')
  checkKeys(t, 'ES384', keys)
})

t.test('keygen accepts the algorithm in any case', async t => {
  const keys = JSON.parse(cli(['keygen', '--alg', 'eddsa', '--format', 'json']).stdout) as KeyOutput
  t.equal(keys.alg, 'EdDSA')
  checkKeys(t, 'EdDSA', keys)
})

t.test('keygen makes HMAC secrets of the hash size', async t => {
  for (const [alg, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
    const text = cli(['keygen', '--alg', alg])
    t.equal(text.code, 0)
    const secret = /^JWT_SECRET=([A-Za-z0-9_-]+)$/m.exec(text.stdout)?.[1] as string
    t.equal(Buffer.from(secret, 'base64url').length, bytes, `${alg}: ${bytes} bytes`)
    t.equal(Buffer.from(secret, 'base64url').toString('base64url'), secret, 'canonical base64url')
    t.match(text.stdout, `algorithm: '${alg}'`)
    t.match(text.stdout, '`secret`')
    // Every line is a comment or the variable: the output can be appended to an .env file.
    t.ok(text.stdout.split('\n').every(line => line.startsWith('# ') || line.startsWith('JWT_SECRET=')))

    const json = cli(['keygen', '--alg', alg, '--format', 'json'])
    const parsed = JSON.parse(json.stdout) as { alg: string, secret: string }
    t.same(Object.keys(parsed), ['alg', 'secret'])
    t.equal(parsed.alg, alg)
    t.equal(Buffer.from(parsed.secret, 'base64url').length, bytes)
    t.not(parsed.secret, secret, 'random')
  }
  const byDefault = JSON.parse(cli(['keygen', '--format', 'json']).stdout) as { alg: string, secret: string }
  t.equal(byDefault.alg, 'HS256', 'HS256 without --alg')
  t.equal(Buffer.from(byDefault.secret, 'base64url').length, 32)
})

t.test('help and usage', async t => {
  for (const argv of [['--help'], ['-h'], ['help'], ['keygen', '--help'], ['decode', '-h']]) {
    t.same(cli(argv), { code: 0, stdout: usage, stderr: '' }, argv.join(' '))
  }
  t.match(usage, /keygen/)
  t.match(usage, /decode/)
  t.same(cli([]), { code: 2, stdout: '', stderr: usage }, 'no command')
})

t.test('usage errors exit 2 with the usage, and never echo a token', async t => {
  const token = signHs256({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice' })
  const refresh = mintRefreshToken(mintSessionId('alice'))
  const cases: Array<[string[], string | RegExp]> = [
    [['frobnicate'], 'error: unknown command "frobnicate"'],
    [[token], /^error: unknown command$/m],
    [[refresh], /^error: unknown command$/m],
    [['keygen', '--bogus'], 'error: unknown option --bogus'],
    [['keygen', `--${refresh}`], /^error: unknown option$/m],
    [['decode', `--${refresh}`], /^error: unknown option$/m],
    [['keygen', 'extra'], 'error: unexpected argument'],
    [['keygen', '--kid'], 'error: option --kid: missing or misplaced value'],
    [['keygen', '--kid', '--alg', 'ES256'], 'error: option --kid: missing or misplaced value'],
    [['keygen', '--help=yes'], 'error: option -h: missing or misplaced value'],
    [['keygen', '--alg', 'HS257'], 'error: unsupported --alg "HS257": use one of HS256, HS384, HS512, RS256, PS256, ES256, ES384, ES512, EdDSA'],
    [['keygen', '--alg', token], /^error: unsupported --alg: use one of/m],
    [['keygen', '--alg', 'none'], 'error: unsupported --alg "none"'],
    [['keygen', '--format', 'yaml'], 'error: --format must be text or json'],
    [['keygen', '--alg', 'ES256', '--kid', ''], 'error: --kid must not be empty'],
    [['keygen', '--alg', 'HS256', '--kid', 'k1'], 'error: --kid applies to key pairs, not to HS* secrets'],
    [['decode'], 'error: decode takes one token (or - to read it from stdin)'],
    [['decode', token, token], 'error: decode takes one token'],
    [['decode', '--format', 'xml', token], 'error: --format must be text or json']
  ]
  for (const [argv, message] of cases) {
    const { code, stdout, stderr } = cli(argv)
    t.equal(code, 2, argv.join(' ').slice(0, 60))
    t.equal(stdout, '')
    t.match(stderr, message)
    t.ok(stderr.endsWith(usage), 'usage follows the error')
    t.notOk(stderr.includes(token) || stderr.includes(refresh.split('.')[1] as string), 'no token in the error')
  }
})

function signHs256 (header: object, payload: object): string {
  const encode = (part: object): string => Buffer.from(JSON.stringify(part)).toString('base64url')
  const input = `${encode(header)}.${encode(payload)}`
  return `${input}.${createHmac('sha256', 'a-test-secret-of-at-least-thirty-two-bytes').update(input).digest('base64url')}`
}

t.test('decode prints the header and payload, marked NOT VERIFIED, with dates', async t => {
  const iat = 1_700_000_000
  const header = { alg: 'HS256', typ: 'at+jwt' }
  const payload = { iss: 'fastify-jwt-auth', sub: 'alice', iat, nbf: iat, exp: iat + 900, roles: ['user'], nested: { exp: 1 } }
  const token = signHs256(header, payload)
  const { code, stdout, stderr } = cli(['decode', token])
  t.equal(code, 0)
  t.equal(stderr, '')
  const lines = stdout.split('\n')
  t.equal(lines[0], 'NOT VERIFIED: decoded only, the signature was not checked')
  t.equal(lines[1], 'Header:')
  t.match(stdout, JSON.stringify(header, null, 2))
  t.match(stdout, /^ {2}"iat": 1700000000, {2}\/\/ 2023-11-14T22:13:20\.000Z$/m)
  t.match(stdout, /^ {2}"nbf": 1700000000, {2}\/\/ 2023-11-14T22:13:20\.000Z$/m)
  t.match(stdout, /^ {2}"exp": 1700000900, {2}\/\/ 2023-11-14T22:28:20\.000Z \(expired\)$/m)
  t.match(stdout, /^ {4}"exp": 1$/m, 'a nested exp is not a claim')
  t.match(stdout, '"sub": "alice"')
  t.notOk(stdout.includes(token.split('.')[2] as string), 'the signature is not printed')
  // Without the comments the payload block is the payload.
  const payloadBlock = stdout.slice(stdout.indexOf('Payload:\n') + 'Payload:\n'.length).replace(/ {2}\/\/ .*$/gm, '')
  t.same(JSON.parse(payloadBlock), payload)
})

t.test('decode: exp in the future, dates out of range, claims that are not numbers', async t => {
  const exp = Math.floor(Date.now() / 1000) + 3600
  const { stdout } = cli(['decode', signHs256({ alg: 'HS256' }, { exp, iat: 1e20, nbf: 'soon' })])
  t.match(stdout, new RegExp(`"exp": ${exp},  // \\S+Z \\(not expired yet\\)$`, 'm'))
  t.match(stdout, /"iat": 100000000000000000000, {2}\/\/ not a valid date$/m)
  t.match(stdout, /"nbf": "soon"$/m)
})

t.test('decode --format json', async t => {
  const token = signHs256({ alg: 'HS256', typ: 'at+jwt' }, { sub: 'bob', exp: 1 })
  const { code, stdout, stderr } = cli(['decode', '--format', 'json', token])
  t.equal(code, 0)
  t.same(JSON.parse(stdout), { verified: false, header: { alg: 'HS256', typ: 'at+jwt' }, payload: { sub: 'bob', exp: 1 } })
  t.equal(stderr, 'NOT VERIFIED: decoded only, the signature was not checked', 'the warning goes to stderr')
})

t.test('decode - reads the token from stdin', async t => {
  const token = signHs256({ alg: 'HS256' }, { sub: 'carol' })
  const { code, stdout } = cli(['decode', '-'], `  ${token}\n`)
  t.equal(code, 0)
  t.match(stdout, '"sub": "carol"')
})

t.test('decode of an unsigned token shows it (it is not verified anyway)', async t => {
  const { code, stdout } = cli(['decode', 'eyJhbGciOiJub25lIn0.e30.'])
  t.equal(code, 0)
  t.match(stdout, '"alg": "none"')
})

t.test('decode of a token that begins with "-" (base64url) takes it as the token, not an option', async t => {
  // '-A', not '-' and whatever came next: a second '-' (one time in 64) would make it an
  // option, which '--anything.with.dots' is by design (see the usage errors test).
  const refresh = `-A${mintRefreshToken(mintSessionId('alice')).slice(2)}`
  const { code, stderr } = cli(['decode', refresh])
  t.equal(code, 1)
  t.match(stderr, 'opaque refresh token')
  const jwt = cli(['decode', '-eyJhbGciOiJub25lIn0.e30.'])
  t.notMatch(jwt.stderr, 'unknown option')
})

t.test('decode of a refresh token says what it is and prints none of it', async t => {
  // A token beginning with '-' is an option by design (one random id in 64): mint one that does not.
  let refresh = mintRefreshToken(mintSessionId('alice'))
  while (refresh.startsWith('-')) refresh = mintRefreshToken(mintSessionId('alice'))
  const [sessionId, secret] = refresh.split('.') as [string, string]
  const { code, stdout, stderr } = cli(['decode', refresh])
  t.equal(code, 1)
  t.equal(stdout, '')
  t.match(stderr, 'opaque refresh token')
  t.match(stderr, 'not a JWT')
  t.notOk(stderr.includes(secret) || stderr.includes(sessionId), 'nothing of the token')
})

t.test('decode refuses malformed tokens with exit 1 and without echoing them', async t => {
  const jsonPart = (value: string): string => Buffer.from(value).toString('base64url')
  const cases: Array<[string, string]> = [
    ['not-a-token', 'not a JWT: a JWT is three base64url parts separated by dots'],
    ['abc.def', 'not a JWT: a JWT is three base64url parts'],
    ['a.b.c.d', 'not a JWT: a JWT is three base64url parts'],
    ['', 'not a JWT: a JWT is three base64url parts'],
    ['a.b.c.d.e', 'encrypted JWT (JWE, five parts)'],
    ['.e30.sig', 'the header (first part) is not a base64url-encoded JSON object'],
    ['e3+9.e30.sig', 'the header (first part)'],
    ['e30=.e30.sig', 'the header (first part)'],
    ['e30xx.e30.sig', 'the header (first part)'], // length 5: not base64url at all
    [`${jsonPart('{"alg":')}.e30.sig`, 'the header (first part)'],
    [`${jsonPart('[1,2]')}.e30.sig`, 'the header (first part)'],
    [`e30.${jsonPart('null')}.sig`, 'the payload (second part) is not a base64url-encoded JSON object'],
    [`e30.${jsonPart('"a string"')}.sig`, 'the payload (second part)'],
    ['e30.e30.si/g', 'the signature (third part) is not base64url']
  ]
  for (const [token, message] of cases) {
    const { code, stdout, stderr } = cli(['decode', token])
    t.equal(code, 1, JSON.stringify(token))
    t.equal(stdout, '')
    t.equal(stderr, `error: ${stderr.slice(7)}`)
    t.match(stderr, message)
    if (token.length > 3) t.notOk(stderr.includes(token), 'the input is not echoed')
  }
})

t.test('run as a script: argv, stdin and the exit code', async t => {
  // Spawned with this process's loaders, so the script's coverage is counted too.
  const script = join(root, 'lib', 'cli.ts')
  const runScript = (args: string[], input: string): Promise<{ code: number | null, stdout: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, script, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
      child.on('error', reject)
      child.on('close', code => resolve({ code, stdout }))
      child.stdin.end(input)
    })
  const decoded = await runScript(['decode', '-'], signHs256({ alg: 'HS256' }, { sub: 'dave' }) + '\n')
  t.equal(decoded.code, 0)
  t.match(decoded.stdout, /^NOT VERIFIED/)
  t.match(decoded.stdout, '"sub": "dave"')
  t.equal((await runScript(['keygen', '--alg', 'nope'], '')).code, 2)
})

// npm's own variables from an enclosing `npm test` (the package, the local prefix) and the
// coverage loaders are not passed to the nested npm.
function npmEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_|config_(local_)?prefix$|config_global_prefix$)/.test(name)) continue
    if (name === 'NODE_OPTIONS' || name === 'NODE_V8_COVERAGE' || name.startsWith('TAP')) continue
    env[name] = value
  }
  return env
}

t.test('the packed tarball works from npx', { timeout: 110_000 }, async t => {
  const env = npmEnv()
  const npm = (args: string[], cwd: string) => execFileAsync('npm', args, { cwd, env, maxBuffer: 16 * 1024 * 1024 })
  const timings: string[] = []
  const timed = async <T> (label: string, step: () => Promise<T>): Promise<T> => {
    const start = Date.now()
    try {
      return await step()
    } finally {
      timings.push(`${label} ${Date.now() - start} ms`)
    }
  }
  t.teardown(() => { t.comment(`tarball test: ${timings.join(', ')}`) })

  const built = join(root, 'dist', 'cjs', 'cli.js')
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(root, 'lib', 'cli.ts')).mtimeMs) {
    await timed('build', () => npm(['run', 'build'], root))
  }
  const tmp = mkdtempSync(join(tmpdir(), 'fastify-jwt-auth-cli-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

  const packed = await timed('pack', () => npm(['pack', '--json', '--pack-destination', tmp], root))
  const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string, mode: number }> }>
  t.equal(files.find(file => file.path === 'dist/cjs/cli.js')?.mode, 0o755, 'the bin is executable in the tarball')

  const project = join(tmp, 'project')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'cli-e2e', version: '1.0.0', private: true }))
  await timed('install', () => npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', join(tmp, filename)], project))

  const npx = (args: string[]) => execFileAsync('npx', ['--no', 'fastify-jwt-auth', ...args], { cwd: project, env })
  const keygen = await timed('npx keygen', () => npx(['keygen', '--alg', 'ES256', '--format', 'json']))
  const keys = JSON.parse(keygen.stdout) as KeyOutput
  checkKeys(t, 'ES256', keys)
  t.equal(keys.kid, thumbprint(keys.publicJwk))

  const token = signHs256({ alg: 'HS256', typ: 'at+jwt' }, { sub: 'erin', exp: 1_700_000_900 })
  const decoded = await timed('npx decode', () => npx(['decode', token]))
  t.match(decoded.stdout, /^NOT VERIFIED: decoded only, the signature was not checked\n/)
  t.match(decoded.stdout, '"sub": "erin"')
  t.match(decoded.stdout, '"exp": 1700000900  // 2023-11-14T22:28:20.000Z (expired)')

  const refused = await npx(['decode', 'abc']).then(() => null, (error: { code: number, stderr: string }) => error)
  t.equal(refused?.code, 1, 'exit code 1 through npx')
  t.match(refused?.stderr, 'not a JWT')
})
