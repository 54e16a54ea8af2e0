// Response headers that go with each auth error: the RFC 6750 §3 WWW-Authenticate challenge,
// and Retry-After on a store outage. Errors keep Fastify's usual JSON body.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { publishRefusal } from '../session/diagnostics.js'
import { oauthErrors } from '../errors.js'
import type { DpopConfig } from '../tokens/dpop.js'
import { usesDpopScheme } from './dpop.js'

const retryAfterSeconds = 5
const pluginCodePrefix = 'FST_JWT_AUTH_'

interface CodedError {
  code?: string
  statusCode?: number
  message: string
}

// Header values are Latin-1 at most: a description naming a role in another script (or holding
// a control character) is percent-encoded, so that the challenge is never lost. Realm and scopes
// are refused at registration unless they are printable ASCII.
function percentEncoded (text: string): string {
  return [...Buffer.from(text)].map(byte => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('')
}

function quoted (value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`
}

/**
 * An error_description as RFC 6749 §5.2 and RFC 6750 §3 allow it (%x20-21 / %x23-5B / %x5D-7E):
 * double quotes become single ones, anything else outside the set is percent-encoded (UTF-8), so
 * a role named in another script stays readable.
 */
export function oauthDescription (message: string): string {
  return message.replaceAll('"', "'").replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]+/gu, percentEncoded)
}

/** Errors about proof of possession: their challenge is the DPoP one (RFC 9449 §7.1). */
const dpopErrors = new Set(['FST_JWT_AUTH_INVALID_DPOP_PROOF', 'FST_JWT_AUTH_USE_DPOP_NONCE', 'FST_JWT_AUTH_DPOP_BOUND', 'FST_JWT_AUTH_DPOP_REQUIRED'])

/**
 * Sets the headers that belong to `error` on `reply`, reports a refusal of the plugin's own on
 * its diagnostics channel, and returns the error to throw. With `dpop`, both schemes the server
 * takes are offered (RFC 9449 §7.1; only DPoP when it is required), the error going with the
 * DPoP one when it is about DPoP or the request used that scheme.
 */
export function withChallenge (reply: FastifyReply, realm: string, error: unknown, scope?: string, dpop: DpopConfig | null = null): unknown {
  const { code, statusCode, message } = error as CodedError
  if ((statusCode as number) < 500 && String(code).startsWith(pluginCodePrefix)) publishRefusal(reply.request, code as string, statusCode as number)
  if (statusCode === 401 || statusCode === 403 || code === 'FST_JWT_AUTH_INVALID_REQUEST') {
    const name = oauthErrors[code as string]
    const details = (name === undefined ? '' : `, error="${name}", error_description="${oauthDescription(message)}"`) +
      (scope === undefined ? '' : `, scope=${quoted(scope)}`)
    if (dpop === null) {
      reply.header('www-authenticate', `Bearer realm=${quoted(realm)}${details}`)
    } else {
      const onDpop = dpop.required || usesDpopScheme(reply.request) || dpopErrors.has(code as string)
      const dpopChallenge = `DPoP realm=${quoted(realm)}, algs="${dpop.algs}"${onDpop ? details : ''}`
      reply.header('www-authenticate', dpop.required ? dpopChallenge : [`Bearer realm=${quoted(realm)}${onDpop ? '' : details}`, dpopChallenge])
    }
  }
  return error
}

const outages = new Set(['FST_JWT_AUTH_STORE_UNAVAILABLE', 'FST_JWT_AUTH_CLAIMS_UNAVAILABLE', 'FST_JWT_AUTH_JWKS_UNAVAILABLE'])

/**
 * onError hook: an outage (the store, the app's claims hook, or the issuer's JWKS) answers 503 with Retry-After
 * wherever it surfaces, in the plugin's routes or in the app's own.
 */
export async function retryAfterOnOutage (_request: FastifyRequest, reply: FastifyReply, error: FastifyError): Promise<void> {
  if (outages.has(error.code)) reply.header('retry-after', retryAfterSeconds)
}
