/**
 * The load generator: one autocannon run, in its own Node process so that it never shares an event
 * loop with the server it measures. Reads a {@link LoadSpec} as JSON on stdin and prints a
 * {@link LoadResult} as JSON on stdout. Run by bench/run.ts; by hand:
 * `echo '{"url":"http://127.0.0.1:8001/validate","method":"POST","connections":8,"durationSeconds":5}' | node bench/load.ts`
 */
import autocannon from 'autocannon'

/** What to send, how hard and how long. */
export interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  connections: number
  durationSeconds: number
  headers?: Record<string, string>
  body?: string
  /** Send each request with the next of these bearer tokens, in turn. */
  bearerTokens?: string[]
  /** Send `POST /register` bodies whose usernames are this prefix and a counter (always new users). */
  registerPrefix?: string
}

/** What happened. Latencies are in milliseconds (autocannon's resolution is 1 ms). */
export interface LoadResult {
  requests: number
  seconds: number
  rps: number
  latencyMeanMs: number
  latencyP50Ms: number
  latencyP99Ms: number
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
}

const REGISTER_PASSWORD = 'correct horse battery staple'

function requestsFor(spec: LoadSpec): autocannon.Request[] | undefined {
  const tokens = spec.bearerTokens
  if (tokens !== undefined && tokens.length > 0) {
    let next = 0
    return [
      {
        setupRequest: (request) => {
          const token = tokens[next++ % tokens.length]
          return { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } }
        },
      },
    ]
  }
  const prefix = spec.registerPrefix
  if (prefix !== undefined) {
    let next = 0
    return [
      {
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({
            name: 'Bench User',
            username: `${prefix}${next++}`,
            password: REGISTER_PASSWORD,
          }),
        }),
      },
    ]
  }
  return undefined
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const spec = JSON.parse(await readStdin()) as LoadSpec
const requests = requestsFor(spec)
const result = await autocannon({
  url: spec.url,
  method: spec.method,
  connections: spec.connections,
  duration: spec.durationSeconds,
  ...(spec.headers === undefined ? {} : { headers: spec.headers }),
  ...(spec.body === undefined ? {} : { body: spec.body }),
  ...(requests === undefined ? {} : { requests }),
})
const statusCodes: Record<string, number> = {}
for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
  statusCodes[code] = stats.count ?? 0
}
const output: LoadResult = {
  requests: result.requests.total,
  seconds: result.duration,
  rps: result.requests.total / result.duration,
  latencyMeanMs: result.latency.mean,
  latencyP50Ms: result.latency.p50,
  latencyP99Ms: result.latency.p99,
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  statusCodes,
}
process.stdout.write(`${JSON.stringify(output)}\n`)
