// Cookie clients never see token text (issue 18): after a cookie-only login and refreshes made
// with the refresh cookie, nothing a page script can read (bodies, readable headers,
// document.cookie) holds a token the browser keeps.
import t from 'tap'
import { accessCookie, cookieMap, launchBrowser, refreshCookie, startApp } from './harness.js'

declare const document: { cookie: string }

interface Seen { status: number, text: string, headers: string }

t.test('a page script cannot read the tokens of a cookie session', async t => {
  const browser = await launchBrowser(t)
  const { origin } = await startApp(t, {}, { cookiesOnlyLogin: true })
  const page = await browser.newPage()
  await page.goto(origin)
  // What an injected script could read: each answer's text and its readable headers.
  const read = async (path: string): Promise<Seen> => await page.evaluate(async (path) => {
    const login = path === '/login'
    const response = await fetch(path, { method: 'POST', credentials: 'include', ...(login ? { headers: { 'content-type': 'application/json' }, body: '{"sub":"alice"}' } : {}) })
    const headers: string[] = []
    response.headers.forEach((value, name) => { headers.push(`${name}: ${value}`) })
    return { status: response.status, text: await response.text(), headers: headers.join('\n') }
  }, path)

  const seen: Seen[] = [await read('/login')]
  const tokens: string[] = []
  const keep = async (): Promise<void> => {
    const cookies = await cookieMap(page)
    tokens.push(cookies.get(accessCookie)!.value, cookies.get(refreshCookie)!.value)
  }
  await keep()
  for (let i = 0; i < 2; i++) {
    seen.push(await read('/auth/refresh'))
    await keep()
  }
  t.same(seen.map(answer => answer.status), [200, 200, 200])
  t.same(Object.keys(JSON.parse(seen[1]!.text)).sort(), ['expires_in', 'token_type'], 'the refresh body keeps no token')
  t.same(Object.keys(JSON.parse(seen[0]!.text)).sort(), ['expires_in', 'token_type'], 'nor does the login body')
  t.equal(new Set(tokens).size, tokens.length, 'every answer set new tokens in the cookie jar')
  const visible = seen.map(answer => `${answer.text}\n${answer.headers}`).join('\n') + await page.evaluate(() => document.cookie)
  for (const token of tokens) t.notOk(visible.includes(token), 'no token the browser holds is readable by the page')
})
