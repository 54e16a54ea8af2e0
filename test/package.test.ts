// The package as users install it: `npm pack` of a clean copy of the repository (what git tracks,
// no dist/: its prepack script builds), the tarball installed into a fresh project in the temp
// folder (without ioredis, an optional peer), a strict TypeScript app with the README's quick start
// compiled there and run as an ES module and as CommonJS, the same app on the oldest Fastify the
// peer range allows with ioredis 5 against a real Redis, @arethetypeswrong/cli on the tarball, and
// nothing in the tarball beyond what users need.
// The install takes the tarball's dependencies from npm's cache (filled by the repository's own
// `npm ci`); only what the cache lacks comes from the registry, within bounded time.
import t from 'tap'
import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startRedis } from './redis-harness.js'
import type { RedisServer } from './redis-harness.js'

const execFileAsync = promisify(execFile)
const root = join(__dirname, '..')

// An enclosing `npm test` passes npm's own variables (the package, the local prefix) and tap its
// coverage loaders: none of them belong to the user's fresh project.
const notInherited = /^(npm_(package_|lifecycle_).*|npm_config_(local_|global_)?prefix|NODE_OPTIONS|NODE_V8_COVERAGE|TAP.*|_TAPJS_.*)$/
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !notInherited.test(name)))

async function run (file: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}, timeout = 0): Promise<string> {
  const { stdout } = await execFileAsync(file, args, { cwd, env: { ...env, ...extraEnv }, maxBuffer: 32 * 1024 * 1024, timeout })
  return stdout
}

// A registry that does not answer costs at most two attempts of 15 s (npm's own defaults wait
// 5 minutes a request, 3 times), and the install is stopped after 50 s whatever it waits for:
// the file then fails with its own message, well before its time runs out.
const registryBounds = ['--fetch-timeout=15000', '--fetch-retries=1', '--fetch-retry-mintimeout=1000', '--fetch-retry-maxtimeout=5000']
const installLimit = 50_000
t.setTimeout(150_000) // the install's limit, and the rest at a loaded machine's pace
const npmError = /^npm (error|ERR!) (?!\s+at )/ // npm 10's prefix, and older npm's; not stack lines
const networkFailure = /^npm (error|ERR!) (code|errno) (FETCH_ERROR|E[A-Z]*TIMEDOUT|ERR_SOCKET_TIMEOUT|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)$|^npm (error|ERR!) network /m

/** `npm install`, with a failure that says so when the registry was the cause. */
async function install (args: string[], cwd: string): Promise<void> {
  try {
    await run('npm', ['install', ...registryBounds, ...args], cwd, {}, installLimit)
  } catch (error) {
    const { killed, stderr } = error as { killed?: boolean, stderr?: string }
    const npmSaid = String(stderr ?? '').split('\n').filter(line => npmError.test(line)).slice(0, 12).join('\n')
    const what = killed === true
      ? `npm install was stopped after ${installLimit / 1000} s: the npm registry is too slow or unreachable`
      : networkFailure.test(npmSaid) ? 'npm install failed: the npm registry was unreachable' : null
    if (what === null) throw error
    throw new Error(`${what} (npm asks it only for packages missing from npm's cache; \`npm ci\` with the registry ` +
      `reachable fills the cache).\n${npmSaid}`, { cause: error })
  }
}

interface PackedFile { path: string }
interface Packed { filename: string, files: PackedFile[] }

const tmp = mkdtempSync(join(tmpdir(), 'fastify-jwt-auth-package-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const project = join(tmp, 'project')
let packed: Packed

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }
/** The oldest Fastify the peer range allows, e.g. 5.0.0 for ^5.0.0. */
const oldestFastify = /^\^(\d+\.\d+\.\d+)$/.exec(manifest.peerDependencies.fastify as string)?.[1] as string
const oldest = join(tmp, 'oldest')
let redis: RedisServer

/** A fresh project with the tarball and the app's @types/node (the version this repository was checked with, so the npm cache has it). */
async function newProject (folder: string, packages: string[]): Promise<void> {
  mkdirSync(join(folder, 'src'), { recursive: true })
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'quick-start', version: '1.0.0', private: true }))
  const typesNode = (JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version
  await install(['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(tmp, packed.filename), `@types/node@${typesNode}`, ...packages], folder)
}

// One pack, shared by every test below. The clean copy borrows the repository's node_modules for its build.
t.before(async () => {
  const clone = join(tmp, 'clone')
  const tracked = (await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root)).split('\0')
  for (const path of tracked) {
    if (path !== '' && !path.startsWith('dist/') && existsSync(join(root, path))) cpSync(join(root, path), join(clone, path), { recursive: true })
  }
  symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'))
  const json = await run('npm', ['pack', '--json', '--pack-destination', tmp], clone)
  packed = (JSON.parse(json) as Packed[])[0] as Packed
  await newProject(project, [])
  redis = await startRedis()
})
t.teardown(async () => { await redis?.stop() })

t.test('the tarball holds dist/, README.md, LICENSE and package.json, nothing else', async t => {
  const paths = packed.files.map(file => file.path)
  t.same(paths.filter(path => !/^(dist\/.+|README\.md|LICENSE|package\.json)$/.test(path)), [])
  for (const entry of ['cjs', 'esm']) {
    t.ok(paths.includes(`dist/${entry}/index.js`), `dist/${entry}/index.js`)
    t.ok(paths.includes(`dist/${entry}/index.d.ts`), `dist/${entry}/index.d.ts`)
    t.ok(paths.includes(`dist/${entry}/package.json`), `dist/${entry}/package.json marks the module type`)
  }
  t.ok(paths.includes('README.md') && paths.includes('LICENSE') && paths.includes('package.json'))
  t.notOk(paths.some(path => path.endsWith('.map') || path.endsWith('.tsbuildinfo')), 'no source maps or build info')
})

t.test('@arethetypeswrong/cli finds no problem in the tarball', async t => {
  const attw = join(root, 'node_modules/.bin/attw')
  let exitCode = 0
  const output = await run(attw, [join(tmp, packed.filename), '--profile', 'strict', '--format', 'json'], project)
    .catch((error: { code?: number, stdout?: string }) => { exitCode = error.code ?? -1; return String(error.stdout) })
  t.equal(exitCode, 0, 'attw exits with 0')
  const { analysis } = JSON.parse(output) as { analysis: { problems: unknown[], entrypoints: Record<string, unknown> } }
  t.same(analysis.problems, [])
  t.same(Object.keys(analysis.entrypoints), ['.', './package.json'])
})

// The README's quick start with typed claims, as a user's strict TypeScript app. `load` imports
// the plugin and says which file the runtime resolved the package to; `store` optionally adds a
// store option and what closes its client.
const quickStart = (load: string, store = { option: '', close: '' }): string => `${load}
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TokenResponse } from 'fastify-jwt-auth'

type Role = 'admin' | 'user'
declare module 'fastify-jwt-auth' {
  interface FastifyJwtAuthClaims {
    tenant: string
    roles: Role[]
  }
}

async function checkCredentials (body: unknown): Promise<{ id: string, roles: Role[] }> {
  const { username } = body as { username: string }
  return { id: username, roles: ['user'] }
}

async function main (): Promise<void> {
  const app = Fastify()
  await app.register(jwtAuth, {
    secret: process.env.JWT_SECRET!,
    issuer: 'https://api.example.com',
    audience: 'api',${store.option}
  })
  app.post('/login', async (request, reply) => {
    const user = await checkCredentials(request.body)
    return reply.issueTokens({ sub: user.id, roles: user.roles, tenant: 'acme' })
  })
  app.get('/profiles', { preHandler: app.authenticate }, async request => {
    const { sub, tenant, roles }: { sub: string, tenant: string, roles: Role[] } = request.user
    return { sub, tenant, roles }
  })
  app.get('/admin', { preHandler: [app.authenticate, app.requireRoles('admin')] }, async () => 'hi')

  // What the declared claims refuse, checked by the compiler (never called).
  function refused (request: FastifyRequest, reply: FastifyReply): void {
    // @ts-expect-error tenant is declared, so it is required
    void reply.issueTokens({ sub: 'alice', roles: ['user'] })
    // @ts-expect-error 'root' is not one of the declared roles
    void reply.issueTokens({ sub: 'alice', roles: ['root'], tenant: 'acme' })
    // @ts-expect-error 'root' is not one of the declared roles
    void app.requireRoles('root')
    // @ts-expect-error undeclared claims are not there
    void request.user.hairColor
  }
  void refused

  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const post = (url: string, body: object) => fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const login = await post('/login', { username: 'alice' })
  const tokens = await login.json() as TokenResponse
  const headers = { authorization: \`\${tokens.token_type} \${tokens.access_token}\` }
  const profile = await fetch(base + '/profiles', { headers })
  const admin = await fetch(base + '/admin', { headers })
  const refreshed = await post('/auth/refresh', { refresh_token: tokens.refresh_token })
  console.log(JSON.stringify({
    loaded,
    login: login.status,
    profile: { status: profile.status, body: await profile.json() },
    admin: admin.status,
    refresh: refreshed.status
  }))
  await app.close()${store.close}
}
void main()
`

const esm = quickStart(`import Fastify from 'fastify'
import jwtAuth from 'fastify-jwt-auth'
const loaded = import.meta.resolve('fastify-jwt-auth')`)

const commonjs = quickStart(`import Fastify = require('fastify')
import fastifyJwtAuth = require('fastify-jwt-auth')
const { jwtAuth } = fastifyJwtAuth
const loaded = require.resolve('fastify-jwt-auth')`)

// What `tsc --init` of TypeScript 5.9 turns on, and skipLibCheck off: the package's own
// declarations are checked too.
const compilerOptions = {
  strict: true,
  skipLibCheck: false,
  module: 'nodenext',
  target: 'es2022',
  types: ['node'],
  verbatimModuleSyntax: true,
  isolatedModules: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noUnusedLocals: true,
  rootDir: 'src',
  outDir: 'out'
}

const expected = (build: string) => ({
  loaded: new RegExp(`node_modules/fastify-jwt-auth/dist/${build}/index\\.js$`),
  login: 200,
  profile: { status: 200, body: { sub: 'alice', tenant: 'acme', roles: ['user'] } },
  admin: 403,
  refresh: 200
})
const secret = { JWT_SECRET: 'Qm7xT2vL9pK4wR8nZ3cY6bH1jF5dS0gA' }
const runApp = async (file: string, folder = project, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ loaded: string }> =>
  JSON.parse(await run(process.execPath, [file], folder, { ...secret, ...extraEnv })) as { loaded: string }

/** Compiles both files in one program (each in its own module mode): tsc with the library checks on is the slow step. */
async function compile (t: Test, folder: string, esmApp: string, commonjsApp: string): Promise<void> {
  writeFileSync(join(folder, 'src/app.mts'), esmApp)
  writeFileSync(join(folder, 'src/app.cts'), commonjsApp)
  writeFileSync(join(folder, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['src/app.mts', 'src/app.cts'] }))
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  const failure = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], folder)
    .then(() => '', (error: { stdout?: string }) => String(error.stdout))
  t.equal(failure, '', 'no type error')
  t.match(readFileSync(join(folder, 'out/app.cjs'), 'utf8'), 'const fastifyJwtAuth = require("fastify-jwt-auth");')
  t.match(readFileSync(join(folder, 'out/app.mjs'), 'utf8'), /^import jwtAuth(, \{ RedisStore \})? from 'fastify-jwt-auth';$/m)
}

t.test('a strict TypeScript app with typed claims compiles against the installed package', async t => {
  await compile(t, project, esm, commonjs)
})

t.test('the app runs as an ES module: login, then a Bearer request', async t => {
  const result = await runApp('out/app.mjs')
  t.match(result, expected('esm'))
  t.match(result.loaded, /^file:/)
})

t.test('the app runs as CommonJS through require(): login, then a Bearer request', async t => {
  t.match(await runApp('out/app.cjs'), expected('cjs'))
})

t.test('without ioredis installed the package loads, and RedisStore({ url }) says to install it', async t => {
  t.notOk(existsSync(join(project, 'node_modules/ioredis')), 'ioredis, an optional peer, was not installed')
  const attempt = (load: string): string => `${load}
try { new RedisStore({ url: 'redis://127.0.0.1:1' }) } catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })) }`
  const expectedError = { code: 'FST_JWT_AUTH_MISSING_DEPENDENCY', message: /RedisStore\(\{ url \}\) needs the ioredis package.*npm install ioredis/ }
  t.match(JSON.parse(await run(process.execPath, ['--input-type=module', '-e', attempt("import { RedisStore } from 'fastify-jwt-auth'")], project)), expectedError, 'ES module')
  t.match(JSON.parse(await run(process.execPath, ['-e', attempt("const { RedisStore } = require('fastify-jwt-auth')")], project)), expectedError, 'CommonJS')
})

// The oldest Fastify of the peer range, with ioredis 5 (a client the app made, and one the store
// made from a URL, each in one build), against a real Redis.
t.test(`the app on Fastify ${oldestFastify} with ioredis 5 compiles and runs`, async t => {
  await newProject(oldest, [`fastify@${oldestFastify}`, 'ioredis@5'])
  const installed = (name: string): string => (JSON.parse(readFileSync(join(oldest, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  t.equal(installed('fastify'), oldestFastify)
  t.match(installed('ioredis'), /^5\./)
  t.notOk(existsSync(join(oldest, 'node_modules/fastify-jwt-auth/node_modules/fastify')), 'no nested copy of Fastify')
  const ownClient = {
    option: "\n    store: new RedisStore({ client: redis, prefix: 'oldest-cjs:' })",
    close: '\n  redis.disconnect()'
  }
  const fromUrl = { option: "\n    store: new RedisStore({ url: process.env.REDIS_URL!, prefix: 'oldest-esm:' })", close: '' }
  await compile(t, oldest,
    quickStart(`import Fastify from 'fastify'
import jwtAuth, { RedisStore } from 'fastify-jwt-auth'
const loaded = import.meta.resolve('fastify-jwt-auth')`, fromUrl),
    quickStart(`import Fastify = require('fastify')
import fastifyJwtAuth = require('fastify-jwt-auth')
import ioredis = require('ioredis')
const { jwtAuth, RedisStore } = fastifyJwtAuth
const redis = new ioredis.Redis(process.env.REDIS_URL!)
const loaded = require.resolve('fastify-jwt-auth')`, ownClient))
  const redisEnv = { REDIS_URL: redis.url }
  t.match(await runApp('out/app.mjs', oldest, redisEnv), expected('esm'), 'ES module, a client the store made from the URL')
  t.match(await runApp('out/app.cjs', oldest, redisEnv), expected('cjs'), 'CommonJS, the app\'s ioredis 5 client')
})
