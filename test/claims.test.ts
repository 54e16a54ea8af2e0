// Claims that follow the user: the refreshToken.claims hook at every rotation, and
// app.jwtAuth.updateClaims from app code, on every store.
import t from 'tap'
import type { Test } from 'tap'
import { MemoryStore, RedisStore } from '../lib/index.js'
import type { AuthEvent, ClaimsHook, Store } from '../lib/index.js'
import { bearer, buildApp, decodePart, login, refresh, registrationError, secret } from './helpers.js'
import { startRedis } from './redis-harness.js'
import { claimsHookTimeout } from '../lib/session/issue.js'

interface StoreCase { name: string, create: () => Promise<Store> }

async function storeCases (t: Test): Promise<StoreCase[]> {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  let run = 0
  return [
    { name: 'MemoryStore', create: async () => new MemoryStore() },
    { name: 'RedisStore', create: async () => new RedisStore({ url: redis.url, prefix: `claims-${process.pid}-${run++}:` }) }
  ]
}

t.test('claims follow the user', async t => {
  for (const { name, create } of await storeCases(t)) {
    t.test(`${name}: the hook's claims become the new access token's and the session's`, async t => {
      const seen: unknown[] = []
      let roles = ['admin']
      const hook: ClaimsHook = async (session, request) => {
        seen.push({ ...session, url: request.url })
        return { roles }
      }
      const app = await buildApp({ store: await create(), refreshToken: { claims: hook } })
      t.teardown(() => app.close())
      const first = await login(app, { roles: ['admin'] })
      const sid = decodePart(first.access_token, 1).sid
      roles = ['user'] // demoted
      const second = (await refresh(app, first.refresh_token)).json()
      t.same(decodePart(second.access_token, 1).roles, ['user'], 'the demotion is in the refreshed token')
      t.same(seen, [{ sub: 'alice', sessionId: sid, claims: { sub: 'alice', roles: ['admin'] }, url: '/auth/refresh' }])
      const third = (await refresh(app, second.refresh_token)).json()
      t.same((seen[1] as { claims: unknown }).claims, { sub: 'alice', roles: ['user'] }, 'the session keeps what the hook answered')
      t.equal(decodePart(third.access_token, 1).sid, sid, 'same session')
    })

    t.test(`${name}: a grace replay gets the live pair without calling the hook again`, async t => {
      let calls = 0
      const app = await buildApp({ store: await create(), refreshToken: { claims: () => { calls++; return { roles: ['user'] } } } })
      t.teardown(() => app.close())
      const first = await login(app)
      const next = (await refresh(app, first.refresh_token)).json()
      const again = await refresh(app, first.refresh_token)
      t.equal(again.statusCode, 200)
      t.equal(again.json().refresh_token, next.refresh_token)
      t.equal(calls, 1)
    })

    t.test(`${name}: null ends the session with its own reason`, async t => {
      const events: AuthEvent[] = []
      const app = await buildApp({ store: await create(), refreshToken: { claims: async () => null }, onEvent: event => events.push(event) })
      t.teardown(() => app.close())
      const first = await login(app)
      const response = await refresh(app, first.refresh_token)
      t.equal(response.statusCode, 400)
      t.equal(response.json().error, 'invalid_grant')
      t.equal((await app.inject({ url: '/me', headers: bearer(first.access_token) })).statusCode, 401, 'its access tokens die with it')
      t.match(events.at(-1), { type: 'session-revoked', sub: 'alice', reason: 'claims-hook' })
    })

    t.test(`${name}: a failing hook is a 503 that keeps the session`, async t => {
      let failing = true
      const app = await buildApp({
        store: await create(),
        refreshToken: { claims: async () => { if (failing) throw new Error('users db down'); return { roles: ['user'] } } }
      })
      t.teardown(() => app.close())
      const first = await login(app)
      const outage = await refresh(app, first.refresh_token)
      t.equal(outage.statusCode, 503)
      t.equal(outage.json().code, 'FST_JWT_AUTH_CLAIMS_UNAVAILABLE')
      t.equal(outage.headers['retry-after'], '5')
      t.notOk(outage.body.includes('users db down'), 'the app\'s error stays in the log')
      t.equal((await app.inject({ url: '/me', headers: bearer(first.access_token) })).statusCode, 200, 'not logged out')
      failing = false
      const retried = await refresh(app, first.refresh_token)
      t.equal(retried.statusCode, 200, 'the same refresh token works once the app\'s store is back')
    })

    t.test(`${name}: updateClaims changes every live session of the user at its next refresh`, async t => {
      const app = await buildApp({ store: await create() })
      t.teardown(() => app.close())
      const phone = await login(app, { roles: ['admin'] })
      const laptop = await login(app, { roles: ['admin'] })
      const bob = await login(app, { sub: 'bob', roles: ['admin'] })
      t.equal(await app.jwtAuth.updateClaims('alice', { roles: ['user'] }), 2)
      t.same(decodePart(phone.access_token, 1).roles, ['admin'], 'issued access tokens keep their claims until they expire')
      for (const device of [phone, laptop]) {
        const next = (await refresh(app, device.refresh_token)).json()
        t.same(decodePart(next.access_token, 1).roles, ['user'])
        t.equal(decodePart(next.access_token, 1).sub, 'alice')
      }
      t.same(decodePart((await refresh(app, bob.refresh_token)).json().access_token, 1).roles, ['admin'], 'bob untouched')
    })
  }
})

t.test('claims updates are checked like login claims', async t => {
  const app = await buildApp({ refreshToken: { claims: async () => ({ sub: 'mallory' }) } })
  t.teardown(() => app.close())
  const first = await login(app)
  const response = await refresh(app, first.refresh_token)
  t.equal(response.statusCode, 500, 'a programming error of the app')
  t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_CLAIMS')
  t.match(response.json().message, /^refreshToken\.claims: the sub of a session cannot change/)
  t.equal((await refresh(app, first.refresh_token)).statusCode, 500, 'the session is kept: the token is still current')

  await t.rejects(app.jwtAuth.updateClaims('alice', { exp: 1 } as never), { code: 'FST_JWT_AUTH_INVALID_CLAIMS', message: /^updateClaims: the exp claim is set by the plugin/ })
  await t.rejects(app.jwtAuth.updateClaims('alice', { roles: 'admin' } as never), { code: 'FST_JWT_AUTH_INVALID_CLAIMS' })
  await t.rejects(app.jwtAuth.updateClaims('', {}), { code: 'FST_JWT_AUTH_INVALID_OPTION' })
  t.equal(await app.jwtAuth.updateClaims('alice', { sub: 'alice', roles: ['user'] }), 1, 'the same sub may be given')
})

t.test('refreshToken.claims must be a function', async t => {
  const error = await registrationError({ secret, refreshToken: { claims: 'roles' } })
  t.equal(error.code, 'FST_JWT_AUTH_INVALID_OPTION')
  t.match(error.message, /refreshToken\.claims must be a function/)
})

t.test('claims hook races and odd answers', async t => {
  for (const { name, create } of await storeCases(t)) {
    t.test(`${name}: a hook slower than grace while another tab rotates is cut off (503), never a logout`, async t => {
      const events: AuthEvent[] = []
      let release: () => void = () => {}
      let slowCalls = 0
      const app = await buildApp({
        store: await create(),
        refreshToken: { reuseGrace: '300ms' },
        onEvent: event => events.push(event)
      })
      t.teardown(() => app.close())
      // The hook is slow for the first caller (tab A) only; tab B's hook answers at once.
      const slowApp = await buildApp({
        store: app.jwtAuth.store as Store,
        refreshToken: {
          reuseGrace: '300ms',
          claims: async ({ claims }) => {
            if (slowCalls++ === 0) await new Promise<void>(resolve => { release = resolve; setTimeout(resolve, 600) })
            return claims
          }
        },
        onEvent: event => events.push(event)
      })
      t.teardown(() => slowApp.close())
      const t0 = await login(app)
      const tabA = refresh(slowApp, t0.refresh_token)
      const tabB = await refresh(slowApp, t0.refresh_token)
      t.equal(tabB.statusCode, 200, 'tab B rotates while A\'s hook is still running')
      const answerA = await tabA
      release()
      t.equal(answerA.statusCode, 503, 'tab A: the hook is cut off at the grace, not left to turn into reuse')
      t.equal(answerA.json().code, 'FST_JWT_AUTH_CLAIMS_UNAVAILABLE')
      t.notOk(events.some(event => event.type === 'reuse-detected'), 'no reuse')
      t.equal((await app.inject({ url: '/me', headers: bearer(tabB.json().access_token) })).statusCode, 200, 'the session lives')
      // In a browser both tabs share the cookie jar: tab A retries with the cookie B's answer set.
      t.equal((await refresh(app, tabB.json().refresh_token)).statusCode, 200, 'the live refresh token still refreshes')
    })

    t.test(`${name}: an updateClaims made while the hook runs is not undone by the hook's stale answer`, async t => {
      let app: Awaited<ReturnType<typeof buildApp>> | undefined
      app = await buildApp({
        store: await create(),
        // A pass-through hook: it answers what it was told, read before the demotion.
        refreshToken: { claims: async ({ claims }) => { await (app as NonNullable<typeof app>).jwtAuth.updateClaims('alice', { roles: ['user'] }); return claims } }
      })
      t.teardown(() => app?.close())
      const first = await login(app, { roles: ['admin'] })
      const next = (await refresh(app, first.refresh_token)).json()
      t.same(decodePart(next.access_token, 1).roles, ['user'], 'the demotion holds')
    })

    t.test(`${name}: a hook answer JSON cannot hold, or that is not an object, is the app's bug (500) and rotates nothing`, async t => {
      const answers: unknown[] = [
        { roles: ['user'], toJSON: () => ({ sub: 'root', roles: ['admin'] }) },
        { big: 10n },
        { get boom () { throw new Error('secret detail') } },
        undefined,
        ['admin'],
        'admin'
      ]
      let answer: unknown
      const app = await buildApp({ store: await create(), refreshToken: { claims: async () => answer as never } })
      t.teardown(() => app.close())
      const first = await login(app)
      for (const [i, value] of answers.entries()) {
        answer = value
        const response = await refresh(app, first.refresh_token)
        t.equal(response.statusCode, 500, `answer ${i}`)
        t.equal(response.json().code, 'FST_JWT_AUTH_INVALID_CLAIMS', `answer ${i}`)
        t.notMatch(response.body, /secret detail|root/, 'no app detail in the answer')
      }
      answer = { roles: ['user'] }
      t.equal((await refresh(app, first.refresh_token)).statusCode, 200, 'the token is still current: nothing was half rotated')
    })
  }
})

t.test('the claims hook is bounded in time: a hook that never answers is a 503 at the grace', async t => {
  const app = await buildApp({ refreshToken: { reuseGrace: '200ms', claims: async () => await new Promise(() => {}) } })
  t.teardown(() => app.close())
  const first = await login(app)
  const response = await refresh(app, first.refresh_token)
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_JWT_AUTH_CLAIMS_UNAVAILABLE')
  t.equal((await app.inject({ url: '/me', headers: bearer(first.access_token) })).statusCode, 200, 'the session is kept')
})

t.test('claimsHookTimeout: the grace, at most 5 s; 5 s without grace', async t => {
  t.equal(claimsHookTimeout(10_000), 5000)
  t.equal(claimsHookTimeout(300), 300)
  t.equal(claimsHookTimeout(0), 5000)
})
