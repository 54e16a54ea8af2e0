import t from 'tap'
import { readFileSync } from 'node:fs'
import * as errors from '../lib/errors.js'

const readme = readFileSync(new URL('../README.md', `file://${__filename}`), 'utf8')

t.test('every error is exported under its own code and documented in the README', async t => {
  const codes = Object.entries(errors).filter(([, value]) => typeof value === 'function')
  t.ok(codes.length >= 20)
  for (const [name, ErrorClass] of codes) {
    const error = new (ErrorClass as new (...args: string[]) => { code: string, statusCode: number })('x', 'y')
    t.equal(error.code, name, `${name} has its own code`)
    t.match(readme, new RegExp(`\\| \`${name}\` \\| ${error.statusCode} \\|`), `${name} is in the README errors table with status ${error.statusCode}`)
  }
})

t.test('every OAuth error name belongs to a request error with a 4xx status', async t => {
  for (const [code, name] of Object.entries(errors.oauthErrors)) {
    const ErrorClass = (errors as unknown as Record<string, new (...args: string[]) => { statusCode: number }>)[code]
    t.ok(ErrorClass, `${code} exists`)
    const status = new (ErrorClass as new (...args: string[]) => { statusCode: number })('x').statusCode
    t.ok(status >= 400 && status < 500, `${code} (${name}) is a 4xx`)
    t.match(name, /^(invalid_request|invalid_token|insufficient_scope|invalid_grant|unsupported_grant_type|invalid_dpop_proof|use_dpop_nonce)$/)
  }
})
