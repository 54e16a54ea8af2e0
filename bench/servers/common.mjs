// Shared by the bench servers: settings from the environment and the "ready" handshake.
// Each server listens on port 0 (a free port) and tells the parent its port over IPC.
export const SECRET = process.env.BENCH_SECRET
export const ISSUER = 'bench-issuer'
export const AUDIENCE = 'bench-api'
export const REDIS_PORT = Number(process.env.BENCH_REDIS_PORT)
export const PREFIX = process.env.BENCH_PREFIX ?? 'bench:'
if (!SECRET) throw new Error('BENCH_SECRET is not set')

/** Reports the listening port to the parent (bench/run.mjs) and stops cleanly on 'stop'. */
export function ready (port, close) {
  process.send({ port })
  process.on('message', async message => {
    // CPU time this process has used so far (µs), so the parent can compute CPU per request.
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage()
      process.send({ cpu: user + system })
      return
    }
    if (message === 'stop') {
      await close()
      process.exit(0)
    }
  })
  process.on('disconnect', () => process.exit(0))
}
