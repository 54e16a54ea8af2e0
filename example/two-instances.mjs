// Two instances of the example app on two ports, sharing one Redis: what a service behind a
// load balancer looks like. Log in on one, refresh on the other, log out on one, and the
// access token is refused on the other.
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=... node example/two-instances.mjs
//
// Environment: REDIS_URL (required), JWT_SECRET (required: both instances must share it),
// PORT_A and PORT_B (default 3001 and 3002), HOST (default 127.0.0.1), REDIS_PREFIX.
import { buildApp } from './server.mjs'

const env = process.env
if (!env.REDIS_URL || !env.JWT_SECRET) {
  console.error('Set REDIS_URL and JWT_SECRET: the instances share sessions through Redis and tokens through the secret.')
  process.exit(1)
}

const host = env.HOST ?? '127.0.0.1'
const instances = []
for (const [name, port] of [['A', env.PORT_A ?? 3001], ['B', env.PORT_B ?? 3002]]) {
  const app = await buildApp({ logger: { base: { instance: name } } })
  const address = await app.listen({ port: Number(port), host })
  app.log.info(`instance ${name} at ${address}`)
  instances.push(app)
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    Promise.all(instances.map(app => app.close())).catch(error => {
      console.error(error)
      process.exitCode = 1
    })
  })
}
