// A single-page app on another site than the API (issue 12 §3), as the README's recipe sets it
// up: `cookies: { sameSite: 'none', csrf: true, allowedOrigins }` and @fastify/cors with
// credentials and `exposedHeaders: ['x-csrf-token']`. The page cannot read the API's csrf cookie,
// so it keeps the value the token responses give it (x-csrf-token header, csrf_token field) and
// echoes it. Once with third-party cookies allowed (Chrome's default), once blocked (Debian's).
import t from 'tap'
import type { Test } from 'tap'
import cors from '@fastify/cors'
import type { Page } from 'puppeteer-core'
import { accessCookie, allCookies, launchBrowser, refreshCookie, startApp, startAttacker } from './harness.js'
import type { TestApp } from './harness.js'

interface Answer { status: number, body: Record<string, unknown> | null, csrfHeader: string | null }
interface Spa {
  call: (path: string, init?: { method?: string, json?: unknown, csrf?: string }) => Promise<Answer>
  authed: (path: string, init?: { method?: string }) => Promise<Answer>
  csrf: () => string
}
declare const window: { spa: Spa }
declare const document: { cookie: string }

// The page's whole API client: credentialed fetches to the API, the csrf value taken from each
// token response's header and kept in sessionStorage (it survives a reload of the page), echoed on
// unsafe requests; on a 401 one silent refresh, then the request again.
const client = `
const api = document.currentScript.dataset.api
const csrf = () => sessionStorage.getItem('csrf') ?? ''
async function call (path, { method = 'GET', json, csrf: override } = {}) {
  const headers = {}
  if (json !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') headers['x-csrf-token'] = override ?? csrf()
  const response = await fetch(api + path, { method, headers, credentials: 'include', body: json === undefined ? undefined : JSON.stringify(json) })
  const csrfHeader = response.headers.get('x-csrf-token')
  if (csrfHeader !== null) sessionStorage.setItem('csrf', csrfHeader)
  const text = await response.text()
  return { status: response.status, body: text === '' ? null : JSON.parse(text), csrfHeader }
}
async function authed (path, init) {
  const first = await call(path, init)
  if (first.status !== 401) return first
  const refreshed = await call('/auth/refresh', { method: 'POST' })
  return refreshed.status === 200 ? await call(path, init) : first
}
window.spa = { call, authed, csrf }
`

async function startSpaAndApi (t: Test): Promise<{ api: TestApp, spaUrl: string, spaOrigin: string }> {
  const spaSite = await startAttacker(t)
  const api = await startApp(t, { cookies: { sameSite: 'none', csrf: true, allowedOrigins: [spaSite.origin] } }, {
    before: async app => {
      await app.register(cors, {
        origin: [spaSite.origin],
        credentials: true,
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['content-type', 'x-csrf-token'],
        exposedHeaders: ['x-csrf-token']
      })
    }
  })
  const spaUrl = spaSite.serve(`<!doctype html><meta charset="utf-8"><title>spa</title><script data-api="${api.origin}">${client}</script>`)
  return { api, spaUrl, spaOrigin: spaSite.origin }
}

async function openSpa (page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.waitForFunction(() => window.spa !== undefined)
}

const spaCall = async (page: Page, path: string, init: { method?: string, json?: unknown, csrf?: string } = {}): Promise<Answer> =>
  await page.evaluate(async (path, init) => await window.spa.call(path, init), path, init)

t.test('an SPA on another site, third-party cookies allowed: login, profile, refresh, sessions, logout', async t => {
  const browser = await launchBrowser(t, { thirdPartyCookies: true })
  const { api, spaUrl, spaOrigin } = await startSpaAndApi(t)
  const page = await browser.newPage()
  await openSpa(page, spaUrl)

  const login = await spaCall(page, '/login', { method: 'POST', json: { sub: 'alice' } })
  t.equal(login.status, 200)
  t.type(login.body?.csrf_token, 'string', 'the token response carries the csrf value')
  t.equal(login.csrfHeader, login.body?.csrf_token, 'and so does the x-csrf-token header, readable through exposedHeaders')
  const cookies = new Map((await allCookies(page)).map(cookie => [cookie.name, cookie]))
  t.match(cookies.get(accessCookie), { domain: 'localhost', sameSite: 'None', secure: true, httpOnly: true })
  t.match(cookies.get(refreshCookie), { domain: 'localhost', sameSite: 'None', path: '/auth' })
  t.equal(cookies.get('csrf_token')?.value, login.body?.csrf_token, 'the value is the API\'s csrf cookie')
  t.equal(await page.evaluate(() => document.cookie), '', 'which the page cannot read: it is the API host\'s')

  const profile = await spaCall(page, '/profiles')
  t.equal(profile.status, 200, 'the profile by cookie alone')
  t.equal(profile.body?.username, 'alice')
  const sid = profile.body?.sid as string

  const unsafe = await spaCall(page, '/transfer', { method: 'POST', csrf: '' })
  t.equal(unsafe.status, 403, 'an unsafe request without the value is refused')
  t.equal(unsafe.body?.code, 'FST_JWT_AUTH_CSRF')
  t.equal((await spaCall(page, '/transfer', { method: 'POST' })).status, 200, 'with the echoed value it passes')

  await t.test('refresh: needs the value, and gives the next one', async t => {
    const without = await spaCall(page, '/auth/refresh', { method: 'POST', csrf: '' })
    t.equal(without.status, 403)
    t.equal(without.body?.code, 'FST_JWT_AUTH_CSRF')
    const before = await page.evaluate(() => window.spa.csrf())
    const refreshed = await spaCall(page, '/auth/refresh', { method: 'POST' })
    t.equal(refreshed.status, 200)
    t.not(refreshed.csrfHeader, before, 'a new value with the new access token')
    t.equal(refreshed.csrfHeader, refreshed.body?.csrf_token)
    t.equal((await spaCall(page, '/transfer', { method: 'POST', csrf: before })).status, 403, 'the old value no longer counts')
    t.equal((await spaCall(page, '/transfer', { method: 'POST' })).status, 200)
  })

  await t.test('after a reload, a lost access cookie is refreshed silently on the 401', async t => {
    await openSpa(page, spaUrl)
    await page.deleteCookie({ name: accessCookie, url: api.origin }) // as when it expires
    const before = api.seen.length
    const profile = await page.evaluate(async () => await window.spa.authed('/profiles'))
    t.equal(profile.status, 200)
    t.same(profile.body, { username: 'alice', sid }, 'the same session')
    t.same(api.seen.slice(before).map(request => request.url), ['/profiles', '/auth/refresh', '/profiles'], '401, refresh, retry')
  })

  await t.test('sessions: listed, and another one ended', async t => {
    await api.app.inject({ method: 'POST', url: '/login', payload: { sub: 'alice' } }) // alice on another device
    const listed = await spaCall(page, '/auth/sessions')
    t.equal(listed.status, 200)
    const sessions = listed.body as unknown as Array<{ id: string, current: boolean }>
    t.equal(sessions.length, 2)
    const other = sessions.find(session => !session.current)!
    t.equal((await spaCall(page, `/auth/sessions/${other.id}`, { method: 'DELETE', csrf: '' })).status, 403, 'DELETE needs the value too')
    t.equal((await spaCall(page, `/auth/sessions/${other.id}`, { method: 'DELETE' })).status, 204)
    t.same((await api.app.jwtAuth.listSessions('alice')).map(session => session.id), [sid], 'only this session is left')
  })

  await t.test('logout: needs the value, ends the session and clears the API\'s cookies', async t => {
    t.equal((await spaCall(page, '/auth/logout', { method: 'POST', csrf: '' })).status, 403)
    t.equal((await spaCall(page, '/auth/logout', { method: 'POST' })).status, 204)
    t.same((await allCookies(page)).map(cookie => cookie.name), [], 'the browser holds no cookie')
    t.same(await api.app.jwtAuth.listSessions('alice'), [])
    t.equal((await spaCall(page, '/profiles')).status, 401)
  })

  t.ok(api.seen.filter(request => request.method !== 'OPTIONS').every(request => request.origin === undefined || request.origin === spaOrigin), 'every request came from the SPA\'s origin')
})

t.test('an SPA on another site, third-party cookies blocked: login answers, but no cookie is kept', async t => {
  const browser = await launchBrowser(t)
  const { spaUrl } = await startSpaAndApi(t)
  const page = await browser.newPage()
  const cdp = await page.createCDPSession()
  await cdp.send('Network.enable')
  const blocked: string[] = []
  cdp.on('Network.responseReceivedExtraInfo', event => {
    for (const cookie of event.blockedCookies) blocked.push(`${cookie.cookie?.name ?? '?'}: ${cookie.blockedReasons.join(',')}`)
  })
  await openSpa(page, spaUrl)

  const login = await spaCall(page, '/login', { method: 'POST', json: { sub: 'alice' } })
  t.equal(login.status, 200, 'login answers 200 with the token body')
  t.same(blocked.sort(), [`${accessCookie}: UserPreferences`, `${refreshCookie}: UserPreferences`, 'csrf_token: UserPreferences'], 'the browser refused every Set-Cookie')
  t.same(await allCookies(page), [], 'and holds no cookie')
  const profile = await spaCall(page, '/profiles')
  t.equal(profile.status, 401)
  t.equal(profile.body?.code, 'FST_JWT_AUTH_NO_TOKEN', 'so the profile finds no token')
  const refresh = await spaCall(page, '/auth/refresh', { method: 'POST' })
  t.equal(refresh.status, 400)
  t.equal(refresh.body?.error, 'invalid_request', 'and a refresh finds no refresh cookie')
  await cdp.detach()
})
