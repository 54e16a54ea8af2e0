// Body parsers of the token endpoints: RFC 6749 §3.2 says a request parameter must not be
// repeated, but URLSearchParams and JSON.parse both keep the last value silently.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { FST_JWT_AUTH_INVALID_REQUEST } from '../errors.js'

type Done = (error: Error | null, body?: unknown) => void

function repeated (name: string): Error {
  return new FST_JWT_AUTH_INVALID_REQUEST(`The ${name} parameter was sent more than once`)
}

/** application/x-www-form-urlencoded, each parameter at most once. */
function parseForm (_request: FastifyRequest, body: string | Buffer, done: Done): void {
  const parameters: Record<string, string> = {}
  for (const [name, value] of new URLSearchParams(body as string)) {
    if (Object.hasOwn(parameters, name)) return done(repeated(name))
    parameters[name] = value
  }
  done(null, parameters)
}

/**
 * How many members the top-level object of JSON text has, counted on the text: more than the
 * parsed object's keys means a name was repeated.
 */
function topLevelMembers (text: string): number {
  let depth = 0
  let members = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i]
    if (inString) {
      if (char === '\\') i++
      else if (char === '"') inString = false
    } else if (char === '"') {
      inString = true
      if (depth === 1 && members === 0) members = 1
    } else if (char === '{' || char === '[') {
      depth++
    } else if (char === '}' || char === ']') {
      depth--
    } else if (char === ',' && depth === 1) {
      members++
    }
  }
  return members
}

/** Both parsers, in the token endpoints' own context, whatever parsers the app has; JSON still goes through Fastify's parser (no __proto__ or constructor.prototype). */
export function useStrictTokenBodies (instance: FastifyInstance): void {
  const json = instance.getDefaultJsonParser('error', 'error')
  instance.removeContentTypeParser('application/json')
  instance.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    json(request, body as string, (error: Error | null, parsed?: unknown) => {
      if (error !== null) return done(error)
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) &&
        topLevelMembers(body as string) > Object.keys(parsed).length) {
        return done(new FST_JWT_AUTH_INVALID_REQUEST('A parameter was sent more than once'))
      }
      done(null, parsed)
    })
  })
  // Ours even when the app registered @fastify/formbody, whose parser keeps repeated parameters.
  if (instance.hasContentTypeParser('application/x-www-form-urlencoded')) instance.removeContentTypeParser('application/x-www-form-urlencoded')
  instance.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, parseForm)
}
