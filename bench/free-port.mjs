// A free TCP port on 127.0.0.1 for a redis-server the bench starts (listen on 0, read it, close).
import { createServer } from 'node:net'

export async function freePort () {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}
