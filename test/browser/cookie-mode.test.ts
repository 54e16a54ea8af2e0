// Cookie mode as a real browser applies it (issue 12 §6): the attributes the README documents,
// no token text for page scripts, the profile by cookie alone, refresh after expiry, two tabs
// refreshing at once, the refresh cookie kept to the auth prefix, logout clearing the cookies.
import t from 'tap'
import { accessCookie, allCookies, cookieMap, launchBrowser, logIn, pageFetch, refreshCookie, startApp, until } from './harness.js'

declare const document: { cookie: string }

const accessName = accessCookie
const refreshName = refreshCookie

t.test('cookie mode with the defaults (Secure, Lax access, Strict refresh under /auth)', async t => {
  const browser = await launchBrowser(t)
  const { origin, seen, holdRefreshes } = await startApp(t, { accessToken: { expiresIn: '2s' } })
  const page = await browser.newPage()
  await page.goto(origin)
  await logIn(page)

  await t.test('the cookies carry the documented attributes', async t => {
    const cookies = await cookieMap(page)
    const access = cookies.get(accessName)
    const refresh = cookies.get(refreshName)
    t.match(access, { domain: 'localhost', path: '/', httpOnly: true, secure: true, sameSite: 'Lax', session: false })
    t.match(refresh, { domain: 'localhost', path: '/auth', httpOnly: true, secure: true, sameSite: 'Strict', session: false })
    // Max-Age: the access lifetime, and until the session's end (the 7-day idle timeout) for the refresh cookie.
    const now = Date.now() / 1000
    t.ok(access!.expires > now && access!.expires <= now + 3, 'the access cookie lives as long as the access token')
    t.ok(refresh!.expires > now + 7 * 86_400 - 5 && refresh!.expires <= now + 7 * 86_400 + 1, 'the refresh cookie lives until the session ends')
  })

  await t.test('page scripts see no token in document.cookie', async t => {
    const visible = await page.evaluate(() => document.cookie)
    const cookies = await cookieMap(page)
    t.equal(visible, '', 'no cookie at all is readable')
    t.notOk(visible.includes(cookies.get(accessName)!.value))
    t.notOk(visible.includes(cookies.get(refreshName)!.value))
  })

  await t.test('the profile is read with the cookie alone', async t => {
    const profile = await pageFetch(page, '/profiles')
    t.equal(profile.status, 200)
    t.equal(profile.body?.username, 'alice')
    t.notOk(seen.at(-1)?.cookie.includes('refresh_token'), 'the profile request carried no refresh cookie')
    t.ok(seen.at(-1)?.cookie.includes('access_token='), 'it carried the access cookie')
  })

  await t.test('the refresh cookie is sent only under the auth prefix', async t => {
    await page.goto(`${origin}/?elsewhere`)
    await pageFetch(page, '/transfer', { method: 'POST' })
    await pageFetch(page, '/auth-like-but-not-the-prefix')
    await pageFetch(page, '/auth/sessions')
    const outside = seen.filter(request => !request.url.startsWith('/auth/') && request.url !== '/auth')
    t.ok(outside.length >= 5)
    t.ok(outside.every(request => !request.cookie.includes('refresh_token=')), 'never outside /auth')
    t.ok(seen.filter(request => request.url === '/auth/sessions').every(request => request.cookie.includes('refresh_token=')), 'always under /auth')
  })

  await t.test('after the access cookie expires, one refresh logs the page back in', async t => {
    await until(async () => !(await cookieMap(page)).has(accessName), 'the browser to drop the expired access cookie')
    const expired = await pageFetch(page, '/profiles')
    t.equal(expired.status, 401)
    t.equal(expired.body?.code, 'FST_JWT_AUTH_NO_TOKEN', 'the browser dropped the cookie, so no token at all')
    const refreshed = await pageFetch(page, '/auth/refresh', { method: 'POST' })
    t.equal(refreshed.status, 200)
    const profile = await pageFetch(page, '/profiles')
    t.equal(profile.status, 200)
    t.equal(profile.body?.username, 'alice')
  })

  await t.test('two tabs refreshing at once both stay logged in', async t => {
    const second = await browser.newPage()
    await second.goto(origin)
    const before = (await cookieMap(page)).get(refreshName)!.value
    holdRefreshes(2) // both requests reach the server with the same refresh cookie
    const [one, two] = await Promise.all([
      pageFetch(page, '/auth/refresh', { method: 'POST' }),
      pageFetch(second, '/auth/refresh', { method: 'POST' })
    ])
    const sent = seen.filter(request => request.url === '/auth/refresh').slice(-2)
    t.ok(sent.every(request => request.cookie.includes(`${refreshName}=${before}`)), 'both tabs sent the same refresh token')
    t.equal(one.status, 200)
    t.equal(two.status, 200)
    t.equal(one.body?.refresh_token, two.body?.refresh_token, 'both got the same successor')
    for (const tab of [page, second]) {
      const profile = await pageFetch(tab, '/profiles')
      t.equal(profile.status, 200, 'each tab still reads the profile')
    }
    const again = await pageFetch(second, '/auth/refresh', { method: 'POST' })
    t.equal(again.status, 200, 'the session was not revoked as reuse')
    await second.close()
  })

  await t.test('a second refresh cookie planted with a more specific Path is refused, not obeyed', async t => {
    const session = await page.createCDPSession()
    // What a sibling subdomain does with Domain=; here the browser is told directly.
    await session.send('Network.setCookie', { name: refreshName, value: 'planted', domain: 'localhost', path: '/auth/refresh', secure: true, httpOnly: true, sameSite: 'Strict' })
    const tossed = await pageFetch(page, '/auth/refresh', { method: 'POST' })
    t.equal(tossed.status, 400)
    t.equal(tossed.body?.code, 'FST_JWT_AUTH_INVALID_REQUEST')
    t.match(seen.at(-1)?.cookie, new RegExp(`${refreshName}=planted; .*${refreshName}=`), 'the browser sent the planted one first')
    await session.send('Network.deleteCookies', { name: refreshName, domain: 'localhost', path: '/auth/refresh' })
    await session.detach()
    t.equal((await pageFetch(page, '/auth/refresh', { method: 'POST' })).status, 200, 'the own cookie alone works again')
  })

  await t.test('logout clears every cookie of the plugin from the browser', async t => {
    const out = await pageFetch(page, '/auth/logout', { method: 'POST' })
    t.equal(out.status, 204)
    t.same((await allCookies(page)).map(cookie => cookie.name), [], 'the browser holds no cookie')
    t.equal((await pageFetch(page, '/profiles')).status, 401)
    t.equal((await pageFetch(page, '/auth/refresh', { method: 'POST' })).status, 400)
  })
})
