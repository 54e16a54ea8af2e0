// Shared test set-up: an app with the plugin, and small HTTP helpers over inject.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import jwtAuth from '../lib/index.js'
import type { JwtAuthOptions, Store, TokenResponse } from '../lib/index.js'
import type { Test } from 'tap'

export const secret = 'kV3q9ZtR7wXbN2mLpJ8sYdF4hC6gT1uAeQ0oI5rKzUvWxE7yBnM3jH9cD2fG6aS8'

/** A fresh random HMAC secret of `bytes` bytes. */
export function randomSecret (bytes = 32): Buffer {
  return randomBytes(bytes)
}

export async function buildApp (options: Partial<JwtAuthOptions> = {}, fastifyOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions)
  await app.register(jwtAuth, { secret, cookies: { secure: false }, ...options } as JwtAuthOptions)
  app.post<{ Body: { sub?: string, roles?: string[], scope?: string } }>('/login', async (request, reply) => {
    const body = request.body ?? {}
    return await reply.issueTokens({ sub: body.sub ?? 'alice', roles: body.roles ?? ['user'], ...(body.scope === undefined ? {} : { scope: body.scope }) })
  })
  app.get('/me', { preHandler: app.authenticate }, async (request) => request.user)
  app.post('/me', { preHandler: app.authenticate }, async (request) => request.user)
  return app
}

export async function login (app: FastifyInstance, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<TokenResponse & { cookies: Record<string, string> }> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: body, headers })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return { ...response.json<TokenResponse>(), cookies: cookieValues(response) }
}

export function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

export async function refresh (app: FastifyInstance, refreshToken: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } })
}

export function cookieValues (response: LightMyRequestResponse): Record<string, string> {
  const values: Record<string, string> = {}
  for (const cookie of response.cookies as Array<{ name: string, value: string }>) values[cookie.name] = cookie.value
  return values
}

export function decodePart (token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8'))
}

/** Signs an arbitrary JWT with the test secret, for tokens the plugin would never issue. */
export function forge (payload: Record<string, unknown>, options: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  const sign = createSigner({ key: secret, header: { typ: 'at+jwt' }, ...options } as Parameters<typeof createSigner>[0] & { key: string })
  return sign({ iss: 'fastify-jwt-auth', aud: 'fastify-jwt-auth', sub: 'alice', iat: now, exp: now + 600, jti: 'forged-jti', sid: 'x', ...payload })
}

/** A clock for MemoryStore that tests move by hand. */
export function manualClock (start = Date.now()): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: (ms: number) => { time += ms } }
}

/** Wraps every store method: `around` sees the call (its arguments, the method's name) and decides what happens. */
export function interceptStore (store: Store, around: (call: () => Promise<unknown>, args: unknown[], method: string) => Promise<unknown>): Store {
  return new Proxy(store, {
    get (target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => await around(async () => await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args), args, String(property))
    }
  })
}

/** The error an app.register() with these options fails with; throws if it succeeds. */
export async function registrationError (options: unknown): Promise<{ code?: string, message: string }> {
  const app = Fastify()
  try {
    await app.register(jwtAuth, options as JwtAuthOptions)
    await app.ready()
  } catch (error) {
    return error as { code?: string, message: string }
  } finally {
    await app.close()
  }
  throw new Error('registration succeeded')
}

/** Resolves once `check` holds, polled every 20 ms (for work that runs on its own timers); throws after 10 s. */
export async function until (what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return
    await sleep(20)
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** A log stream for Fastify's logger that keeps each line, as text and parsed. */
export function logged (): { lines: Array<Record<string, unknown>>, raw: string[], stream: { write: (line: string) => void } } {
  const lines: Array<Record<string, unknown>> = []
  const raw: string[] = []
  return { lines, raw, stream: { write: (line: string) => { raw.push(line); lines.push(JSON.parse(line) as Record<string, unknown>) } } }
}

/** Login, an authenticated request, a refresh and revokeUser: what every store set-up must pass. */
export async function loginRefreshRevoke (t: Test, app: FastifyInstance): Promise<void> {
  const tokens = await login(app)
  t.equal((await app.inject({ url: '/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'authenticated')
  const rotated = await refresh(app, tokens.refresh_token)
  t.equal(rotated.statusCode, 200, 'refreshed')
  await app.jwtAuth.revokeUser('alice')
  t.equal((await app.inject({ url: '/me', headers: bearer(rotated.json().access_token) })).statusCode, 401, 'revoked')
}
