import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import { type Metrics, methodLabel } from '../metrics'

/** Buckets of the request duration (seconds): a cached `/validate` is well under 1 ms, a login tens to hundreds. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
/** Buckets of one Argon2id hash or verify (seconds): tens of milliseconds to a second at production costs. */
const HASH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2]

/**
 * The Prometheus recorder of a Bun or Node process (prom-client): its own registry (nothing
 * global), the process metrics prom-client collects (resident memory, heap, event loop lag, CPU),
 * and the service's counters and histograms, all prefixed `edge_auth_`.
 */
export function createPrometheusMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const requests = new Counter({
    name: 'edge_auth_http_requests_total',
    help: 'Requests answered, by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  })
  const durations = new Histogram({
    name: 'edge_auth_http_request_duration_seconds',
    help: 'Time from the request reaching the app to its answer, by route template and method',
    labelNames: ['route', 'method'] as const,
    buckets: REQUEST_BUCKETS,
    registers,
  })
  const logins = new Counter({
    name: 'edge_auth_logins_total',
    help: 'Password logins, by outcome',
    labelNames: ['outcome'] as const,
    registers,
  })
  const throttleBlocks = new Counter({
    name: 'edge_auth_throttle_blocks_total',
    help: 'Attempts refused by a throttle limit, by limit',
    labelNames: ['scope'] as const,
    registers,
  })
  const validations = new Counter({
    name: 'edge_auth_token_validations_total',
    help: 'Token checks of /validate, by outcome',
    labelNames: ['outcome'] as const,
    registers,
  })
  const dbErrors = new Counter({
    name: 'edge_auth_database_errors_total',
    help: 'Requests that failed because the database was unavailable (answered 503)',
    registers,
  })
  const hashes = new Histogram({
    name: 'edge_auth_password_hash_duration_seconds',
    help: 'Time of one Argon2id hash or verify, by operation',
    labelNames: ['operation'] as const,
    buckets: HASH_BUCKETS,
    registers,
  })
  // The labelled series, made once each and found by one string key (prom-client's `labels()`
  // checks the label names on every call). Their number is bounded by the labels' values.
  const series = new Map<
    string,
    { count: ReturnType<typeof requests.labels>; time: ReturnType<typeof durations.labels> }
  >()
  const seriesOf = (route: string, method: string, status: number) => {
    const label = methodLabel(method)
    const key = `${route} ${label} ${status}`
    let found = series.get(key)
    if (found === undefined) {
      found = {
        count: requests.labels({ route, method: label, status }),
        time: durations.labels({ route, method: label }),
      }
      series.set(key, found)
    }
    return found
  }
  const outcomes = new Map<string, ReturnType<typeof validations.labels>>()
  return {
    requestDone(route, method, status, seconds) {
      const { count, time } = seriesOf(route, method, status)
      count.inc()
      time.observe(seconds)
    },
    login: (outcome) => logins.inc({ outcome }),
    throttleBlock: (scope) => throttleBlocks.inc({ scope }),
    validation(outcome) {
      let counter = outcomes.get(outcome)
      if (counter === undefined) {
        counter = validations.labels({ outcome })
        outcomes.set(outcome, counter)
      }
      counter.inc()
    },
    dbError: () => dbErrors.inc(),
    hashTiming: (operation, seconds) => hashes.observe({ operation }, seconds),
    exposition: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  }
}
