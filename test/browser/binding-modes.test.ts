// The anti-CSRF token mode and the fingerprint mode in a real browser (issue 12 §6): what page
// scripts can read, what each request must carry, and that a token copied out of the browser is
// useless without its fingerprint cookie.
import t from 'tap'
import { accessCookie, cookieMap, launchBrowser, logIn, pageFetch, refreshCookie, startApp } from './harness.js'

declare const document: { cookie: string }

t.test('anti-CSRF token mode: the page echoes the readable csrf_token cookie', async t => {
  const browser = await launchBrowser(t)
  const { origin } = await startApp(t, { cookies: { sameSite: 'none', csrf: true } })
  const page = await browser.newPage()
  await page.goto(origin)
  await logIn(page)
  const csrfOfPage = async (): Promise<string> => await page.evaluate(() => /(?:^|; )csrf_token=([^;]*)/.exec(document.cookie)?.[1] ?? '')

  const cookies = await cookieMap(page)
  t.match(cookies.get('csrf_token'), { httpOnly: false, secure: true, sameSite: 'None', path: '/' })
  t.match(cookies.get(accessCookie), { httpOnly: true, secure: true, sameSite: 'None' })
  t.match(cookies.get(refreshCookie), { httpOnly: true, secure: true, sameSite: 'None', path: '/auth' })
  const csrf = await csrfOfPage()
  t.equal(csrf, cookies.get('csrf_token')!.value, 'the page reads the csrf cookie')
  t.equal(await page.evaluate(() => document.cookie), `csrf_token=${csrf}`, 'and nothing else')

  const without = await pageFetch(page, '/transfer', { method: 'POST' })
  t.equal(without.status, 403)
  t.equal(without.body?.code, 'FST_JWT_AUTH_CSRF')
  t.equal((await pageFetch(page, '/transfer', { method: 'POST', headers: { 'x-csrf-token': 'x'.repeat(43) } })).status, 403, 'a wrong value is refused')
  t.equal((await pageFetch(page, '/transfer', { method: 'POST', headers: { 'x-csrf-token': csrf } })).status, 200)
  t.equal((await pageFetch(page, '/profiles')).status, 200, 'safe methods need no header')

  const refreshWithout = await pageFetch(page, '/auth/refresh', { method: 'POST' })
  t.equal(refreshWithout.status, 403)
  t.equal(refreshWithout.body?.code, 'FST_JWT_AUTH_CSRF')
  t.equal((await pageFetch(page, '/auth/refresh', { method: 'POST', headers: { 'x-csrf-token': csrf } })).status, 200)
  const rotated = await csrfOfPage()
  t.not(rotated, csrf, 'each refresh sets a new csrf value')
  t.equal((await pageFetch(page, '/transfer', { method: 'POST', headers: { 'x-csrf-token': csrf } })).status, 403, 'the old value no longer counts')
  t.equal((await pageFetch(page, '/transfer', { method: 'POST', headers: { 'x-csrf-token': rotated } })).status, 200)

  t.equal((await pageFetch(page, '/auth/logout', { method: 'POST' })).status, 403, 'logout by cookie needs the header too')
  t.equal((await pageFetch(page, '/auth/logout', { method: 'POST', headers: { 'x-csrf-token': rotated } })).status, 204)
  t.same([...(await cookieMap(page)).keys()], [], 'logout leaves no cookie')
})

t.test('fingerprint mode: an access token copied out of the browser is refused', async t => {
  const browser = await launchBrowser(t)
  const { origin } = await startApp(t, { fingerprint: true })
  const page = await browser.newPage()
  await page.goto(origin)
  const login = await logIn(page)
  const token = login.body?.access_token as string

  const cookies = await cookieMap(page)
  t.match(cookies.get('__Secure-Fgp'), { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' })
  t.equal(await page.evaluate(() => document.cookie), '', 'page scripts cannot read the fingerprint')
  t.equal((await pageFetch(page, '/profiles')).status, 200, 'the browser that holds the fingerprint is let in')
  t.equal((await pageFetch(page, '/profiles', { headers: { authorization: `Bearer ${token}` } })).status, 200, 'Bearer too, with the cookie beside it')

  // Another browser profile (no cookies) with the stolen token as Bearer.
  const elsewhere = await browser.createBrowserContext()
  const thief = await elsewhere.newPage()
  await thief.goto(origin)
  const stolen = await pageFetch(thief, '/profiles', { headers: { authorization: `Bearer ${token}` } })
  t.equal(stolen.status, 401)
  t.equal(stolen.body?.code, 'FST_JWT_AUTH_FINGERPRINT_MISMATCH')

  // The thief's own fingerprint cookie (from a login of its own) does not fit the victim's token.
  await logIn(thief, 'mallory')
  await thief.deleteCookie({ name: accessCookie, url: origin })
  t.ok((await cookieMap(thief)).has('__Secure-Fgp'), 'the thief holds a fingerprint of its own')
  t.equal((await pageFetch(thief, '/profiles', { headers: { authorization: `Bearer ${token}` } })).body?.code, 'FST_JWT_AUTH_FINGERPRINT_MISMATCH')

  const first = cookies.get('__Secure-Fgp')!.value
  t.equal((await pageFetch(page, '/auth/refresh', { method: 'POST' })).status, 200)
  t.not((await cookieMap(page)).get('__Secure-Fgp')?.value, first, 'each refresh sets a new fingerprint')
  t.equal((await pageFetch(page, '/profiles')).status, 200)
  await elsewhere.close()
})
