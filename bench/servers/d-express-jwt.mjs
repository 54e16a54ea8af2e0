// (d) Express 5 with express-jwt (jsonwebtoken underneath), HS256, iss and aud checked.
import express from 'express'
import { expressjwt } from 'express-jwt'
import { SECRET, ISSUER, AUDIENCE, ready } from './common.mjs'

const app = express()
app.get('/data', expressjwt({ secret: SECRET, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }),
  (req, res) => { res.json({ ok: true, sub: req.auth.sub }) })
const server = app.listen(0, '127.0.0.1', () => {
  ready(server.address().port, () => new Promise(resolve => server.close(resolve)))
})
