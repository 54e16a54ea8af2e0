import t from 'tap'
import { MemoryStore } from '../lib/index.js'
import { storeContract } from './store-contract.js'

let time = Date.now()
storeContract(t, {
  name: 'MemoryStore',
  unit: 1000,
  create: async () => new MemoryStore({ now: () => time }),
  advance: async ms => { time += ms }
})

t.test('MemoryStore defaults to the system clock', async t => {
  const store = new MemoryStore()
  const before = Date.now()
  const { session } = await store.createSession({
    sub: 'a', sessionId: 's', refreshDigest: 'd', claims: {}, lifetime: 1000, idleTimeout: 1000, maxSessions: 1
  })
  t.ok(session.createdAt >= before && session.createdAt <= Date.now())
  t.notOk('userAgent' in session, 'optional details stay absent')
})
