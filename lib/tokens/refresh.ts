// Refresh tokens: opaque, 256 random bits, shaped `<sessionId>.<secret>` so the session (and
// through it the user, whose keys share one Redis hash tag) is known without a lookup.
// Session ids are 22 random base64url characters followed by the user's sub in base64url.
import { createCipheriv, createDecipheriv, createHmac, hash } from 'node:crypto'
import { randomBase64url, randomBuffer } from './random.js'

export const sessionRandomLength = 22 // 16 bytes
const secretLength = 43 // 32 bytes
/** Longest `sub` accepted, in UTF-8 bytes. */
export const maxSubBytes = 256
const maxSessionIdLength = sessionRandomLength + Math.ceil(maxSubBytes * 4 / 3)
const base64url = /^[A-Za-z0-9_-]+$/
// Control characters, and UTF-16 surrogates without their pair (which UTF-8 cannot carry).
const unfitForSub = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * A sub must survive every store and transport unchanged: no control characters (PostgreSQL
 * text cannot hold U+0000) and no lone surrogates (UTF-8 would turn them into U+FFFD).
 */
export function isFitSub (sub: string): boolean {
  return !unfitForSub.test(sub)
}

export function mintSessionId (sub: string): string {
  return randomBase64url(16) + Buffer.from(sub, 'utf8').toString('base64url')
}

/** The sub a session id belongs to, or null when the id is not one of ours. */
export function subOfSessionId (sessionId: string): string | null {
  if (sessionId.length <= sessionRandomLength || sessionId.length > maxSessionIdLength) return null
  if (!base64url.test(sessionId)) return null
  const encoded = sessionId.slice(sessionRandomLength)
  const sub = Buffer.from(encoded, 'base64url').toString('utf8')
  // Only the canonical encoding of valid UTF-8 is accepted, so one session has one id.
  return Buffer.from(sub, 'utf8').toString('base64url') === encoded && isFitSub(sub) ? sub : null
}

export function mintRefreshToken (sessionId: string): string {
  return `${sessionId}.${randomBase64url(32)}`
}

export interface ParsedRefreshToken {
  sessionId: string
  sub: string
}

export function parseRefreshToken (token: string): ParsedRefreshToken | null {
  const dot = token.indexOf('.')
  if (dot === -1 || token.length - dot - 1 !== secretLength) return null
  const secret = token.slice(dot + 1)
  if (!base64url.test(secret)) return null
  const sessionId = token.slice(0, dot)
  const sub = subOfSessionId(sessionId)
  return sub === null ? null : { sessionId, sub }
}

/** What the store keeps instead of the token. */
export function digestRefreshToken (token: string): string {
  return hash('sha256', token, 'base64url')
}

// Grace needs the successor again, but the store must not hold it in the clear: it is sealed
// with a key derived from its predecessor, which the store never sees (it holds a SHA-256
// digest, a different derivation), so only whoever presents the predecessor can open it.
function sealingKey (predecessor: string): Buffer {
  return createHmac('sha256', predecessor).update('fastify-jwt-auth successor seal').digest()
}

export function sealSuccessor (predecessor: string, successor: string): string {
  const iv = randomBuffer(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(predecessor), iv)
  const sealed = Buffer.concat([iv, cipher.update(successor, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return sealed.toString('base64url')
}

export function openSuccessor (predecessor: string, sealed: string): string | null {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.length < 12 + 16) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(predecessor), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(bytes.length - 16))
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}
