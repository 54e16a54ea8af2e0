// Statements of the README's SPA guide (issue 12 §4) that the other browser tests do not show:
// a login handler can keep the token body from the page, how a session's end looks to the page
// (any 400 from /auth/refresh), and an app on another origin of the API's own site.
import t from 'tap'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import type { Page } from 'puppeteer-core'
import { accessCookie, cookieMap, launchBrowser, logIn, pageFetch, refreshCookie, startApp, startAttacker, until } from './harness.js'

declare const document: { cookie: string }

t.test('a login handler that returns something else keeps the tokens from the page, and still sets the cookies', async t => {
  const browser = await launchBrowser(t)
  const { origin } = await startApp(t, {}, {
    before: async app => {
      app.post('/quiet-login', async (_request, reply) => {
        await reply.issueTokens({ sub: 'alice' })
        return { ok: true }
      })
    }
  })
  const page = await browser.newPage()
  await page.goto(origin)
  const login = await pageFetch(page, '/quiet-login', { method: 'POST' })
  t.same(login.body, { ok: true }, 'no token in what the page reads')
  const cookies = await cookieMap(page)
  t.ok(cookies.has(accessCookie) && cookies.has(refreshCookie), 'the cookies are set')
  t.equal((await pageFetch(page, '/profiles')).body?.username, 'alice')
})

t.test('the session\'s end: any 400 from /auth/refresh means the login page', async t => {
  const browser = await launchBrowser(t)
  const { app, origin } = await startApp(t, { accessToken: { expiresIn: '1s' }, refreshToken: { expiresIn: '2s' } })
  const page = await browser.newPage()
  await page.goto(origin)

  await t.test('at the session\'s end the browser has dropped the refresh cookie: invalid_request', async t => {
    await logIn(page)
    await until(async () => !(await cookieMap(page)).has(refreshCookie), 'the browser to drop the refresh cookie at its Max-Age')
    const refresh = await pageFetch(page, '/auth/refresh', { method: 'POST' })
    t.equal(refresh.status, 400)
    t.equal(refresh.body?.error, 'invalid_request', 'not invalid_grant')
    t.equal(refresh.body?.error_description, 'No refresh token was presented')
  })

  await t.test('a session revoked elsewhere: the cookie is sent and refused, invalid_grant, and cleared', async t => {
    await logIn(page, 'bob')
    await app.jwtAuth.revokeUser('bob') // "log out everywhere" from another device
    t.ok((await cookieMap(page)).has(refreshCookie))
    const refresh = await pageFetch(page, '/auth/refresh', { method: 'POST' })
    t.equal(refresh.status, 400)
    t.equal(refresh.body?.error, 'invalid_grant')
    t.notOk((await cookieMap(page)).has(refreshCookie), 'the refused cookie is cleared')
  })
})

t.test('an app on another origin of the API\'s site: cookies sent, refused until listed in allowedOrigins', async t => {
  const browser = await launchBrowser(t)
  const appSite = await startAttacker(t)
  // http://localhost:OTHER_PORT: the API's site (localhost), another origin.
  const appOrigin = appSite.origin.replace('127.0.0.1', 'localhost')
  const page = appSite.serve('<!doctype html><meta charset="utf-8"><title>app</title>').replace('127.0.0.1', 'localhost')
  const corsFor = async (api: FastifyInstance): Promise<void> => {
    await api.register(cors, { origin: [appOrigin], credentials: true })
  }
  const unlisted = await startApp(t, {}, { before: corsFor })
  const listed = await startApp(t, { cookies: { allowedOrigins: [appOrigin] } }, { before: corsFor })

  const post = async (tab: Page, url: string): Promise<{ status: number, code?: string }> => await tab.evaluate(async (url: string) => {
    const response = await fetch(url, { method: 'POST', credentials: 'include' })
    const body = await response.json() as { code?: string }
    return { status: response.status, code: body.code }
  }, url)

  for (const [label, api, expected] of [['not listed', unlisted, 403], ['listed', listed, 200]] as const) {
    await t.test(`the app's origin ${label}`, async t => {
      const tab = await browser.newPage()
      await tab.goto(api.origin)
      await logIn(tab) // the user logged in on the API's own pages
      await tab.goto(page)
      t.equal(await tab.evaluate(() => document.cookie), '')
      const before = api.seen.length
      const transfer = await post(tab, `${api.origin}/transfer`)
      const sent = api.seen.slice(before).find(request => request.url === '/transfer')
      t.ok(sent?.cookie.includes(`${accessCookie}=`), 'the Lax access cookie went along: same site')
      t.equal(sent?.origin, appOrigin)
      t.equal(transfer.status, expected)
      if (expected === 403) t.equal(transfer.code, 'FST_JWT_AUTH_CROSS_ORIGIN')
      const refresh = await post(tab, `${api.origin}/auth/refresh`)
      const sentRefresh = api.seen.slice(before).find(request => request.url === '/auth/refresh')
      t.ok(sentRefresh?.cookie.includes(`${refreshCookie}=`), 'the Strict refresh cookie too')
      t.equal(refresh.status, expected)
      await tab.close()
    })
  }
})
