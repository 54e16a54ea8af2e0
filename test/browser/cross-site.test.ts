// Cross-site attacks in a real browser (issue 12 §1 and §6): a page on another site makes the
// victim's browser send form POSTs to every unsafe route, credentialed fetches, image loads and
// top-level GETs. Each attack must fail and leave the victim logged in with the same cookies:
// no session planted (login CSRF), none cleared (forced logout), no state changed.
import t from 'tap'
import type { Test } from 'tap'
import type { Page } from 'puppeteer-core'
import { accessCookie, cookieMap, launchBrowser, logIn, pageFetch, refreshCookie, startApp, startAttacker } from './harness.js'
import type { Attacker, TestApp } from './harness.js'

declare const document: { forms: Array<{ submit: () => void }>, querySelector: (selector: string) => { click: () => void } }
declare class Image { src: string; onload: () => void; onerror: () => void }

function escapeHtml (value: string): string {
  return value.replace(/[&<>"]/g, character => `&#${character.charCodeAt(0)};`)
}

/** Submits a cross-site form from the attacker's tab as a top-level navigation; resolves to the app's status. */
async function formPost (tab: Page, attacker: Attacker, action: string, fields: Record<string, string> = {}): Promise<number> {
  const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('')
  await tab.goto(attacker.serve(`<!doctype html><form method="POST" action="${escapeHtml(action)}">${inputs}</form>`))
  await tab.waitForSelector('form')
  // The response, not a navigation: a 204 (logout) leaves the attacker's page in place.
  const [response] = await Promise.all([
    tab.waitForResponse(response => response.url() === action && response.request().method() === 'POST'),
    tab.evaluate(() => { document.forms[0]!.submit() })
  ])
  return response.status()
}

interface Victim {
  page: Page
  cookies: { access: string, refresh: string }
  sid: string
}

async function victimOf (tab: Page, origin: string): Promise<Victim> {
  await tab.goto(origin)
  await logIn(tab, 'alice')
  const cookies = await cookieMap(tab)
  const profile = await pageFetch(tab, '/profiles')
  return {
    page: tab,
    cookies: { access: cookies.get(accessCookie)!.value, refresh: cookies.get(refreshCookie)!.value },
    sid: profile.body?.sid as string
  }
}

/** The victim holds the very cookies of before, and they still read alice's profile in the same session. */
async function stillLoggedIn (t: Test, victim: Victim, app: TestApp): Promise<void> {
  const cookies = await cookieMap(victim.page)
  t.equal(cookies.get(accessCookie)?.value, victim.cookies.access, 'the access cookie is unchanged')
  t.equal(cookies.get(refreshCookie)?.value, victim.cookies.refresh, 'the refresh cookie is unchanged')
  const profile = await pageFetch(victim.page, '/profiles')
  t.equal(profile.status, 200, 'the profile still answers')
  t.same(profile.body, { username: 'alice', sid: victim.sid }, 'as alice, in the same session')
  const sessions = await app.app.jwtAuth.listSessions('alice')
  t.ok(sessions.some(session => session.id === victim.sid), 'the session is alive in the store')
}

t.test('cross-site attacks on the default cookie mode', async t => {
  const browser = await launchBrowser(t)
  // A root form parser, as @fastify/formbody gives many apps: /auth/logout then reads form bodies too.
  const target = await startApp(t, {}, { formBodies: true })
  const attacker = await startAttacker(t)
  const victimTab = await browser.newPage()
  const tab = await browser.newPage()
  // The attacker's own session: its refresh token is what a login CSRF plants.
  const mallory = (await target.app.inject({ method: 'POST', url: '/login', payload: { sub: 'mallory' } })).json<{ refresh_token: string }>()
  const url = (path: string): string => target.origin + path

  /** Logs the victim in afresh, runs the attack, and checks that the victim is still logged in. */
  async function attack (name: string, run: (t: Test, victim: Victim) => Promise<void>): Promise<void> {
    await t.test(name, async t => {
      const victim = await victimOf(victimTab, target.origin)
      await run(t, victim)
      await stillLoggedIn(t, victim, target)
    })
  }

  await attack('a form POST with the attacker\'s refresh token does not log the victim into his session', async t => {
    t.equal(await formPost(tab, attacker, url('/auth/refresh'), { refresh_token: mallory.refresh_token }), 200, 'a body-token client still gets its answer')
  })

  await attack('a form POST with a garbage refresh token does not log the victim out', async t => {
    t.equal(await formPost(tab, attacker, url('/auth/refresh'), { refresh_token: 'garbage' }), 400)
  })

  await attack('a form POST to /auth/refresh with the cookie alone is refused', async t => {
    t.equal(await formPost(tab, attacker, url('/auth/refresh')), 400, 'no refresh cookie was sent (SameSite=Strict)')
  })

  for (const [label, fields] of [['no body', {}], ['a garbage refresh token', { refresh_token: 'garbage' }], ['the attacker\'s refresh token', { refresh_token: mallory.refresh_token }]] as const) {
    await attack(`a form POST to /auth/logout with ${label} does not log the victim out`, async t => {
      t.ok([204, 401].includes(await formPost(tab, attacker, url('/auth/logout'), fields)))
    })
  }

  for (const path of ['/auth/logout-all', '/auth/revoke', '/transfer']) {
    await attack(`a form POST to ${path} is refused`, async t => {
      const status = await formPost(tab, attacker, url(path), path === '/auth/revoke' ? { token: 'garbage' } : {})
      // /auth/revoke answers 200 for any token (RFC 7009); the others find no credential (SameSite=Lax).
      t.equal(status, path === '/auth/revoke' ? 200 : 401)
    })
  }

  await attack('credentialed fetches from the attacker\'s page send no cookie and read nothing', async (t, victim) => {
    await tab.goto(attacker.serve('<!doctype html><p>attacker</p>'))
    const before = target.seen.length
    const results = await tab.evaluate(async (base: string, sessionId: string, token: string) => {
      const attempt = async (path: string, init: Record<string, unknown>): Promise<string> => {
        try {
          const response = await fetch(base + path, { credentials: 'include', ...init })
          return response.type === 'opaque' ? 'opaque' : await response.text()
        } catch {
          return 'blocked'
        }
      }
      return [
        await attempt('/profiles', {}),
        await attempt('/auth/sessions', {}),
        await attempt('/transfer', { method: 'POST', mode: 'no-cors' }),
        await attempt('/auth/refresh', { method: 'POST', mode: 'no-cors', body: new URLSearchParams({ refresh_token: token }) }),
        await attempt('/auth/logout', { method: 'POST', mode: 'no-cors', body: new URLSearchParams({ refresh_token: 'garbage' }) }),
        await attempt('/auth/logout-all', { method: 'POST', mode: 'no-cors' }),
        await attempt(`/auth/sessions/${sessionId}`, { method: 'DELETE' })
      ]
    }, target.origin, victim.sid, mallory.refresh_token)
    t.same(results, ['blocked', 'blocked', 'opaque', 'opaque', 'opaque', 'opaque', 'blocked'], 'CORS hides every answer; DELETE fails its preflight')
    const sent = target.seen.slice(before)
    t.ok(sent.length >= 6, 'the requests did reach the app')
    t.ok(sent.every(request => request.method !== 'DELETE'), 'the DELETE was never sent')
    t.ok(sent.every(request => !request.cookie.includes('access_token=') && !request.cookie.includes('refresh_token=')), 'no token cookie went with them')
  })

  await attack('images pointing at the app carry no cookie', async t => {
    await tab.goto(attacker.serve('<!doctype html><p>attacker</p>'))
    const before = target.seen.length
    await tab.evaluate(async (paths: string[]) => {
      await Promise.all(paths.map(async path => await new Promise<void>(resolve => {
        const image = new Image()
        image.onload = image.onerror = () => { resolve() }
        image.src = path
      })))
    }, ['/profiles', '/auth/sessions', '/auth/logout'].map(url))
    const sent = target.seen.slice(before)
    t.equal(sent.length, 3)
    t.ok(sent.every(request => request.cookie === ''), 'no cookie at all')
  })

  await attack('top-level GETs from a link change nothing', async t => {
    for (const path of ['/profiles', '/auth/logout', '/auth/refresh', '/auth/sessions']) {
      await tab.goto(attacker.serve(`<!doctype html><a href="${url(path)}">go</a>`))
      const [response] = await Promise.all([tab.waitForNavigation(), tab.evaluate(() => { document.querySelector('a').click() })])
      t.ok(response !== null, `${path} was opened`)
    }
  })
})

t.test('cross-site attacks on the anti-CSRF token mode (SameSite=None: the browser sends the cookies)', async t => {
  const browser = await launchBrowser(t)
  const target = await startApp(t, { cookies: { sameSite: 'none', csrf: true } }, { formBodies: true })
  const attacker = await startAttacker(t)
  const victim = await victimOf(await browser.newPage(), target.origin)
  const tab = await browser.newPage()

  for (const path of ['/transfer', '/auth/refresh', '/auth/logout', '/auth/logout-all']) {
    await t.test(`a form POST to ${path} carries the cookies and is refused`, async t => {
      const before = target.seen.length
      t.equal(await formPost(tab, attacker, target.origin + path), 403)
      const sent = target.seen.slice(before).find(request => request.url === path)
      t.ok(sent?.cookie.includes('access_token='), 'SameSite=None let the access cookie go: the plugin refused it')
      t.equal(sent?.origin, attacker.origin)
      await stillLoggedIn(t, victim, target)
    })
  }
})
