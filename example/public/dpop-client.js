// A DPoP client for the browser (RFC 9449), with no dependency: the key pair is made by
// WebCrypto as non-extractable, so no script (an XSS payload included) can read the private key
// or copy it elsewhere; a stolen access or refresh token is useless without it. Keep the
// CryptoKeyPair in IndexedDB (structured clone keeps it non-extractable) to survive reloads.
//
//   const client = await createDpopClient()
//   const tokens = await (await client.fetch('/login', { method: 'POST', body: ... })).json()
//   await client.fetch('/profiles', { accessToken: tokens.access_token })
//   await client.fetch('/auth/refresh', { method: 'POST', body: { refresh_token: tokens.refresh_token } })

const encoder = new TextEncoder()

/** @param {ArrayBuffer | Uint8Array} bytes */
function base64url (bytes) {
  let text = ''
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte)
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** @param {unknown} value */
function jsonPart (value) {
  return base64url(encoder.encode(JSON.stringify(value)))
}

/**
 * @param {CryptoKeyPair} [keys] an ECDSA P-256 pair kept from before; a new non-extractable one by default
 */
export async function createDpopClient (keys) {
  const pair = keys ?? await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
  // The public half is always exportable; only its public members go in the proof.
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  /** @type {string | undefined} the server's latest DPoP-Nonce */
  let nonce

  /**
   * One proof for one request: htu without query and fragment, ath for an access token.
   * @param {string} method
   * @param {string} url
   * @param {string} [accessToken]
   */
  async function proof (method, url, accessToken) {
    const target = new URL(url, location.href)
    /** @type {Record<string, unknown>} */
    const claims = { jti: crypto.randomUUID(), htm: method, htu: `${target.origin}${target.pathname}`, iat: Math.floor(Date.now() / 1000) }
    if (nonce !== undefined) claims.nonce = nonce
    if (accessToken !== undefined) claims.ath = base64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken)))
    const input = `${jsonPart({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${jsonPart(claims)}`
    // WebCrypto's ECDSA signature is r || s, the JWS form (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, encoder.encode(input))
    return `${input}.${base64url(signature)}`
  }

  /**
   * fetch() with a fresh proof, and the access token in the DPoP scheme when given; a JSON body
   * is sent as JSON. A refusal that asks for a nonce is retried once with it (RFC 9449 §8, §9).
   * @param {string} url
   * @param {{ method?: string, accessToken?: string, body?: unknown, headers?: Record<string, string> }} [init]
   */
  async function send (url, init = {}) {
    const method = init.method ?? 'GET'
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = { ...init.headers, dpop: await proof(method, url, init.accessToken) }
      if (init.accessToken !== undefined) headers.authorization = `DPoP ${init.accessToken}`
      if (init.body !== undefined) headers['content-type'] = 'application/json'
      const response = await fetch(url, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), credentials: 'omit' })
      const offered = response.headers.get('dpop-nonce')
      const asked = offered !== null && offered !== nonce && (response.status === 400 || response.status === 401) &&
        /use_dpop_nonce|FST_JWT_AUTH_USE_DPOP_NONCE/.test(`${response.headers.get('www-authenticate')} ${await response.clone().text()}`)
      if (offered !== null) nonce = offered
      if (!asked || attempt > 0) return response
    }
  }

  return { keys: pair, proof, fetch: send }
}
