// Running the examples as their users do: plain `node example/<script>` child processes on
// free ports, driven over HTTP with fetch. Shared by the example tests.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const root = join(__dirname, '..')
export type Json = Record<string, unknown>

export interface Running {
  child: ChildProcess
  /** Everything the process wrote so far, stdout and stderr. */
  output: () => string
}

// What a user's shell would not have: the examples' own variables (each start sets its own)
// and the test runner's (NODE_OPTIONS carries tap's loaders), so each child is plain `node`.
const notInherited = /^(SIGNING_KEY|SIGNING_KID|AUTH_JWKS_URL|JWKS_COOLDOWN|JWT_SECRET|REUSE_GRACE|REDIS_URL|REDIS_PREFIX|NODE_ENV|PORT|PORT_A|PORT_B|HOST|NODE_OPTIONS|TAP|TAP_.*|_TAPJS_.*|TS_NODE_.*)$/

/** Starts `node <script>` with only the given example variables set (HOST 127.0.0.1). */
export function spawnScript (script: string, env: Record<string, string>): Running {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !notInherited.test(name)))
  const child = spawn(process.execPath, [script], {
    cwd: root,
    env: { ...inherited, HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  return { child, output: () => output }
}

export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** Waits until `baseUrl + path` answers HTTP at all; fails if the process exits or after 10 s. */
export async function untilAnswering (running: Running, baseUrl: string, path = '/'): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (running.child.exitCode !== null) throw new Error(`the process exited with ${running.child.exitCode}:\n${running.output()}`)
    try {
      await fetch(`${baseUrl}${path}`)
      return
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer at ${baseUrl} in 10 s:\n${running.output()}`)
      await sleep(50)
    }
  }
}

/** Waits until the process output matches, or fails after `ms`. */
export async function waitForOutput (running: { output: () => string }, pattern: RegExp, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms
  while (!pattern.test(running.output())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in the output:\n${running.output()}`)
    await sleep(25)
  }
  return running.output()
}

/** The JSON log lines of the process. */
export function logLines (output: string): Json[] {
  return output.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as Json)
}

export interface Reply {
  status: number
  headers: Headers
  body: Json
}

/** One HTTP request: `json` is sent as JSON, `raw` as a JSON-typed body as is. */
export async function call (baseUrl: string, path: string, init: { method?: string, headers?: Record<string, string>, json?: unknown, raw?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers }
  let body: string | undefined
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(init.json)
  } else if (init.raw !== undefined) {
    headers['content-type'] = 'application/json'
    body = init.raw
  }
  const response = await fetch(`${baseUrl}${path}`, { method: init.method ?? 'GET', headers, body })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) as Json }
}

export function bearer (token: unknown): Record<string, string> {
  return { authorization: `Bearer ${String(token)}` }
}
