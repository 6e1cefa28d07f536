/**
 * What metrics cost on `/validate`'s hot path, in process: one app without a recorder and one with
 * the Prometheus recorder (`createPrometheusMetrics`), on one in-memory PGlite, one valid token
 * presented again and again (a hit in both caches), `ACCESS_LOG=errors-and-writes` (the production
 * default: no access line). Rounds alternate between the two apps so that a change in the machine's
 * load weighs on both; the first two rounds of each are a warm-up (the JIT, PGlite's start). Prints
 * the CPU time of the process per call (`process.cpuUsage`) of each measured round, and their median.
 * Run: `bun bench/metrics-cost.ts` or `node --import tsx bench/metrics-cost.ts`
 * (`METRICS_COST_CALLS`, `METRICS_COST_ROUNDS`: calls per round, default 100,000; rounds, default 8).
 */
import { createAppFromConfig } from '../src/app'
import { parseConfig } from '../src/config'
import { migrateDatabase } from '../src/db/migrate'
import { makeDb } from '../src/db/open'
import { createPrometheusMetrics } from '../src/entry/prometheus'
import { createLogger } from '../src/logger'

const CALLS = Number(process.env.METRICS_COST_CALLS ?? 100_000)
const ROUNDS = Number(process.env.METRICS_COST_ROUNDS ?? 8)
const WARM_UP_ROUNDS = 2
const METRICS_TOKEN = 'bench-metrics-token-0123456789abcdef0123456789'

const config = parseConfig({
  DATABASE_URL: 'memory://',
  JWT_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef',
  ARGON2_MEMORY_KIB: '256',
  ARGON2_ITERATIONS: '1',
  ACCESS_LOG: 'errors-and-writes',
  METRICS_TOKEN,
})
const handle = await makeDb(config.database)
await migrateDatabase(handle)
const logger = createLogger(() => {})
const runtime = { db: handle.db, logger, clientAddress: () => '127.0.0.1' }
const apps = {
  off: await createAppFromConfig({ ...config, metricsToken: undefined }, runtime),
  on: await createAppFromConfig(config, { ...runtime, metrics: createPrometheusMetrics() }),
}

const registered = await apps.off.request('/register', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'Bench', username: 'bench', password: 'correct horse battery' }),
})
if (registered.status !== 201) throw new Error(`register: ${registered.status}`)
const login = await apps.off.request('/token', {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: 'username=bench&password=correct+horse+battery',
})
const { access_token } = (await login.json()) as { access_token: string }
const headers = { authorization: `Bearer ${access_token}` }

/** CPU µs per call of `calls` `/validate` requests on `app`. */
async function round(app: (typeof apps)['on']): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < CALLS; i++) {
    const res = await app.fetch(new Request('http://bench/validate', { method: 'POST', headers }))
    if (res.status !== 200) throw new Error(`validate: ${res.status}`)
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / CALLS
}

const results: Record<'off' | 'on', number[]> = { off: [], on: [] }
for (let r = 0; r < ROUNDS; r++) {
  for (const name of ['off', 'on'] as const) results[name].push(await round(apps[name]))
}
const runtimeName = typeof Bun === 'undefined' ? `Node ${process.version}` : `Bun ${Bun.version}`
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}
for (const name of ['off', 'on'] as const) {
  const measured = results[name].slice(WARM_UP_ROUNDS)
  const each = measured.map((us) => us.toFixed(1)).join(', ')
  console.log(
    `${runtimeName} metrics ${name}: median ${median(measured).toFixed(1)} µs/call (rounds: ${each})`,
  )
}
const scraped = await apps.on.request('/metrics', {
  headers: { authorization: `Bearer ${METRICS_TOKEN}` },
})
const line = (await scraped.text())
  .split('\n')
  .find((l) => l.startsWith('edge_auth_token_validations_total{outcome="valid"}'))
console.log(`scraped: ${line}`)
await handle.close()
