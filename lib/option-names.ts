// Every option name the plugin reads: any other key is a typo (`cookie:` for `cookies:`) that
// JavaScript would ignore silently, so it is refused with the nearest known name.
import { FST_JWT_AUTH_UNKNOWN_OPTION } from './errors.js'

const known: Record<string, readonly string[]> = {
  '': ['secret', 'algorithm', 'keys', 'mixedKeyTypes', 'jwks', 'issuer', 'audience', 'realm', 'accessToken', 'refreshToken',
    'clockTolerance', 'maxSessionsPerUser', 'store', 'revocation', 'cookies', 'routes', 'fingerprint', 'onEvent', 'openapi', 'dpop'],
  accessToken: ['expiresIn', 'clientId', 'cacheSize'],
  refreshToken: ['expiresIn', 'idleTimeout', 'reuseGrace', 'claims'],
  revocation: ['replica', 'maxStaleness'],
  cookies: ['secure', 'sameSite', 'domain', 'accessName', 'refreshName', 'originCheck', 'allowedOrigins', 'csrf'],
  dpop: ['required', 'algorithms', 'nonce', 'proofMaxAge'],
  routes: ['prefix', 'refresh', 'logout', 'logoutAll', 'sessions', 'revoke', 'jwks', 'rateLimit']
}

/** Edit distance, case-insensitive: `Cookie` and `cookie` are both one step from `cookies`. */
function distance (a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const row = [i]
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[y.length] as number
}

/** Refuses a key that is not an option, at the top level and in the option objects. */
export function checkOptionNames (options: object): void {
  for (const [group, names] of Object.entries(known)) {
    const value: unknown = group === '' ? options : (options as Record<string, unknown>)[group]
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue
    for (const key of Object.keys(value)) {
      if (names.includes(key)) continue
      const nearest = names.reduce((best, name) => distance(key, name) < distance(key, best) ? name : best)
      const path = group === '' ? '' : `${group}.`
      throw new FST_JWT_AUTH_UNKNOWN_OPTION(`${path}${key}`, `${path}${nearest}`)
    }
  }
}
