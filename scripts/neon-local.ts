/**
 * neon-local: a local endpoint that speaks Neon's serverless "SQL over HTTP" protocol
 * (the one `neon()` from `@neondatabase/serverless` and `drizzle-orm/neon-http` use),
 * backed by an ordinary Postgres reached with postgres.js.
 *
 * Protocol, as implemented by Neon's proxy (`proxy/src/serverless/sql_over_http.rs`):
 * - `POST /sql` with a JSON body `{ query, params?, arrayMode? }` or `{ queries: [...] }`.
 *   Params are JSON values; strings pass through, other values become Postgres text.
 *   They are sent untyped (OID 0), so Postgres infers their types from the statement.
 * - Headers: `Neon-Connection-String` (required, must be a postgres URL with user, host and
 *   database), `Neon-Raw-Text-Output: true` (required here: values stay Postgres text, as the
 *   driver always asks; Neon's typed JSON output is not served), `Neon-Array-Mode: true` (rows
 *   are arrays, not objects), and for batches `Neon-Batch-Isolation-Level`, `Neon-Batch-Read-Only`,
 *   `Neon-Batch-Deferrable`. `Authorization` and `Neon-Pool-Opt-In` are accepted and ignored.
 * - A result is `{ command, rowCount, rows, fields, rowAsArray }`; a batch is `{ results }`
 *   and runs in one transaction that any error rolls back.
 * - Query errors answer 400 with the Postgres error fields (`message`, `code`, `detail`, ...),
 *   which the driver copies onto `NeonDbError`. Other statuses reach the driver as plain text.
 *
 * Choices: every request runs against `databaseUrl`, whatever host, credentials or database
 * name its `Neon-Connection-String` names (one backing database per instance). Sessions use
 * `TimeZone=UTC` and `DateStyle=ISO` like Neon computes. Fields carry `dataTypeModifier: -1`
 * because postgres.js does not expose the column type modifier. COPY is refused.
 *
 * Usage: `bun scripts/neon-local.ts --database-url postgres://... --port 4444`
 * (or `DATABASE_URL`, `NEON_LOCAL_PORT`, `NEON_LOCAL_HOSTNAME`), then point the driver at it
 * with `neonConfig.fetchEndpoint = 'http://127.0.0.1:4444/sql'`.
 *
 * This file serves the endpoint and holds the CLI; neon-local/protocol.ts reads requests and
 * writes answers, neon-local/postgres.ts runs the statements.
 */
import { createServer, type Server } from 'node:http'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { getRequestListener } from '@hono/node-server'
import { Hono, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import {
  type ClientPool,
  checkReachable,
  createClientPool,
  createTypeCatalog,
  runBatch,
  runSingle,
  type TypeCatalog,
} from './neon-local/postgres'
import {
  batchHeaders,
  checkConnectionString,
  errorMessage,
  errorResponse,
  failureResponse,
  firstQuery,
  HEADER,
  HttpError,
  jsonResponse,
  parseFlags,
  parsePayload,
  preflightResponse,
} from './neon-local/protocol'

/** Options for {@link startNeonLocal}. */
export interface NeonLocalOptions {
  /** Backing Postgres URL; every request runs here. */
  databaseUrl: string
  /** Port to listen on; `0` picks a free one. Default 4444. */
  port?: number
  /** Interface to bind. Default `127.0.0.1`. */
  hostname?: string
  /** Largest accepted request body in bytes (413 beyond). Default 10 MiB. */
  maxRequestBytes?: number
  /** Largest response body in bytes (507 beyond). Default 10 MiB. */
  maxResponseBytes?: number
  /** Size of the backing connection pool. Default 10. */
  maxConnections?: number
  /** Receives one line per request (method, path, status, duration; never SQL or params). */
  log?: (line: string) => void
}

/** A running endpoint, as returned by {@link startNeonLocal}. */
export interface NeonLocal {
  /** The `/sql` endpoint URL, ready for `neonConfig.fetchEndpoint`. */
  url: string
  /** The port actually bound. */
  port: number
  /** Stops listening and closes the backing pool. Safe to call more than once. */
  close(): Promise<void>
}

interface Endpoint {
  pool: ClientPool
  types: TypeCatalog
  maxRequestBytes: number
  maxResponseBytes: number
  log: ((line: string) => void) | undefined
}

const DEFAULT_PORT = 4444
const DEFAULT_HOSTNAME = '127.0.0.1'
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024

/**
 * Starts the endpoint: opens a postgres.js pool on `databaseUrl` (failing fast when it is
 * unreachable) and serves Neon's HTTP SQL protocol on `POST /sql`.
 */
export async function startNeonLocal(options: NeonLocalOptions): Promise<NeonLocal> {
  const pool = createClientPool(options.databaseUrl, options.maxConnections ?? 10)
  await checkReachable(pool)
  const app = createApp({
    pool,
    types: createTypeCatalog(),
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_BYTES,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_BYTES,
    log: options.log,
  })
  const server = createServer(getRequestListener(app.fetch, { overrideGlobalObjects: false }))
  const closeServer = gracefulCloser(server)
  const hostname = options.hostname ?? DEFAULT_HOSTNAME
  let port: number
  try {
    port = await listen(server, options.port ?? DEFAULT_PORT, hostname)
  } catch (error) {
    await pool.end()
    throw error
  }
  server.on('error', (error) => options.log?.(`neon-local: server error: ${errorMessage(error)}`))
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= closeServer().then(() => pool.end())
    return closing
  }
  return { url: `http://${urlHost(hostname)}:${port}/sql`, port, close }
}

function listen(server: Server, port: number, hostname: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject)
    server.listen(port, hostname, () => {
      server.off('error', reject)
      const address = server.address()
      resolvePort(typeof address === 'object' && address !== null ? address.port : port)
    })
  })
}

/**
 * Returns a close function that lets in-flight requests finish, then drops every connection,
 * including keep-alive sockets a client opened but never used (they would linger for seconds).
 */
function gracefulCloser(server: Server): () => Promise<void> {
  let active = 0
  let draining = false
  server.on('request', (_request, response) => {
    active++
    response.once('close', () => {
      active--
      if (draining && active === 0) server.closeAllConnections()
    })
  })
  return () =>
    new Promise((done) => {
      draining = true
      server.close(() => done())
      if (active === 0) server.closeAllConnections()
    })
}

function urlHost(hostname: string): string {
  return hostname.includes(':') ? `[${hostname}]` : hostname
}

function createApp(endpoint: Endpoint): Hono {
  const { maxRequestBytes, log } = endpoint
  const app = new Hono()
  if (log) app.use(requestLogger(log))
  app.options('/sql', () => preflightResponse())
  app.post(
    '/sql',
    bodyLimit({
      maxSize: maxRequestBytes,
      onError: () => errorResponse(413, `request is too large (max is ${maxRequestBytes} bytes)`),
    }),
    (c) => handleSql(c.req.raw, endpoint),
  )
  app.all('*', () => errorResponse(400, 'query is not supported'))
  app.onError((error) => failureResponse(error, log))
  return app
}

function requestLogger(log: (line: string) => void): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now()
    await next()
    const ms = (performance.now() - started).toFixed(1)
    log(`${c.req.method} ${c.req.path} ${c.res.status} ${ms}ms`)
  }
}

async function handleSql(request: Request, endpoint: Endpoint): Promise<Response> {
  try {
    checkConnectionString(request.headers.get(HEADER.connectionString))
    const flags = parseFlags(request.headers)
    const payload = parsePayload(await request.text())
    const run = { flags, types: endpoint.types, signal: request.signal }
    const output = payload.batch
      ? { results: await runBatch(endpoint.pool, payload.queries, run) }
      : await runSingle(endpoint.pool, firstQuery(payload), run)
    const body = JSON.stringify(output)
    if (Buffer.byteLength(body) > endpoint.maxResponseBytes) {
      throw new HttpError(507, `response is too large (max is ${endpoint.maxResponseBytes} bytes)`)
    }
    return jsonResponse(200, body, payload.batch ? batchHeaders(flags) : {})
  } catch (error) {
    return failureResponse(error, endpoint.log)
  }
}

interface CliConfig {
  databaseUrl: string
  port: number
  hostname: string
}

const USAGE = `usage: bun scripts/neon-local.ts --database-url <postgres url> [--port 4444] [--hostname 127.0.0.1]
env: DATABASE_URL, NEON_LOCAL_PORT, NEON_LOCAL_HOSTNAME`

function parseCli(argv: string[], env: NodeJS.ProcessEnv): CliConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      port: { type: 'string' },
      hostname: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return undefined
  const databaseUrl = values['database-url'] ?? env.DATABASE_URL
  if (!databaseUrl) throw new Error('a database URL is required (--database-url or DATABASE_URL)')
  const portText = values.port ?? env.NEON_LOCAL_PORT ?? String(DEFAULT_PORT)
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid port: ${portText}`)
  }
  const hostname = values.hostname ?? env.NEON_LOCAL_HOSTNAME ?? DEFAULT_HOSTNAME
  return { databaseUrl, port, hostname }
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<unparseable url>'
  }
}

async function main(): Promise<void> {
  let config: CliConfig | undefined
  try {
    config = parseCli(process.argv.slice(2), process.env)
  } catch (error) {
    console.error(`neon-local: ${errorMessage(error)}\n${USAGE}`)
    process.exitCode = 1
    return
  }
  if (!config) {
    console.log(USAGE)
    return
  }
  const local = await startNeonLocal({ ...config, log: (line) => console.log(line) })
  console.log(`neon-local: serving ${local.url} -> ${redactUrl(config.databaseUrl)}`)
  const shutdown = () => {
    void local.close().finally(() => process.exit(0))
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

function isEntryPoint(meta: ImportMeta): boolean {
  if (typeof meta.main === 'boolean') return meta.main
  const entry = process.argv[1]
  return entry !== undefined && resolve(entry) === fileURLToPath(meta.url)
}

if (isEntryPoint(import.meta)) {
  main().catch((error: unknown) => {
    console.error(`neon-local: ${errorMessage(error)}`)
    process.exit(1)
  })
}
