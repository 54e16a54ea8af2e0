// The random pool behind refresh tokens, session ids, IVs and binding values: every value fresh,
// of its length, and never changed by later draws (the pool is refilled and zeroed under them).
import t from 'tap'
import { randomBase64url, randomBuffer } from '../lib/tokens/random.js'
import { mintRefreshToken, mintSessionId, sealSuccessor, openSuccessor } from '../lib/tokens/refresh.js'

const base64url = /^[A-Za-z0-9_-]+$/

t.test('values have their length and are base64url', async t => {
  t.match(randomBase64url(16), /^[A-Za-z0-9_-]{22}$/)
  t.match(randomBase64url(32), /^[A-Za-z0-9_-]{43}$/)
  t.equal(randomBuffer(12).length, 12)
})

t.test('no value repeats across many refills of the pool', async t => {
  const seen = new Set<string>()
  // 3,000 × 32 bytes: the 4 KiB pool is refilled more than twenty times, at every offset.
  for (let i = 0; i < 3000; i++) seen.add(randomBase64url(i % 2 === 0 ? 32 : 16))
  t.equal(seen.size, 3000, 'every value is new')
  for (const value of seen) if (!base64url.test(value) || /^A+[AgQw]?$/.test(value)) t.fail(`not random: ${value}`)
  t.pass('none of them is the pool\'s zeroed bytes')
})

t.test('a buffer is its own copy: later draws neither change nor repeat it', async t => {
  const iv = randomBuffer(12)
  const before = iv.toString('hex')
  const later = new Set<string>()
  for (let i = 0; i < 500; i++) later.add(randomBuffer(12).toString('hex'))
  t.equal(iv.toString('hex'), before, 'unchanged by 500 more draws (several refills)')
  t.notOk(later.has(before), 'and never drawn again')
  t.not(before, '0'.repeat(24), 'not the zeroed bytes')
})

t.test('tokens, session ids and sealed successors drawn from it work as before', async t => {
  const sessionId = mintSessionId('alice')
  t.match(sessionId, /^[A-Za-z0-9_-]{22}YWxpY2U$/)
  const tokens = new Set(Array.from({ length: 200 }, () => mintRefreshToken(sessionId)))
  t.equal(tokens.size, 200)
  const [first, second] = [...tokens] as [string, string]
  const sealed = sealSuccessor(first, second)
  t.not(sealSuccessor(first, second), sealed, 'a new IV for each seal')
  t.equal(openSuccessor(first, sealed), second)
})

t.test('a count that is no whole number from 1 to the pool\'s size is refused, and hands out nothing twice', async t => {
  randomBuffer(16)
  for (const bytes of [-16, 0, 3.5, Number.NaN, 4097]) t.throws(() => randomBuffer(bytes), RangeError, `${bytes}`)
  t.throws(() => randomBase64url(-16), RangeError)
  const next = randomBuffer(16)
  t.not(next.toString('hex'), '0'.repeat(32), 'the next value is no zeroed bytes')
  t.equal(randomBuffer(4096).length, 4096, 'the whole pool at once')
})
