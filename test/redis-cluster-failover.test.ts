// A 3-master Cluster with a replica each, whose master holding one notice partition (and the
// keys of its users) is killed under load: every answer is 200/204 or 503 with Retry-After,
// users whose keys and notice partition sit on the healthy masters never see a 503 (their
// revocations included), and every rotation and revocation that was acknowledged survives the
// failover, on the instance with a revocation replica as on the one without.
import t from 'tap'
import { Cluster } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisStore } from '../lib/index.js'
import type { TokenResponse } from '../lib/index.js'
import { keySlot, noticePartitionTags, partitionOfKey } from '../lib/store/notice-partitions.js'
import { buildApp } from './helpers.js'
import { startCluster } from './redis-harness.js'
import type { RedisCluster } from './redis-harness.js'

const prefix = 'failover:'
const userKey = (sub: string): string => `${prefix}{u:${Buffer.from(sub, 'utf8').toString('base64url')}}`
const partitionSlot = (sub: string): number => keySlot(`{${noticePartitionTags[partitionOfKey(userKey(sub))] as string}}`)

interface Outcome { path: string, status: number, retryAfter: string | null }

/** Users whose own slot and notice partition are both served by `victim` (or both by another master). */
async function pickUsers (cluster: RedisCluster, victim: number, count: number): Promise<{ onVictim: string[], healthy: string[] }> {
  const masters = new Map<number, number>()
  const masterOf = async (slot: number): Promise<number> => {
    let port = masters.get(slot)
    if (port === undefined) masters.set(slot, port = await cluster.masterOf(slot))
    return port
  }
  const onVictim: string[] = []
  const healthy: string[] = []
  for (let i = 0; onVictim.length < count || healthy.length < count; i++) {
    const sub = `user-${i}`
    const [own, notices] = [await masterOf(keySlot(userKey(sub))), await masterOf(partitionSlot(sub))]
    if (own === victim && notices === victim && onVictim.length < count) onVictim.push(sub)
    if (own !== victim && notices !== victim && healthy.length < count) healthy.push(sub)
  }
  return { onVictim, healthy }
}

t.test('Cluster failover under load: the notice partition master of some users is killed', async t => {
  const cluster = await startCluster({ replicas: 1, requireFullCoverage: false })
  t.teardown(cluster.stop)
  const masters = cluster.nodes.slice(0, 3)
  const clients: Cluster[] = []
  const logs: string[] = []
  const appOn = async (replica: boolean, waitForReplicas = true): Promise<{ app: FastifyInstance, url: string }> => {
    const client = new Cluster(masters, { redisOptions: { maxRetriesPerRequest: 1 } })
    client.on('error', () => {})
    clients.push(client)
    const app = await buildApp({
      store: new RedisStore({ client, prefix, commandTimeout: 1000, ...(waitForReplicas ? { waitForReplicas: { replicas: 1, timeout: 500 } } : {}) }),
      refreshToken: { reuseGrace: '1m' },
      routes: { rateLimit: false },
      ...(replica ? { revocation: { replica: true, maxStaleness: '1s' } } : {})
    }, { logger: { level: 'warn', stream: { write: (line: string) => { logs.push(`${replica ? 'B' : 'A'} ${line}`) } } } })
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    return { app, url }
  }
  const a = await appOn(false)
  const b = await appOn(true)
  // The killed master's shard has no replica after the failover: every write there waits in vain
  // for one. C, which does not wait, checks what survived.
  const c = await appOn(false, false)
  t.teardown(async () => {
    await a.app.close()
    await b.app.close()
    await c.app.close()
    for (const client of clients) client.disconnect()
  })

  // The master that fails holds the single stream of older versions, which took every notice:
  // with it, every revocation in the cluster failed.
  const victim = await cluster.masterOf(keySlot('{revocations}'))
  const { onVictim, healthy } = await pickUsers(cluster, victim, 4)

  const call = async (url: string, path: string, init: RequestInit = {}): Promise<Response> => await fetch(`${url}${path}`, {
    ...init, headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers as Record<string, string> }
  })

  // Each user has a session it rotates (on A) and uses (on B, the replica), and logs in and out of
  // further sessions (logout-all on A); every answer is kept by user.
  const outcomes = new Map<string, Outcome[]>()
  const lastRefresh = new Map<string, string>()
  const revokedTokens = new Map<string, string[]>()
  const record = (sub: string, response: Response): void => {
    outcomes.get(sub)?.push({ path: new URL(response.url).pathname, status: response.status, retryAfter: response.headers.get('retry-after') })
  }
  const users = [...onVictim, ...healthy]
  for (const sub of users) {
    outcomes.set(sub, [])
    revokedTokens.set(sub, [])
  }
  let running = true
  const post = async (sub: string, url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<TokenResponse | null> => {
    const response = await call(url, path, { method: 'POST', headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    record(sub, response)
    if (response.status !== 200) {
      await response.body?.cancel()
      return response.status === 204 ? {} as TokenResponse : null
    }
    return await response.json() as TokenResponse
  }
  const work = async (sub: string): Promise<void> => {
    let access: string | null = null
    while (running) {
      // A session to rotate: the first login's, or a new one after logout-all ended it.
      if (!lastRefresh.has(sub)) {
        const tokens = await post(sub, a.url, '/login', { sub })
        if (tokens === null) continue
        lastRefresh.set(sub, tokens.refresh_token)
      }
      const rotated = await post(sub, a.url, '/auth/refresh', { refresh_token: lastRefresh.get(sub) })
      if (rotated !== null) {
        lastRefresh.set(sub, rotated.refresh_token)
        access = rotated.access_token
      }
      if (access !== null) {
        const use = await call(b.url, '/me', { headers: { authorization: `Bearer ${access}` } })
        record(sub, use)
        await use.body?.cancel()
      }
      const extra = await post(sub, a.url, '/login', { sub })
      if (extra === null) continue
      const ended = await post(sub, a.url, '/auth/logout-all', undefined, { authorization: `Bearer ${extra.access_token}` }) !== null
      if (ended) revokedTokens.get(sub)?.push(extra.access_token)
      // logout-all ended the rotating session too, or may have (a 503 may come after Redis ran it).
      lastRefresh.delete(sub)
      access = null
    }
  }
  const workers = users.map(work)
  await sleep(1500)
  const killedAt = Date.now()
  await cluster.kill(victim)
  // The failover is over once a replica serves the victim's slots and the victim's users are answered again.
  for (;;) {
    await sleep(200)
    const now = await cluster.masterOf(partitionSlot(onVictim[0] as string)).catch(() => victim)
    if (now !== victim) break
    if (Date.now() - killedAt > 30_000) throw new Error('no failover within 30 s')
  }
  t.comment(`failover took ${Date.now() - killedAt} ms`)
  await sleep(2500)
  running = false
  await Promise.all(workers)

  for (const sub of users) {
    const answers = outcomes.get(sub) as Outcome[]
    const wrong = answers.filter(({ status, retryAfter }) => !(status === 200 || status === 204 || (status === 503 && retryAfter !== null)))
    t.same(wrong, [], `${sub}: every answer is 200, 204, or 503 with Retry-After`)
  }
  for (const sub of healthy) {
    const failed = (outcomes.get(sub) as Outcome[]).filter(({ status }) => status !== 200 && status !== 204)
    t.same(failed, [], `${sub}, on healthy masters: no request failed, revocations included`)
    if (failed.length > 0) t.comment(sub, keySlot(userKey(sub)), partitionSlot(sub), logs.filter(line => line.includes('"res"')).map(line => line.slice(0, 400)).join('\n'))
    t.ok((outcomes.get(sub) as Outcome[]).some(({ status }) => status === 204), `${sub}: its revocations were made during the failover`)
  }
  const victimFailures = onVictim.flatMap(sub => (outcomes.get(sub) as Outcome[]).filter(({ status }) => status === 503))
  t.ok(victimFailures.length > 0, 'the users of the killed master were answered 503 while it failed over')

  // Acknowledged writes survived: the last rotated refresh token of each user still rotates, and
  // every access token of a session ended by an acknowledged logout-all is refused by both
  // instances (the replica too: its notice survived).
  await sleep(1500)
  for (const sub of users) {
    if (!lastRefresh.has(sub)) lastRefresh.set(sub, (await post(sub, c.url, '/login', { sub }) as TokenResponse).refresh_token)
    const rotation = await call(c.url, '/auth/refresh', { method: 'POST', body: JSON.stringify({ refresh_token: lastRefresh.get(sub) }) })
    await rotation.body?.cancel()
    t.equal(rotation.status, 200, `${sub}: the last acknowledged rotation survived`)
    const revoked = revokedTokens.get(sub) as string[]
    for (const { url, name } of [{ url: a.url, name: 'A' }, { url: b.url, name: 'B (replica)' }]) {
      const statuses = await Promise.all(revoked.map(async token => {
        const response = await call(url, '/me', { headers: { authorization: `Bearer ${token}` } })
        await response.body?.cancel()
        return response.status
      }))
      t.ok(statuses.length > 0 && statuses.every(status => status === 401), `${sub}: ${statuses.length} acknowledged revocations refused on ${name}`)
    }
  }
})
