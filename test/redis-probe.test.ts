// The start-up probe: an app whose Redis does not answer starts anyway and logs one warning that
// names the address (never the password) and the cause.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/index.js'
import { buildApp } from './helpers.js'
import { freePort } from './redis-harness.js'

function logged (): { lines: string[], stream: { write: (line: string) => void } } {
  const lines: string[] = []
  return { lines, stream: { write: (line: string) => { lines.push(line) } } }
}

async function warningIn (lines: string[]): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const line = lines.find(text => text.includes('the store does not answer'))
    if (line !== undefined) return line
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error('no warning was logged')
}

t.test('RedisStore({ url }) with nothing listening: the app starts and warns without the password', async t => {
  const port = await freePort()
  const log = logged()
  const store = new RedisStore({ url: `redis://app:hunter2@127.0.0.1:${port}/0`, commandTimeout: 500 })
  const app = await buildApp({ store }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  const line = await warningIn(log.lines)
  t.match(JSON.parse(line), { level: 40, error: new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}/0 does not answer \\(.*ECONNREFUSED.*\\)`) })
  t.notMatch(line, 'hunter2', 'no password in the log')
  t.notMatch(line, 'app:', 'no user name either')
  const login = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(login.statusCode, 503, 'requests that need the store answer 503')
})

t.test('a client passed in that cannot connect is named as such', async t => {
  const port = await freePort()
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const log = logged()
  const app = await buildApp({ store: new RedisStore({ client, commandTimeout: 500 }) }, { logger: { stream: log.stream } })
  t.teardown(() => app.close())
  await app.ready()
  t.match(JSON.parse(await warningIn(log.lines)).error, /^Redis at the Redis client passed in does not answer/)
})

// A Redis that answers gives no warning: test/redis-self-check.test.ts, 'a healthy Redis'.
