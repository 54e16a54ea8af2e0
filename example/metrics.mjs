// Security events as metrics: the article's app (server.mjs) plus GET /metrics in the
// Prometheus text format, counted from the plugin's node:diagnostics_channel channels. No
// onEvent option and no metrics library: any code in the process can subscribe.
//
//   npm run build && node example/metrics.mjs
//   curl http://127.0.0.1:3000/metrics
//
// Same environment as server.mjs. In production, serve /metrics on an internal port or behind
// authentication: the counts tell an attacker how their attempts fare.
import diagnosticsChannel from 'node:diagnostics_channel'
import { diagnosticsChannels } from 'fastify-jwt-auth'
import { buildApp, serve } from './server.mjs'

// Every event type starts at 0, so that rate() sees the first one.
const eventCounts = new Map(['issued', 'refreshed', 'reuse-detected', 'token-revoked', 'session-revoked', 'user-revoked'].map(type => [type, 0]))
const refusalCounts = new Map() // labels text -> count

diagnosticsChannel.subscribe(diagnosticsChannels.event, (event) => {
  eventCounts.set(event.type, (eventCounts.get(event.type) ?? 0) + 1)
})
diagnosticsChannel.subscribe(diagnosticsChannels.refusal, (refusal) => {
  // Labels from the route pattern and the code: a bounded set, unlike URLs or users. A refusal
  // in a not-found handler has no route pattern: ''.
  const labels = `code="${escapeLabel(refusal.code)}",status="${refusal.statusCode}",route="${escapeLabel(refusal.route ?? '')}"`
  refusalCounts.set(labels, (refusalCounts.get(labels) ?? 0) + 1)
})

function escapeLabel (value) {
  return String(value).replace(/[\\"\n]/g, character => character === '\n' ? '\\n' : `\\${character}`)
}

function prometheusText () {
  const lines = [
    '# HELP fastify_jwt_auth_events_total Security events of fastify-jwt-auth, by type.',
    '# TYPE fastify_jwt_auth_events_total counter'
  ]
  for (const [type, count] of eventCounts) lines.push(`fastify_jwt_auth_events_total{type="${escapeLabel(type)}"} ${count}`)
  lines.push(
    '# HELP fastify_jwt_auth_refusals_total Requests fastify-jwt-auth refused, by code, status and route.',
    '# TYPE fastify_jwt_auth_refusals_total counter'
  )
  for (const [labels, count] of refusalCounts) lines.push(`fastify_jwt_auth_refusals_total{${labels}} ${count}`)
  return lines.join('\n') + '\n'
}

const app = await buildApp({ logger: true })
app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
  return reply.type('text/plain; version=0.0.4; charset=utf-8').send(prometheusText())
})
const address = await serve(app)
app.log.info(`Example app with metrics at ${address}/metrics`)
