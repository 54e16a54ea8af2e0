// The Redis client's error events as the store logs them: code and message, credentials removed
// from any URL in the message, each distinct cause once per window, a bounded memory of causes.
import t from 'tap'
import { ConnectionErrors, describeError } from '../lib/store/redis-errors.js'

function collector (): { lines: Array<{ details: Record<string, unknown>, message: string }>, warn: (details: object, message: string) => void } {
  const lines: Array<{ details: Record<string, unknown>, message: string }> = []
  return { lines, warn: (details, message) => { lines.push({ details: details as Record<string, unknown>, message }) } }
}

function coded (message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code })
}

t.test('a cause is its code and message, without credentials', async t => {
  t.equal(describeError(coded('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')), 'SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain')
  t.equal(describeError(coded('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED')), 'connect ECONNREFUSED 127.0.0.1:6379', 'a code the message names is not repeated')
  t.equal(describeError(coded('failed to reach rediss://app:hunter2@redis.internal:6380/0 and redis://:pw@other:1')), 'failed to reach rediss://redis.internal:6380/0 and redis://other:1')
})

t.test('each distinct cause is logged once per window; the memory of causes is bounded', async t => {
  const log = collector()
  const errors = new ConnectionErrors('redis://127.0.0.1:1')
  errors.record(coded('before any logger')) // kept for the probe, logged nowhere
  t.equal(errors.latest, 'before any logger')
  errors.useLogger(log)
  for (let i = 0; i < 3; i++) errors.record(coded('WRONGPASS invalid username-password pair'))
  t.equal(log.lines.length, 1, 'logged once')
  t.same(log.lines[0], { details: { cause: 'WRONGPASS invalid username-password pair', redis: 'redis://127.0.0.1:1' }, message: 'fastify-jwt-auth: the Redis client reports an error' })
  for (let i = 0; i < 50; i++) errors.record(coded(`cause ${i}`))
  t.equal(log.lines.length, 51, 'each new cause logged')
  errors.record(coded('WRONGPASS invalid username-password pair'))
  t.equal(log.lines.length, 52, 'the oldest cause was forgotten beyond 50, so it is logged again')
})

t.test("a failed call gets a recent cause, unless Redis's own reply names it", async t => {
  const errors = new ConnectionErrors('x')
  const early = new Error('Reached the max retries per request limit')
  t.equal(errors.explain(early), early)
  t.equal(early.cause, undefined, 'no cause yet: nothing added')
  errors.record(coded('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'))
  const late = errors.explain(new Error('Reached the max retries per request limit')) as Error
  t.match(late.cause, { message: 'connect ECONNREFUSED 127.0.0.1:1' })
  const reply = Object.assign(new Error('NOPERM this user has no permissions to run the exists command'), { name: 'ReplyError' })
  t.equal((errors.explain(reply) as Error).cause, undefined, 'a reply error is left alone')
  const own = new Error('wrapped', { cause: 'original' })
  t.equal((errors.explain(own) as Error).cause, 'original', 'a cause already there is kept')
  t.equal(errors.explain('not an error'), 'not an error')
})
