// The browser test harness: Debian's Chromium, headless, driven by puppeteer-core (which never
// downloads a browser), one fresh profile per launch, killed in teardown. The app under test
// listens on 127.0.0.1 and is opened as http://localhost:PORT (a secure context for Chromium,
// so Secure cookies and __Secure-/__Host- names work over plain HTTP); the attacker's pages are
// served from http://127.0.0.1:PORT2, another site.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import puppeteer from 'puppeteer-core'
import type { Browser, CDPSession, Page } from 'puppeteer-core'
import type { Test } from 'tap'
import jwtAuth from '../../lib/index.js'
import type { JwtAuthOptions } from '../../lib/index.js'

// The default names of Secure cookies: the strongest prefix their attributes allow (the refresh
// cookie's Path is /auth, so __Secure- rather than __Host-).
export const accessCookie = '__Host-access_token'
export const refreshCookie = '__Secure-refresh_token'

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const root = join(__dirname, '..', '..')

// As root in a container, without the networking flags Chromium floods the closed network.
const chromiumFlags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage'
]

export interface LaunchOptions {
  /**
   * Allow third-party cookies, as Chrome's own default does; Debian's Chromium blocks them (CDP
   * reason UserPreferences). Set in the profile, as the settings page would: CDP's
   * Network.setCookieControls does not lift this block.
   */
  thirdPartyCookies?: boolean
}

/** Starts Chromium with a fresh profile directory; teardown closes it, kills it if need be and removes the profile. */
export async function launchBrowser (t: Test, options: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(chromiumPath)) execFileSync(process.execPath, [join(root, 'scripts', 'ensure-chromium.mjs')], { stdio: 'inherit' })
  const profile = await mkdtemp(join(tmpdir(), 'fja-chromium-'))
  if (options.thirdPartyCookies === true) {
    // Chromium's CookieControlsMode: 0 allows third-party cookies, 1 blocks them.
    await mkdir(join(profile, 'Default'))
    await writeFile(join(profile, 'Default', 'Preferences'), JSON.stringify({ profile: { cookie_controls_mode: 0 } }))
  }
  const browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    userDataDir: profile,
    args: chromiumFlags
  })
  t.teardown(async () => {
    const child = browser.process()
    await browser.close().catch(() => {})
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await rm(profile, { recursive: true, force: true })
  })
  return browser
}

export interface SeenRequest {
  method: string
  url: string
  cookie: string
  origin: string | undefined
  secFetchSite: string | undefined
}

export interface TestApp {
  app: FastifyInstance
  /** http://localhost:PORT */
  origin: string
  /** Every request the app received, in order. */
  seen: SeenRequest[]
  /** Holds the next `count` requests to `/auth/refresh` until all of them have arrived. */
  holdRefreshes: (count: number) => void
}

export interface AppOptions {
  /** A root form parser, as @fastify/formbody gives an app. */
  formBodies?: boolean
  /** Extra set-up before the plugin is registered (e.g. @fastify/cors). */
  before?: (app: FastifyInstance) => Promise<void>
  /** POST /login answers in the cookies alone (`issueTokens(claims, { cookiesOnly: true })`). */
  cookiesOnlyLogin?: boolean
}

export const page = '<!doctype html><meta charset="utf-8"><title>app</title><p>app</p>'

/**
 * The app under test: the plugin with `options`, POST /login ({ sub }), GET /profiles,
 * POST /transfer (an unsafe route of the app's own) and a blank page at /.
 */
export async function startApp (t: Test, options: Partial<JwtAuthOptions> = {}, appOptions: AppOptions = {}): Promise<TestApp> {
  // The browser keeps connections open (keep-alive, pages left open): close them with the app.
  const app = Fastify({ forceCloseConnections: true })
  const seen: SeenRequest[] = []
  let held: Array<() => void> = []
  let holding = 0
  app.addHook('onRequest', async (request) => {
    seen.push({
      method: request.method,
      url: request.url,
      cookie: request.headers.cookie ?? '',
      origin: request.headers.origin,
      secFetchSite: request.headers['sec-fetch-site'] as string | undefined
    })
    if (holding > 0 && request.url.startsWith('/auth/refresh')) {
      await new Promise<void>(resolve => {
        held.push(resolve)
        if (held.length === holding) {
          for (const release of held) release()
          held = []
          holding = 0
        }
      })
    }
  })
  if (appOptions.formBodies === true) {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' },
      (_request, body, done) => { done(null, Object.fromEntries(new URLSearchParams(body as string))) })
  }
  await appOptions.before?.(app)
  await app.register(jwtAuth, { secret: 'browser-test-secret-of-at-least-32-bytes!', ...options } as JwtAuthOptions)
  app.get('/', async (_request, reply) => await reply.type('text/html').send(page))
  app.post<{ Body: { sub?: string } }>('/login', async (request, reply) => {
    return await reply.issueTokens({ sub: request.body?.sub ?? 'alice', roles: ['user'] }, { cookiesOnly: appOptions.cookiesOnlyLogin === true })
  })
  app.get('/profiles', { preHandler: app.authenticate }, async (request) => ({ username: request.user.sub, sid: request.user.sid }))
  app.post('/transfer', { preHandler: app.authenticate }, async (request) => ({ done: true, by: request.user.sub }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const port = (app.server.address() as AddressInfo).port
  return { app, origin: `http://localhost:${port}`, seen, holdRefreshes: count => { holding = count } }
}

export interface Attacker {
  /** http://127.0.0.1:PORT: another site than the app's. */
  origin: string
  /** Serves `html` at a fresh path and returns its URL. */
  serve: (html: string) => string
}

/** The attacker's site: serves whatever pages a test gives it. */
export async function startAttacker (t: Test): Promise<Attacker> {
  const pages = new Map<string, string>()
  const server = createServer((request, response) => {
    const html = pages.get(request.url ?? '')
    response.writeHead(html === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' })
    response.end(html ?? 'not found')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise(resolve => server.close(resolve))
    server.closeAllConnections() // the browser's keep-alive connections
    await closed
  })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    serve: html => {
      const path = `/page-${pages.size}`
      pages.set(path, html)
      return origin + path
    }
  }
}

export interface BrowserCookie {
  name: string
  value: string
  domain: string
  path: string
  expires: number
  httpOnly: boolean
  secure: boolean
  session: boolean
  sameSite?: 'Strict' | 'Lax' | 'None'
}

/** Every cookie the browser holds, HttpOnly ones included (CDP Network.getAllCookies). */
export async function allCookies (page: Page): Promise<BrowserCookie[]> {
  const session: CDPSession = await page.createCDPSession()
  try {
    const { cookies } = await session.send('Network.getAllCookies') as unknown as { cookies: BrowserCookie[] }
    return cookies
  } finally {
    await session.detach()
  }
}

/** The browser's cookies by name. */
export async function cookieMap (page: Page): Promise<Map<string, BrowserCookie>> {
  return new Map((await allCookies(page)).map(cookie => [cookie.name, cookie]))
}

export interface PageResponse {
  status: number
  body: Record<string, unknown> | null
}

/** A same-origin fetch from the page's own script (cookies sent as the browser decides). */
export async function pageFetch (page: Page, path: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<PageResponse> {
  return await page.evaluate(async (path, init) => {
    const response = await fetch(path, { credentials: 'include', ...init })
    const text = await response.text()
    let body: Record<string, unknown> | null = null
    try { body = JSON.parse(text) } catch {}
    return { status: response.status, body }
  }, path, init)
}

/** Logs in from the page (same origin) as `sub`. */
export async function logIn (page: Page, sub = 'alice'): Promise<PageResponse> {
  const response = await pageFetch(page, '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub }) })
  if (response.status !== 200) throw new Error(`login failed: ${response.status}`)
  return response
}

/** Polls `check` until it holds (an awaited condition, not a fixed sleep); fails after `ms`. */
export async function until (check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
