// Token cookies (HttpOnly; Secure by default; SameSite=Lax for access, Strict for refresh
// whose Path is the auth prefix) and the cross-origin check for cookie-authenticated requests.
// No response to an unsafe request from another origin sets or clears a cookie of the plugin:
// a cross-site form could otherwise plant the attacker's session (login CSRF) or end the victim's.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { FST_JWT_AUTH_INVALID_REQUEST } from '../errors.js'
import type { CookieConfig } from '../options.js'

export const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

export function setTokenCookies (
  reply: FastifyReply,
  cookies: CookieConfig,
  refreshPath: string,
  accessToken: string,
  accessMaxAge: number | undefined,
  refreshToken: string,
  refreshMaxAge: number | undefined
): void {
  if (isCrossOriginUnsafe(reply.request, cookies)) return
  reply.setCookie(cookies.accessName, accessToken, {
    path: '/',
    httpOnly: true,
    secure: cookies.secure,
    sameSite: cookies.accessSameSite,
    domain: cookies.domain,
    maxAge: accessMaxAge
  })
  reply.setCookie(cookies.refreshName, refreshToken, {
    path: refreshPath,
    httpOnly: true,
    secure: cookies.secure,
    sameSite: cookies.refreshSameSite,
    domain: cookies.domain,
    maxAge: refreshMaxAge
  })
}

// A maxAge of undefined makes a browser-session cookie (a login without remember-me).

/** The fingerprint cookie: HttpOnly, Strict, sent to every path (OWASP token sidejacking). */
export function setFingerprintCookie (reply: FastifyReply, cookies: CookieConfig, name: string, value: string, maxAge: number | undefined): void {
  if (isCrossOriginUnsafe(reply.request, cookies)) return
  reply.setCookie(name, value, { path: '/', httpOnly: true, secure: cookies.secure, sameSite: 'strict', domain: cookies.domain, maxAge })
}

/** The anti-CSRF cookie: readable by the page, which echoes it in the x-csrf-token header. */
export function setCsrfCookie (reply: FastifyReply, cookies: CookieConfig, name: string, value: string, maxAge: number | undefined): void {
  if (isCrossOriginUnsafe(reply.request, cookies)) return
  reply.setCookie(name, value, { path: '/', httpOnly: false, secure: cookies.secure, sameSite: cookies.accessSameSite, domain: cookies.domain, maxAge })
}

export function clearTokenCookies (reply: FastifyReply, cookies: CookieConfig, refreshPath: string, fingerprint: string | null): void {
  if (isCrossOriginUnsafe(reply.request, cookies)) return
  const common = { httpOnly: true, secure: cookies.secure, domain: cookies.domain }
  reply.clearCookie(cookies.accessName, { ...common, path: '/', sameSite: cookies.accessSameSite })
  reply.clearCookie(cookies.refreshName, { ...common, path: refreshPath, sameSite: cookies.refreshSameSite })
  if (fingerprint !== null) reply.clearCookie(fingerprint, { ...common, path: '/', sameSite: 'strict' })
  if (cookies.csrfName !== null) reply.clearCookie(cookies.csrfName, { ...common, httpOnly: false, path: '/', sameSite: cookies.accessSameSite })
}

/**
 * True when an unsafe request comes from another origin: by its Origin header, or failing
 * that by Sec-Fetch-Site. Requests with neither (curl, server-to-server) are not browsers.
 */
export function isCrossOriginUnsafe (request: FastifyRequest, cookies: CookieConfig): boolean {
  if (!cookies.originCheck || safeMethods.has(request.method)) return false
  const origin = request.headers.origin
  if (origin !== undefined) {
    if (cookies.allowedOrigins.has(origin)) return false
    return origin !== `${request.protocol}://${request.host}`
  }
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site !== 'same-origin' && site !== 'none'
  return false
}

/**
 * The value of a token cookie. Two different values under one name (a sibling subdomain planted
 * one with a more specific Path: cookie tossing) are refused, not resolved by their order.
 */
export function tokenCookie (request: FastifyRequest, name: string): string | undefined {
  const value = request.cookies[name]
  if (value === undefined) return undefined
  const header = request.headers.cookie as string
  // The hot path: the name appears once, so one value was sent.
  if (header.indexOf(`${name}=`, header.indexOf(`${name}=`) + 1) === -1) return value
  let first: string | undefined
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=')
    if (pair.slice(0, equals).trim() !== name) continue
    const raw = pair.slice(equals + 1).trim()
    if (first === undefined) first = raw
    else if (raw !== first) throw new FST_JWT_AUTH_INVALID_REQUEST(`Two different ${name} cookies were sent`)
  }
  return value
}

