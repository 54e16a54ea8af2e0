#!/usr/bin/env node
// The `fastify-jwt-auth` command: `keygen` makes an HMAC secret or a signing key pair (PEM and
// JWK, kid = RFC 7638 thumbprint); `decode` shows a JWT's header and payload without verifying
// it. Node built-ins only. Apart from what keygen is asked to make, nothing secret is printed:
// error messages never echo tokens or other input, and decode never prints a signature.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { JsonWebKey, KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

export interface Output {
  log (line: string): void
  error (line: string): void
}

export const usage = `Usage: fastify-jwt-auth <command> [options]

Commands:
  keygen [--alg ALG] [--kid ID] [--format text|json]
      Make a signing key. ALG: HS256 (default), HS384, HS512, RS256, PS256, ES256, ES384,
      ES512 or EdDSA. HS* prints a random secret (32, 48 or 64 bytes, base64url) for the
      plugin's \`secret\` option; the others print a new key pair as PKCS#8/SPKI PEM and as
      JWKs with kid (default: the RFC 7638 thumbprint), alg and use "sig".
  decode [--format text|json] <token | ->
      Print a JWT's header and payload WITHOUT verifying the signature. "-" reads the token
      from stdin (keeps it out of shell history).

Options:
  -h, --help   Show this text.

Exit codes: 0 done, 1 the token could not be decoded, 2 usage error.`

const hmacBytes: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 }

interface KeyPair { publicKey: KeyObject, privateKey: KeyObject }
const rsa = (): KeyPair => generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = (namedCurve: string) => (): KeyPair => generateKeyPairSync('ec', { namedCurve })
const keyPairs: Readonly<Record<string, () => KeyPair>> = {
  RS256: rsa,
  PS256: rsa, // an RSA key (kty "RSA"); PSS is a choice of the signature, not of the key
  ES256: ec('P-256'),
  ES384: ec('P-384'),
  ES512: ec('P-521'),
  EdDSA: () => generateKeyPairSync('ed25519')
}
const algorithms = [...Object.keys(hmacBytes), ...Object.keys(keyPairs)]

const base64url = /^[A-Za-z0-9_-]*$/

/** RFC 7638 JWK thumbprint (SHA-256, base64url) over the required public members. */
export function jwkThumbprint (jwk: JsonWebKey): string {
  const required = jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x']
  const canonical: Record<string, unknown> = {}
  for (const name of required) canonical[name] = jwk[name] // inserted in lexicographic order
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}

export function main (argv: string[], out: Output, readStdin: () => string = () => readFileSync(0, 'utf8')): number {
  const [command, ...args] = argv
  if (command === undefined) {
    out.error(usage)
    return 2
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    out.log(usage)
    return 0
  }
  if (command === 'keygen') return keygen(args, out)
  if (command === 'decode') return decode(args, out, readStdin)
  // A mistyped command is echoed; anything else (a token pasted in the wrong place) is not.
  return usageError(out, /^[a-z][a-z-]{0,30}$/.test(command) ? `unknown command "${command}"` : 'unknown command')
}

function usageError (out: Output, message: string): number {
  out.error(`error: ${message}`)
  out.error(usage)
  return 2
}

/** parseArgs quotes the offending argument, which may be a token: only an option name is kept. */
function describeParseError (error: unknown): string {
  const { code, message } = error as { code?: string, message: string }
  const option = /'(--?[A-Za-z][A-Za-z0-9-]{0,30})['\s,]/.exec(message)?.[1]
  const name = option === undefined ? '' : ` ${option}`
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option${name}`
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return 'unexpected argument'
  return `option${name}: missing or misplaced value (write --option=VALUE for a value starting with "-")`
}

function checkFormat (format: string): boolean {
  return format === 'text' || format === 'json'
}

function keygen (args: string[], out: Output): number {
  let values: { alg?: string, kid?: string, format?: string, help?: boolean }
  try {
    values = parseArgs({
      args,
      options: { alg: { type: 'string' }, kid: { type: 'string' }, format: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    return usageError(out, describeParseError(error))
  }
  if (values.help === true) {
    out.log(usage)
    return 0
  }
  const requested = values.alg ?? 'HS256'
  const alg = algorithms.find(name => name.toLowerCase() === requested.toLowerCase())
  if (alg === undefined) {
    const shown = /^[A-Za-z0-9]{1,10}$/.test(requested) ? ` "${requested}"` : ''
    return usageError(out, `unsupported --alg${shown}: use one of ${algorithms.join(', ')}`)
  }
  const format = values.format ?? 'text'
  if (!checkFormat(format)) return usageError(out, '--format must be text or json')
  if (values.kid === '') return usageError(out, '--kid must not be empty')

  const bytes = hmacBytes[alg]
  if (bytes !== undefined) {
    if (values.kid !== undefined) return usageError(out, '--kid applies to key pairs, not to HS* secrets')
    const secret = randomBytes(bytes).toString('base64url')
    if (format === 'json') {
      out.log(JSON.stringify({ alg, secret }, null, 2))
    } else {
      out.log(`# ${alg} secret: ${bytes} random bytes, base64url. Keep it out of the repository and of logs.`)
      out.log(`# Pass it as the plugin's \`secret\` option (with algorithm: '${alg}'), e.g. from the environment:`)
      out.log(`JWT_SECRET=${secret}`)
    }
    return 0
  }

  const { privateKey, publicKey } = (keyPairs[alg] as () => KeyPair)()
  const publicMembers = publicKey.export({ format: 'jwk' })
  const kid = values.kid ?? jwkThumbprint(publicMembers)
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
  const publicJwk = { ...publicMembers, kid, alg, use: 'sig' }
  const privateKeyPem = (privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).trimEnd()
  const publicKeyPem = (publicKey.export({ type: 'spki', format: 'pem' }) as string).trimEnd()
  if (format === 'json') {
    out.log(JSON.stringify({ kid, alg, privateKeyPem, publicKeyPem, privateJwk, publicJwk }, null, 2))
    return 0
  }
  out.log(`# ${alg} key pair, kid ${kid}`)
  out.log('# Private key (PKCS#8 PEM). It signs: keep it out of the repository and of logs.')
  out.log(privateKeyPem)
  out.log('# Public key (SPKI PEM). It verifies: safe to share.')
  out.log(publicKeyPem)
  out.log('# Private JWK (secret, as above):')
  out.log(JSON.stringify(privateJwk))
  out.log('# Public JWK (publish it in a JWKS: {"keys": [...]}):')
  out.log(JSON.stringify(publicJwk))
  return 0
}

type JsonObject = Record<string, unknown>

/** A base64url-encoded JSON object, or null. */
function decodePart (part: string): JsonObject | null {
  if (part === '' || !base64url.test(part) || part.length % 4 === 1) return null
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as JsonObject : null
  } catch {
    return null
  }
}

/** Pretty JSON with the ISO date after top-level exp, iat and nbf. */
function annotateTimes (payload: JsonObject, now: number): string {
  return JSON.stringify(payload, null, 2).split('\n').map(line => {
    const claim = /^ {2}"(exp|iat|nbf)": /.exec(line)?.[1]
    const seconds = claim === undefined ? undefined : payload[claim]
    if (typeof seconds !== 'number') return line
    const date = new Date(seconds * 1000)
    if (Number.isNaN(date.getTime())) return `${line}  // not a valid date`
    const expired = claim === 'exp' ? (seconds * 1000 <= now ? ' (expired)' : ' (not expired yet)') : ''
    return `${line}  // ${date.toISOString()}${expired}`
  }).join('\n')
}

function fail (out: Output, message: string): number {
  out.error(`error: ${message}`)
  return 1
}

function decode (args: string[], out: Output, readStdin: () => string): number {
  let values: { format?: string, help?: boolean }
  let positionals: string[]
  try {
    // A token may begin with '-' (base64url): an argument with a '.' that is no --option is one.
    const tokens = args.filter(arg => arg.includes('.') && !arg.startsWith('--'))
    ;({ values, positionals } = parseArgs({
      args: [...args.filter(arg => !tokens.includes(arg)), '--', ...tokens],
      options: { format: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true
    }))
  } catch (error) {
    return usageError(out, describeParseError(error))
  }
  if (values.help === true) {
    out.log(usage)
    return 0
  }
  const format = values.format ?? 'text'
  if (!checkFormat(format)) return usageError(out, '--format must be text or json')
  if (positionals.length !== 1) return usageError(out, 'decode takes one token (or - to read it from stdin)')

  const token = (positionals[0] === '-' ? readStdin() : positionals[0] as string).trim()
  const parts = token.split('.')
  if (parts.length === 2 && /^[A-Za-z0-9_-]{23,400}$/.test(parts[0] as string) && /^[A-Za-z0-9_-]{43}$/.test(parts[1] as string)) {
    return fail(out, 'this is an opaque refresh token of fastify-jwt-auth (<session id>.<secret>), not a JWT: ' +
      'it carries no readable claims and none of it is printed. Treat it like a password.')
  }
  if (parts.length === 5) return fail(out, 'this is an encrypted JWT (JWE, five parts): it cannot be read without the key')
  if (parts.length !== 3) return fail(out, 'not a JWT: a JWT is three base64url parts separated by dots')
  const header = decodePart(parts[0] as string)
  if (header === null) return fail(out, 'not a JWT: the header (first part) is not a base64url-encoded JSON object')
  const payload = decodePart(parts[1] as string)
  if (payload === null) return fail(out, 'not a JWT: the payload (second part) is not a base64url-encoded JSON object')
  if (!base64url.test(parts[2] as string)) return fail(out, 'not a JWT: the signature (third part) is not base64url')

  if (format === 'json') {
    out.error('NOT VERIFIED: decoded only, the signature was not checked')
    out.log(JSON.stringify({ verified: false, header, payload }, null, 2))
    return 0
  }
  out.log('NOT VERIFIED: decoded only, the signature was not checked')
  out.log('Header:')
  out.log(JSON.stringify(header, null, 2))
  out.log('Payload:')
  out.log(annotateTimes(payload, Date.now()))
  return 0
}

// Run when executed (dist/cjs/cli.js is the package's bin). In the ES module build `require`
// is undefined, so importing it runs nothing.
if (typeof require !== 'undefined' && require.main === module) process.exitCode = main(process.argv.slice(2), console)
