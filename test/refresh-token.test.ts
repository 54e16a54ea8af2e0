import t from 'tap'
import {
  digestRefreshToken,
  mintRefreshToken,
  mintSessionId,
  openSuccessor,
  parseRefreshToken,
  sealSuccessor,
  subOfSessionId
} from '../lib/tokens/refresh.js'

t.test('a session id carries its sub; a refresh token carries its session id', async t => {
  const sessionId = mintSessionId('alice@example.com')
  t.equal(subOfSessionId(sessionId), 'alice@example.com')
  const token = mintRefreshToken(sessionId)
  t.same(parseRefreshToken(token), { sessionId, sub: 'alice@example.com' })
  t.not(mintRefreshToken(sessionId), token, 'each token is new')
  t.equal(digestRefreshToken(token).length, 43, 'a SHA-256 digest in base64url')
  t.equal(subOfSessionId('A'.repeat(22)), null, 'no sub part')
  t.equal(subOfSessionId(`${'A'.repeat(22)}${'B'.repeat(400)}`), null, 'too long')
  t.equal(subOfSessionId(`${'A'.repeat(22)}+w==`), null, 'not base64url')
  t.equal(subOfSessionId(`${'A'.repeat(22)}${Buffer.from('a\u0000').toString('base64url')}`), null, 'a sub holding U+0000')
  t.equal(subOfSessionId(mintSessionId('😀 emoji')), '😀 emoji', 'paired surrogates are fine')
})

t.test('a sealed successor opens only with its predecessor', async t => {
  const predecessor = mintRefreshToken(mintSessionId('alice'))
  const successor = mintRefreshToken(mintSessionId('alice'))
  const sealed = sealSuccessor(predecessor, successor)
  t.notMatch(sealed, successor.split('.')[1] as string)
  t.equal(openSuccessor(predecessor, sealed), successor)
  t.equal(openSuccessor(successor, sealed), null, 'another token cannot open it')
  t.equal(openSuccessor(predecessor, sealed.slice(0, -4) + 'AAAA'), null, 'tampering is detected')
  t.equal(openSuccessor(predecessor, 'AAAA'), null, 'too short to be sealed')
  t.equal(openSuccessor(digestRefreshToken(predecessor), sealed), null, "the store's digest is not the key")
})
