// DPoP in Chromium (issue 16 §6): the browser client of docs/dpop.md (example/public/dpop-client.js,
// loaded as it is) makes a non-extractable WebCrypto key, logs in, calls a protected route,
// refreshes and follows a server nonce; the tokens it got are refused when copied out of the page.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { webcrypto } from 'node:crypto'
import type { Page } from 'puppeteer-core'
import { cookieMap, launchBrowser, startApp } from './harness.js'

const clientSource = readFileSync(join(__dirname, '..', '..', 'example', 'public', 'dpop-client.js'), 'utf8')

interface Flow {
  extractable: boolean
  exportRefused: boolean
  login: { status: number, body: Record<string, unknown> }
  profile: { status: number, body: Record<string, unknown> }
  refreshed: { status: number, body: Record<string, unknown> }
  afterRefresh: number
}

interface DpopClient {
  keys: { privateKey: { extractable: boolean } }
  fetch: (url: string, init?: { method?: string, accessToken?: unknown, body?: unknown }) => Promise<Response>
}

async function runFlow (page: Page): Promise<Flow> {
  return await page.evaluate(async (modulePath) => {
    // The page's own module, served by the app.
    const { createDpopClient } = await import(modulePath) as { createDpopClient: () => Promise<DpopClient> }
    const client = await createDpopClient()
    const json = async (response: Response): Promise<{ status: number, body: Record<string, unknown> }> => ({ status: response.status, body: await response.json() as Record<string, unknown> })
    let exportRefused = false
    try { await crypto.subtle.exportKey('jwk', client.keys.privateKey as webcrypto.CryptoKey) } catch { exportRefused = true }
    const login = await json(await client.fetch('/login', { method: 'POST', body: { sub: 'alice' } }))
    const profile = await json(await client.fetch('/profiles', { accessToken: login.body.access_token }))
    const refreshed = await json(await client.fetch('/auth/refresh', { method: 'POST', body: { refresh_token: login.body.refresh_token } }))
    const afterRefresh = (await client.fetch('/profiles', { accessToken: refreshed.body.access_token })).status
    return { extractable: client.keys.privateKey.extractable, exportRefused, login, profile, refreshed, afterRefresh }
  }, '/dpop-client.js') as Flow
}

for (const nonce of [false, true]) {
  t.test(`the SPA flow with a non-extractable key${nonce ? ', with server nonces' : ''}`, async t => {
    const browser = await launchBrowser(t)
    const { app, origin } = await startApp(t, { cookies: { secure: false }, dpop: { nonce } }, {
      before: async app => {
        app.get('/dpop-client.js', async (_request, reply) => await reply.type('text/javascript').send(clientSource))
      }
    })
    const page = await browser.newPage()
    await page.goto(origin)
    const flow = await runFlow(page)
    t.equal(flow.extractable, false, 'the private key is not extractable')
    t.ok(flow.exportRefused, 'exporting it throws')
    t.equal(flow.login.status, 200)
    t.equal(flow.login.body.token_type, 'DPoP')
    t.same(flow.profile, { status: 200, body: { username: 'alice', sid: flow.profile.body.sid } }, 'a protected route with Authorization: DPoP')
    t.equal(flow.refreshed.status, 200)
    t.equal(flow.refreshed.body.token_type, 'DPoP', 'the refresh proved the same key')
    t.equal(flow.afterRefresh, 200)
    t.same([...(await cookieMap(page)).keys()], [], 'bound tokens are never put in cookies')

    // A token copied out of the page (by an XSS payload, say) is useless elsewhere.
    const copied = flow.refreshed.body
    const asBearer = await app.inject({ url: '/profiles', headers: { authorization: `Bearer ${copied.access_token as string}` } })
    t.equal(asBearer.statusCode, 401)
    t.equal(asBearer.json().code, 'FST_JWT_AUTH_DPOP_BOUND')
    const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: copied.refresh_token } })
    t.equal(refresh.statusCode, 400, 'the refresh token without the key')
    t.equal(refresh.json().error, 'invalid_grant')
  })
}
