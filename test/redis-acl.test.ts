// The ACL rule of docs/redis-production.md cannot drift from the code: it is read from the page,
// made the rule of a real Redis user, and the whole flow runs as that user (logins, refreshes,
// reuse, revocations, logout-all, the session routes, the revocation replica, scripts reloaded
// after SCRIPT FLUSH) with nothing denied in ACL LOG. Every command the store's scripts run is in
// the rule, and removing any one permission gives a self-check warning that names it.
import t from 'tap'
import type { Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'
import { RedisStore } from '../lib/index.js'
import { clientCommands, clusterCommands, replicaCommands, scriptCommands } from '../lib/store/redis-self-check.js'
import { bearer, buildApp, login, refresh } from './helpers.js'
import { startCluster, startRedis } from './redis-harness.js'

const root = join(__dirname, '..')
const page = readFileSync(join(root, 'docs/redis-production.md'), 'utf8')
const password = 'acl-test-password-5'

/** The rule's words, from the code block after the page's acl-rule marker. */
function documentedRule (): string[] {
  const block = /<!-- acl-rule[^>]*-->\s*```text\n(ACL SETUSER [^\n]+)\n```/.exec(page)
  if (block === null) throw new Error('docs/redis-production.md has no acl-rule block')
  return (block[1] as string).split(/\s+/).slice(2)
}

const rule = documentedRule()
const [user, ...grants] = rule
/** The rule for a real user: its password, nothing else changed. */
const setUser = (extra: string[] = []): string[] => [user as string, ...grants.map(word => word === '>PASSWORD' ? `>${password}` : word), ...extra]
const allowed = grants.filter(word => word.startsWith('+')).map(word => word.slice(1))

t.test('the documented rule names exactly the commands the store calls, and every one its scripts run', async t => {
  t.same(grants.slice(0, 5), ['on', '>PASSWORD', '~fja:*', 'resetchannels', '-@all'], 'only keys under the prefix, no channels, nothing else')
  t.same([...allowed].sort(), [...clientCommands, ...scriptCommands].sort())
  const source = readFileSync(join(root, 'lib/store/redis.ts'), 'utf8')
  const inScripts = new Set([...source.matchAll(/redis\.call\('([A-Z]+)'/g)].map(match => (match[1] as string).toLowerCase()))
  t.ok(inScripts.size > 10, `the scripts' commands were read (${[...inScripts].join(' ')})`)
  for (const command of inScripts) t.ok(scriptCommands.includes(command as typeof scriptCommands[number]), `${command} is in the rule`)
  for (const extra of [...clusterCommands, ...replicaCommands]) t.match(page, `+${extra}`, `the page names +${extra}`)
})

/** ACL LOG entries other than ioredis's CLIENT SETINFO and SETNAME, whose refusal it ignores. */
async function denials (admin: Redis): Promise<string[]> {
  const entries = await admin.call('ACL', 'LOG') as Array<Array<string | number>>
  return entries.map(entry => {
    const fields = new Map<string, string | number>()
    for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1] as string | number)
    return `${fields.get('reason')} ${fields.get('object')}`
  }).filter(text => !/client\|set(info|name)/.test(text))
}

async function wholeFlow (t: Test, store: RedisStore): Promise<void> {
  const app = await buildApp({ store, revocation: { replica: true }, refreshToken: { reuseGrace: 0 } })
  t.teardown(() => app.close())
  await app.ready()
  // (A Cluster of the harness has no replicas: that finding is the replicas check's, not ours.)
  t.same((await store.runSelfCheck()).filter(finding => finding.check !== 'replicas'), [], 'the self-check finds nothing')

  const first = await login(app, { sub: 'alice' })
  t.equal((await app.inject({ url: '/me', headers: bearer(first.access_token) })).statusCode, 200, 'authenticated')
  const rotated = await refresh(app, first.refresh_token)
  t.equal(rotated.statusCode, 200, 'refreshed')
  t.equal((await refresh(app, first.refresh_token)).statusCode, 400, 'reuse detected: the session is revoked')
  t.equal((await app.inject({ url: '/me', headers: bearer(rotated.json().access_token) })).statusCode, 401, 'its tokens are refused')

  const second = await login(app, { sub: 'alice' })
  const third = await login(app, { sub: 'alice' })
  const sessions = await app.inject({ url: '/auth/sessions', headers: bearer(second.access_token) })
  t.equal(sessions.json().length, 2, 'listed')
  t.equal(await app.jwtAuth.updateClaims('alice', { roles: ['admin'] }), 2, 'claims updated')
  t.equal((await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: second.access_token, token_type_hint: 'access_token' } })).statusCode, 200, 'one access token revoked')
  t.equal((await app.inject({ url: '/me', headers: bearer(second.access_token) })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: second.refresh_token } })).statusCode, 204, 'logout')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(third.access_token) })).statusCode, 204, 'logout-all')
  t.equal((await app.inject({ url: '/me', headers: bearer(third.access_token) })).statusCode, 401, 'every session is gone')
}

t.test('the whole flow as a user with exactly the documented rule, standalone', async t => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', ...setUser())
  const store = new RedisStore({ url: `redis://${user}:${password}@127.0.0.1:${server.port}` })
  await wholeFlow(t, store)
  // Scripts lost (as after a restart): the client falls back to EVAL, which the rule allows.
  await admin.script('FLUSH')
  const again = await buildApp({ store })
  t.teardown(() => again.close())
  t.equal((await again.inject({ method: 'POST', url: '/login', payload: {} })).statusCode, 200, 'a login after SCRIPT FLUSH')
  t.same(await denials(admin), [], 'Redis refused the user nothing')

  for (const command of allowed) {
    await admin.call('ACL', 'SETUSER', user as string, `-${command}`)
    const findings = await store.runSelfCheck()
    t.match(findings, [{ check: 'permissions', message: new RegExp(`may not run (.*, )?${command}[, ]`), fix: new RegExp(`\\+${command}\\b`) }], `without +${command}: the warning names it`)
    await admin.call('ACL', 'SETUSER', user as string, `+${command}`)
  }
  t.same(await store.runSelfCheck(), [], 'all back: nothing to report')

  // Without the self-check, a user that may not PING fails the probe, naming Redis's refusal.
  await admin.call('ACL', 'SETUSER', user as string, '-ping')
  const unchecked = new RedisStore({ url: `redis://${user}:${password}@127.0.0.1:${server.port}`, selfCheck: false })
  t.teardown(() => unchecked.close())
  await t.rejects(unchecked.probe(), /does not answer \(NOPERM/, 'selfCheck: false: the probe names the refusal')
})

t.test('on a Cluster, the rule plus +cluster|slots +cluster|info', async t => {
  const cluster = await startCluster()
  t.teardown(() => cluster.stop())
  for (const node of cluster.nodes) {
    const admin = new Redis(node.port, node.host)
    await admin.call('ACL', 'SETUSER', ...setUser(clusterCommands.map(command => `+${command}`)))
    admin.disconnect()
  }
  const client = new Cluster(cluster.nodes, { redisOptions: { username: user, password, maxRetriesPerRequest: 1 } })
  t.teardown(() => { client.disconnect() })
  await wholeFlow(t, new RedisStore({ client }))
  for (const node of cluster.nodes) {
    const admin = new Redis(node.port, node.host)
    t.same(await denials(admin), [], `node ${node.port} refused the user nothing`)
    admin.disconnect()
  }
})
