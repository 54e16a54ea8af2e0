// The example's browser page (issue 12 §6) against the example started as the README starts it
// (`npm run example`: `node example/server.mjs`, no variable but a free PORT): log in as alice or
// bob, the profile, a silent refresh on 401, the sessions listed and ended, logout.
// Needs `npm run build` first: the example imports the package by its own name.
import t from 'tap'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { Browser, Page } from 'puppeteer-core'
import { freePort } from '../redis-harness.js'
import { root, spawnScript, stop, untilAnswering } from '../example-process.js'
import { allCookies, cookieMap, launchBrowser } from './harness.js'

interface Element { hidden: boolean, textContent: string | null, dataset: Record<string, string>, querySelector: (selector: string) => Element | null, click: () => void }
declare const document: { cookie: string, getElementById: (id: string) => Element, querySelectorAll: (selector: string) => ArrayLike<Element> }

/** The text of an element of the page. */
async function text (page: Page, id: string): Promise<string> {
  return await page.evaluate((id: string) => document.getElementById(id).textContent ?? '', id)
}

/** Waits until the element's text matches (an awaited DOM condition, no sleep). */
async function untilText (page: Page, id: string, pattern: RegExp): Promise<void> {
  await page.waitForFunction((id: string, source: string) => new RegExp(source).test(document.getElementById(id).textContent ?? ''), { timeout: 10_000 }, id, pattern.source)
}

async function untilShown (page: Page, id: 'login' | 'app'): Promise<void> {
  await page.waitForFunction((id: string) => !document.getElementById(id).hidden, { timeout: 10_000 }, id)
}

async function sessionCount (page: Page): Promise<number> {
  return await page.evaluate(() => document.querySelectorAll('#sessions li').length)
}

/** The example started with `env` (and a free PORT), a browser, and a page that records the API calls it makes. */
async function examplePage (t: Test, env: Record<string, string> = {}): Promise<{ base: string, browser: Browser, page: Page, calls: string[] }> {
  const port = await freePort()
  const example = spawnScript(join(root, 'example', 'server.mjs'), { PORT: String(port), ...env })
  t.teardown(() => stop(example.child))
  // The page's origin: the cookies are not Secure outside production, so any host will do.
  const base = `http://127.0.0.1:${port}`
  await untilAnswering(example, base, '/')
  const browser = await launchBrowser(t)
  const page = await browser.newPage()
  const calls: string[] = []
  page.on('request', request => { if (!request.url().endsWith('.js') && request.resourceType() === 'fetch') calls.push(`${request.method()} ${new URL(request.url()).pathname}`) })
  return { base, browser, page, calls }
}

t.test('the example page at / runs the article\'s flow in a browser', async t => {
  const { base, browser, page, calls } = await examplePage(t)

  const response = await page.goto(base)
  t.equal(response?.status(), 200)
  t.equal(response?.headers()['content-security-policy'], "default-src 'self'; style-src 'unsafe-inline'", 'only the page\'s own script may run')
  await untilShown(page, 'login')
  t.same(calls, ['GET /profiles', 'POST /auth/refresh'], 'a first visit: no token, no refresh cookie, so the login')

  await t.test('log in as alice: the profile, and cookies the page cannot read', async t => {
    await page.click('[data-user="alice"]')
    await untilShown(page, 'app')
    t.equal(await text(page, 'profile'), 'Logged in as alice (hair: brown).')
    const cookies = await cookieMap(page)
    t.match(cookies.get('access_token'), { httpOnly: true, sameSite: 'Lax', path: '/' })
    t.match(cookies.get('refresh_token'), { httpOnly: true, sameSite: 'Strict', path: '/auth' })
    t.equal(await page.evaluate(() => document.cookie), '', 'document.cookie shows no token')
    await untilText(page, 'sessions', /This browser/)
    t.equal(await sessionCount(page), 1)
  })

  await t.test('alice is refused the admin area', async t => {
    await page.click('#admin')
    await untilText(page, 'admin-result', /Refused \(403\)/)
    t.pass(await text(page, 'admin-result'))
  })

  await t.test('an expired access token is refreshed silently', async t => {
    await page.deleteCookie({ name: 'access_token', url: base }) // what the browser does at its Max-Age
    calls.length = 0
    await page.evaluate(() => { document.getElementById('profile').textContent = '' })
    await page.click('#reload-profile')
    await untilText(page, 'profile', /alice/)
    t.same(calls.slice(0, 3), ['GET /profiles', 'POST /auth/refresh', 'GET /profiles'], '401, one refresh, the request again')
    t.ok((await cookieMap(page)).has('access_token'), 'a new access cookie')
    t.equal(await text(page, 'status'), '', 'no message: the user saw nothing')
  })

  await t.test('sessions: another device is listed and ended from the page', async t => {
    const otherDevice = await browser.createBrowserContext()
    const other = await otherDevice.newPage()
    await other.goto(base)
    await untilShown(other, 'login')
    await other.click('[data-user="alice"]')
    await untilShown(other, 'app')

    await page.click('#reload-sessions')
    await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 2, { timeout: 10_000 })
    await page.evaluate(() => {
      const item = Array.from(document.querySelectorAll('#sessions li')).find(item => !(item.textContent ?? '').startsWith('This browser'))
      item!.querySelector('button')!.click()
    })
    await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1, { timeout: 10_000 })
    t.match(await text(page, 'sessions'), /^This browser/)

    // The other device's session is over: its access token is refused, and no refresh helps.
    await other.click('#reload-profile')
    await untilShown(other, 'login')
    t.equal(await text(other, 'status'), 'Your session has ended: please log in again.')
    await other.reload()
    await untilShown(other, 'login')
    await otherDevice.close()
  })

  await t.test('log out: the login again, and no cookie left', async t => {
    await page.click('#logout')
    await untilShown(page, 'login')
    t.equal(await text(page, 'status'), 'Logged out.')
    t.same((await allCookies(page)).map(cookie => cookie.name), [], 'the browser holds no cookie')
    await page.reload()
    await untilShown(page, 'login')
  })

  await t.test('bob (admin) opens the admin area, then logs out everywhere', async t => {
    await page.click('[data-user="bob"]')
    await untilText(page, 'profile', /Logged in as bob \(hair: black\)/)
    await page.click('#admin')
    await untilText(page, 'admin-result', /^Welcome, admin$/)
    await page.click('#logout-all')
    await untilShown(page, 'login')
    t.same((await allCookies(page)).map(cookie => cookie.name), [])
  })
})

t.test('the example page: settings want a recent authentication, and a confirmation steps the session up', async t => {
  // A 1 s freshness limit instead of 5 minutes, so that the page meets the RFC 9470 challenge.
  const { base, page, calls } = await examplePage(t, { SETTINGS_MAX_AGE: '1' })
  await page.goto(base)
  await untilShown(page, 'login')

  // Without "Keep me signed in": the token cookies end with the browser session.
  await page.click('#remember')
  await page.click('[data-user="alice"]')
  await untilShown(page, 'app')
  const cookies = await cookieMap(page)
  t.match(cookies.get('access_token'), { session: true }, 'a browser-session access cookie')
  t.match(cookies.get('refresh_token'), { session: true }, 'a browser-session refresh cookie')

  await page.click('#settings')
  await untilText(page, 'settings-result', /^Settings of alice \(authenticated at /)
  const loginTime = await text(page, 'settings-result')

  await new Promise(resolve => setTimeout(resolve, 2100)) // past the 1 s limit, into a later second
  calls.length = 0
  await page.click('#settings')
  await untilText(page, 'settings-result', /^Please confirm who you are first\.$/)
  t.equal(await page.evaluate(() => document.getElementById('confirm').hidden), false, 'the confirmation form is shown')
  t.same(calls, ['GET /settings'], 'a step-up challenge is not answered with a refresh')

  await page.type('#confirm-username', 'bob')
  await page.click('#confirm button')
  await untilText(page, 'settings-result', /^Not confirmed: That is not who you are logged in as$/)

  await page.evaluate(() => { (document.getElementById('confirm-username') as unknown as { value: string }).value = '' })
  await page.type('#confirm-username', 'alice')
  await page.click('#confirm button')
  await untilText(page, 'settings-result', /^Settings of alice \(authenticated at /)
  t.not(await text(page, 'settings-result'), loginTime, 'authenticated at the confirmation')
  t.equal(await page.evaluate(() => document.getElementById('confirm').hidden), true)
  t.match((await cookieMap(page)).get('refresh_token'), { session: true }, 'the step-up keeps the browser-session cookies')

  await page.click('#reload-sessions')
  await untilText(page, 'sessions', /This browser/)
  t.equal(await sessionCount(page), 1, 'the confirmation stayed in the same session')
})
