// (a) bare Fastify, no auth.
import Fastify from 'fastify'
import { ready } from './common.mjs'

const app = Fastify()
app.get('/data', async () => ({ ok: true, sub: 'anonymous' }))
await app.listen({ port: 0, host: '127.0.0.1' })
ready(app.server.address().port, () => app.close())
