// The built package (dist/, from `npm run build`, which `npm test` runs first) loads through
// its own `exports` with both require and import, and works end to end.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('..', `file://${__filename}`).pathname

const flow = (load: string) => `${load}
const app = Fastify()
await app.register(jwtAuth, { secret: 'Qm7xT2vL9pK4wR8nZ3cY6bH1jF5dS0gA', store: new MemoryStore() })
app.post('/login', async (request, reply) => reply.issueTokens({ sub: 'alice', roles: ['user'] }))
app.get('/me', { preHandler: [app.authenticate, app.requireRoles('user')] }, async request => request.user)
const { access_token } = (await app.inject({ method: 'POST', url: '/login' })).json()
const me = await app.inject({ url: '/me', headers: { authorization: 'Bearer ' + access_token } })
console.log(JSON.stringify({ status: me.statusCode, sub: me.json().sub, errors: typeof errors.FST_JWT_AUTH_NO_TOKEN }))
await app.close()`

t.test('require() loads the CommonJS build', async t => {
  const code = `(async () => {${flow(`const Fastify = require('fastify')
const jwtAuth = require('fastify-jwt-auth')
const { MemoryStore, errors } = jwtAuth`)}})()`
  const { stdout } = await run(process.execPath, ['-e', code], { cwd: root })
  t.same(JSON.parse(stdout), { status: 200, sub: 'alice', errors: 'function' })
})

t.test('import loads the ES module build', async t => {
  const code = flow(`import Fastify from 'fastify'
import jwtAuth, { MemoryStore, errors } from 'fastify-jwt-auth'`)
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: root })
  t.same(JSON.parse(stdout), { status: 200, sub: 'alice', errors: 'function' })
})

t.test('the named export jwtAuth is the same plugin as the default', async t => {
  const code = "const m = require('fastify-jwt-auth'); console.log(m.jwtAuth === m.default && typeof m.default === 'function')"
  const { stdout } = await run(process.execPath, ['-e', code], { cwd: root })
  t.equal(stdout.trim(), 'true')
})
