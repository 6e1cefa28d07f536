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
 *   database), `Neon-Raw-Text-Output: true` (values stay Postgres text; otherwise bool, int2,
 *   int4, float, json and arrays become JSON), `Neon-Array-Mode: true` (rows are arrays, not
 *   objects), and for batches `Neon-Batch-Isolation-Level`, `Neon-Batch-Read-Only`,
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
 */
import { createServer, type Server } from 'node:http'
import { resolve } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { getRequestListener } from '@hono/node-server'
import { Hono, type MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import postgres from 'postgres'

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

type Db = postgres.Sql

/**
 * Single-connection postgres.js clients, each leased to one request at a time. postgres.js
 * only lets `max: 1` clients run a bare BEGIN, and its `reserve()`/`begin()` hand a dropped
 * connection back to the pool, so leases plus explicit BEGIN/COMMIT are the safe route.
 */
interface ClientPool {
  use<T>(work: (client: Db) => Promise<T>): Promise<T>
  end(): Promise<void>
}

type PgText = string | null

interface QueryData {
  query: string
  params: PgText[]
  arrayMode: boolean | undefined
}

interface Payload {
  batch: boolean
  queries: QueryData[]
}

interface Flags {
  rawOutput: boolean
  arrayMode: boolean
  isolationLevel: IsolationLevel | undefined
  readOnly: boolean
  deferrable: boolean
}

interface Field {
  name: string
  dataTypeID: number
  tableID: number
  columnID: number
  dataTypeSize: number
  dataTypeModifier: number
  format: 'text'
}

interface QueryResult {
  command: string
  rowCount: number | null
  rows: unknown[]
  fields: Field[]
  rowAsArray: boolean
}

interface Run {
  flags: Flags
  types: TypeCatalog
  signal: AbortSignal
}

interface TypeInfo {
  size: number
  elem: number
}

type TypeCatalog = (db: Db, oids: readonly number[]) => Promise<ReadonlyMap<number, TypeInfo>>

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

const HEADER = {
  connectionString: 'Neon-Connection-String',
  rawTextOutput: 'Neon-Raw-Text-Output',
  arrayMode: 'Neon-Array-Mode',
  isolationLevel: 'Neon-Batch-Isolation-Level',
  readOnly: 'Neon-Batch-Read-Only',
  deferrable: 'Neon-Batch-Deferrable',
} as const

const ISOLATION_LEVELS = {
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
  Serializable: 'SERIALIZABLE',
} as const

type IsolationLevel = keyof typeof ISOLATION_LEVELS

const OID = {
  bool: 16,
  int2: 21,
  int4: 23,
  json: 114,
  float4: 700,
  float8: 701,
  jsonb: 3802,
} as const

const TRANSACTION_OPENERS = new Set(['BEGIN', 'START'])

const CONNECT_FAILURES = new Set([
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ETIMEDOUT',
])

/** Forces the extended protocol (one statement, untyped text params), as Neon's proxy uses. */
const EXTENDED_PROTOCOL = { prepare: false, simple: false } as postgres.UnsafeQueryOptions

const TYPE_QUERY = `SELECT t.oid::text, t.typlen::text,
  (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0::pg_catalog.oid END)::text
  FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::pg_catalog.oid[])`

const ERROR_FIELDS = [
  ['detail', 'detail'],
  ['hint', 'hint'],
  ['position', 'position'],
  ['internalPosition', 'internal_position'],
  ['internalQuery', 'internal_query'],
  ['where', 'where'],
  ['table', 'table_name'],
  ['column', 'column_name'],
  ['schema', 'schema_name'],
  ['dataType', 'data type_name'],
  ['constraint', 'constraint_name'],
  ['file', 'file'],
  ['line', 'line'],
  ['routine', 'routine'],
] as const

class HttpError extends Error {
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

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

function createClientPool(databaseUrl: string, size: number): ClientPool {
  const clients: Db[] = []
  const idle: Db[] = []
  const waiting: ((client: Db) => void)[] = []
  const acquire = (): Promise<Db> => {
    const client = idle.pop() ?? (clients.length < size ? addClient(databaseUrl, clients) : null)
    return client ? Promise.resolve(client) : new Promise((grant) => waiting.push(grant))
  }
  const release = (client: Db) => {
    const next = waiting.shift()
    if (next) next(client)
    else idle.push(client)
  }
  const discard = (client: Db) => {
    clients.splice(clients.indexOf(client), 1)
    client.end({ timeout: 0 }).catch(() => {})
    const next = waiting.shift()
    if (next) next(addClient(databaseUrl, clients))
  }
  return {
    async use(work) {
      const client = await acquire()
      try {
        const result = await work(client)
        release(client)
        return result
      } catch (error) {
        if (isQueryError(error)) release(client)
        else discard(client)
        throw error
      }
    },
    async end() {
      await Promise.all(clients.map((client) => client.end({ timeout: 5 })))
    },
  }
}

function addClient(databaseUrl: string, clients: Db[]): Db {
  const client = openClient(databaseUrl)
  clients.push(client)
  return client
}

function openClient(databaseUrl: string): Db {
  const db = postgres(databaseUrl, {
    max: 1,
    fetch_types: false,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'neon-local', TimeZone: 'UTC', DateStyle: 'ISO, MDY' },
  })
  disableSerializers(db)
  return db
}

/** Params stay the exact text the client sent; postgres.js must not re-encode them by type. */
function disableSerializers(db: Db): void {
  const serializers = db.options.serializers
  for (const oid of Object.keys(serializers)) delete serializers[Number(oid)]
}

async function checkReachable(pool: ClientPool): Promise<void> {
  try {
    await pool.use((client) => client.unsafe('SELECT 1'))
  } catch (error) {
    await pool.end()
    throw new Error(`cannot reach the backing database: ${errorMessage(error)}`)
  }
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

function checkConnectionString(value: string | null): void {
  if (value === null) throw new HttpError(400, 'invalid header: neon-connection-string')
  let url: URL
  try {
    url = new URL(value)
  } catch (error) {
    throw new HttpError(400, `invalid connection string: ${errorMessage(error)}`)
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new HttpError(400, 'incorrect scheme')
  }
  if (url.hostname === '') throw new HttpError(400, 'missing hostname')
  if (url.username === '') throw new HttpError(400, 'missing username')
  if (url.pathname.replace(/^\//, '') === '') throw new HttpError(400, 'missing database name')
}

function parseFlags(headers: Headers): Flags {
  const level = headers.get(HEADER.isolationLevel)
  if (level !== null && !Object.hasOwn(ISOLATION_LEVELS, level)) {
    throw new HttpError(400, 'invalid isolation level')
  }
  return {
    rawOutput: headers.get(HEADER.rawTextOutput) === 'true',
    arrayMode: headers.get(HEADER.arrayMode) === 'true',
    isolationLevel: (level ?? undefined) as IsolationLevel | undefined,
    readOnly: headers.get(HEADER.readOnly) === 'true',
    deferrable: headers.get(HEADER.deferrable) === 'true',
  }
}

function batchHeaders(flags: Flags): Record<string, string> {
  const headers: Record<string, string> = {}
  if (flags.readOnly) headers[HEADER.readOnly] = 'true'
  if (flags.deferrable) headers[HEADER.deferrable] = 'true'
  if (flags.isolationLevel) headers[HEADER.isolationLevel] = flags.isolationLevel
  return headers
}

function parsePayload(text: string): Payload {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw payloadError(errorMessage(error))
  }
  if (!isObject(json)) throw payloadError('expected a JSON object')
  if ('query' in json) return { batch: false, queries: [parseQueryData(json, 'body')] }
  if (Array.isArray(json.queries)) {
    return {
      batch: true,
      queries: json.queries.map((q, i) => parseQueryData(q, `queries[${i}]`)),
    }
  }
  throw payloadError('expected {"query": ...} or {"queries": [...]}')
}

function parseQueryData(value: unknown, where: string): QueryData {
  if (!isObject(value) || typeof value.query !== 'string') {
    throw payloadError(`${where}: "query" must be a string`)
  }
  const { query, params = [], arrayMode } = value
  if (!Array.isArray(params)) throw payloadError(`${where}: "params" must be an array`)
  if (arrayMode !== undefined && typeof arrayMode !== 'boolean') {
    throw payloadError(`${where}: "arrayMode" must be a boolean`)
  }
  return { query, params: params.map(jsonToPgText), arrayMode }
}

function payloadError(detail: string): HttpError {
  return new HttpError(400, `could not parse the HTTP request body: ${detail}`)
}

function firstQuery(payload: Payload): QueryData {
  const [query] = payload.queries
  if (!query) throw payloadError('no query')
  return query
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Converts a JSON param to the Postgres text Neon's proxy would send. */
function jsonToPgText(value: unknown): PgText {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return pgArrayLiteral(value)
  return JSON.stringify(value)
}

function pgArrayLiteral(values: readonly unknown[]): string {
  return `{${values.map(pgArrayElement).join(',')}}`
}

function pgArrayElement(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (Array.isArray(value)) return pgArrayLiteral(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** Runs one statement outside any transaction; a transaction it opens is rolled back. */
function runSingle(pool: ClientPool, query: QueryData, run: Run): Promise<QueryResult> {
  return pool.use(async (client) => {
    const result = await execute(client, query, run)
    if (TRANSACTION_OPENERS.has(result.command)) await client.unsafe('ROLLBACK')
    return result
  })
}

/** Runs the statements in one transaction; any error rolls all of them back. */
function runBatch(
  pool: ClientPool,
  queries: readonly QueryData[],
  run: Run,
): Promise<QueryResult[]> {
  return pool.use(async (client) => {
    await client.unsafe(beginStatement(run.flags))
    try {
      const results: QueryResult[] = []
      for (const query of queries) results.push(await execute(client, query, run))
      await client.unsafe('COMMIT')
      return results
    } catch (error) {
      if (isQueryError(error)) await client.unsafe('ROLLBACK')
      throw error
    }
  })
}

/** An ordinary Postgres error: the statement failed but the session is intact. */
function isQueryError(error: unknown): error is postgres.PostgresError {
  return (
    error instanceof postgres.PostgresError &&
    error.severity !== 'FATAL' &&
    error.severity !== 'PANIC'
  )
}

function beginStatement(flags: Flags): string {
  const parts = ['BEGIN']
  if (flags.isolationLevel) parts.push(`ISOLATION LEVEL ${ISOLATION_LEVELS[flags.isolationLevel]}`)
  if (flags.readOnly) parts.push('READ ONLY')
  if (flags.deferrable) parts.push('DEFERRABLE')
  return parts.join(' ')
}

async function execute(
  db: Db,
  query: QueryData,
  { flags, types, signal }: Run,
): Promise<QueryResult> {
  const pending = db.unsafe(query.query, query.params, EXTENDED_PROTOCOL).raw()
  const result = await cancelOnAbort(pending, signal)
  if (!Array.isArray(result)) return abandonCopy(result)
  const columns: readonly postgres.Column<string>[] = result.columns ?? []
  const catalog = await types(
    db,
    columns.map((c) => c.type),
  )
  const arrayMode = query.arrayMode ?? flags.arrayMode
  const rows: readonly (readonly (Buffer | null)[])[] = result
  return {
    command: (result.command ?? '').split(' ')[0] ?? '',
    rowCount: result.count ?? null,
    rows: rows.map((row) => toRow(row, columns, arrayMode, flags.rawOutput, catalog)),
    fields: columns.map((column) => toField(column, catalog)),
    rowAsArray: arrayMode,
  }
}

/** Like Neon, a client that hangs up cancels its running statement. */
async function cancelOnAbort<T>(pending: PromiseLike<T> & { cancel(): void }, signal: AbortSignal) {
  const cancel = () => {
    Promise.resolve(pending.cancel()).catch(() => {})
  }
  if (signal.aborted) cancel()
  signal.addEventListener('abort', cancel, { once: true })
  try {
    return await pending
  } finally {
    signal.removeEventListener('abort', cancel)
  }
}

/** postgres.js answers COPY with a stream; drop it (the pool then discards the client). */
function abandonCopy(stream: unknown): never {
  if (stream instanceof Readable || stream instanceof Writable) {
    stream.on('error', () => {})
    stream.destroy()
  }
  throw new HttpError(400, 'COPY is not supported over HTTP')
}

function toField(column: postgres.Column<string>, catalog: ReadonlyMap<number, TypeInfo>): Field {
  return {
    name: column.name,
    dataTypeID: column.type,
    tableID: column.table,
    columnID: column.number,
    dataTypeSize: catalog.get(column.type)?.size ?? -1,
    dataTypeModifier: -1,
    format: 'text',
  }
}

function toRow(
  row: readonly (Buffer | null)[],
  columns: readonly postgres.Column<string>[],
  arrayMode: boolean,
  rawOutput: boolean,
  catalog: ReadonlyMap<number, TypeInfo>,
): unknown {
  const values = columns.map((column, i) => {
    const value = row[i]
    if (value === null || value === undefined) return null
    const text = value.toString('utf8')
    return rawOutput ? text : pgTextToJson(text, column.type, catalog)
  })
  return arrayMode ? values : Object.fromEntries(columns.map((c, i) => [c.name, values[i]]))
}

function createTypeCatalog(): TypeCatalog {
  const known = new Map<number, TypeInfo>()
  return async (db, oids) => {
    const missing = [...new Set(oids)].filter((oid) => !known.has(oid))
    if (missing.length > 0) {
      for (const [oid, info] of await lookupTypes(db, missing)) known.set(oid, info)
    }
    return known
  }
}

async function lookupTypes(db: Db, oids: readonly number[]): Promise<Map<number, TypeInfo>> {
  const rows = await db.unsafe(TYPE_QUERY, [`{${oids.join(',')}}`], EXTENDED_PROTOCOL).values()
  const found = new Map<number, TypeInfo>()
  for (const [oid, size, elem] of rows as unknown as [string, string, string][]) {
    found.set(Number(oid), { size: Number(size), elem: Number(elem) })
  }
  return found
}

/** Neon's non-raw output: bool, int2/int4, finite floats, json and arrays become JSON. */
function pgTextToJson(text: string, oid: number, catalog: ReadonlyMap<number, TypeInfo>): unknown {
  const elem = catalog.get(oid)?.elem ?? 0
  if (elem !== 0) return parsePgArray(text, (item) => pgTextToJson(item, elem, catalog))
  switch (oid) {
    case OID.bool:
      return text === 't'
    case OID.int2:
    case OID.int4:
      return Number.parseInt(text, 10)
    case OID.float4:
    case OID.float8:
      return finiteOrText(text)
    case OID.json:
    case OID.jsonb:
      return parseJsonOutput(text)
    default:
      return text
  }
}

function finiteOrText(text: string): number | string {
  const value = Number(text)
  return Number.isFinite(value) ? value : text
}

function parseJsonOutput(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(500, 'could not parse postgres response')
  }
}

interface Cursor {
  text: string
  pos: number
}

/** Parses Postgres array text output (`{1,NULL,"a \"b\""}`, nested, optional bounds prefix). */
function parsePgArray(text: string, convert: (item: string) => unknown): unknown[] {
  const start = text.startsWith('[') ? text.indexOf('=') + 1 : 0
  if (start === 0 && text.startsWith('[')) throw arrayError()
  const cursor = { text, pos: start }
  skipSpaces(cursor)
  const values = readArray(cursor, convert)
  if (cursor.pos !== text.length) throw arrayError()
  return values
}

function readArray(cursor: Cursor, convert: (item: string) => unknown): unknown[] {
  expectChar(cursor, '{')
  const values: unknown[] = []
  skipSpaces(cursor)
  if (cursor.text[cursor.pos] === '}') {
    cursor.pos++
    skipSpaces(cursor)
    return values
  }
  for (;;) {
    skipSpaces(cursor)
    values.push(readItem(cursor, convert))
    skipSpaces(cursor)
    const next = cursor.text[cursor.pos++]
    if (next === '}') break
    if (next !== ',') throw arrayError()
  }
  skipSpaces(cursor)
  return values
}

function readItem(cursor: Cursor, convert: (item: string) => unknown): unknown {
  const first = cursor.text[cursor.pos]
  if (first === '{') return readArray(cursor, convert)
  if (first === '"') return convert(readQuoted(cursor))
  const end = cursor.text.slice(cursor.pos).search(/[,}]/)
  if (end < 0) throw arrayError()
  const item = cursor.text.slice(cursor.pos, cursor.pos + end).trimEnd()
  cursor.pos += end
  return item === 'NULL' ? null : convert(item)
}

function readQuoted(cursor: Cursor): string {
  let out = ''
  cursor.pos++
  for (;;) {
    const char = cursor.text[cursor.pos++]
    if (char === undefined) throw arrayError()
    if (char === '"') return out
    if (char === '\\') {
      const escaped = cursor.text[cursor.pos++]
      if (escaped === undefined) throw arrayError()
      out += escaped
    } else {
      out += char
    }
  }
}

function expectChar(cursor: Cursor, char: string): void {
  if (cursor.text[cursor.pos] !== char) throw arrayError()
  cursor.pos++
}

function skipSpaces(cursor: Cursor): void {
  while (/\s/.test(cursor.text[cursor.pos] ?? '')) cursor.pos++
}

function arrayError(): HttpError {
  return new HttpError(500, 'could not parse postgres response')
}

function preflightResponse(): Response {
  return new Response(null, {
    status: 200,
    headers: {
      Allow: 'OPTIONS, POST',
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': [
        'Authorization',
        HEADER.connectionString,
        HEADER.rawTextOutput,
        HEADER.arrayMode,
        'Neon-Pool-Opt-In',
        HEADER.readOnly,
        HEADER.isolationLevel,
        HEADER.deferrable,
      ].join(', '),
      'Access-Control-Max-Age': '86400',
    },
  })
}

/**
 * Like Neon: Postgres errors and other failures of the client's statements answer 400;
 * failing to reach the database, and anything unexpected, answer 500.
 */
function failureResponse(error: unknown, log: ((line: string) => void) | undefined): Response {
  if (error instanceof HttpError) return errorResponse(error.status, error.message)
  if (error instanceof postgres.PostgresError) return jsonResponse(400, dbErrorBody(error))
  const code = error instanceof Error && 'code' in error ? String(error.code) : undefined
  if (code !== undefined && !CONNECT_FAILURES.has(code)) {
    return errorResponse(400, errorMessage(error))
  }
  log?.(`neon-local: internal error: ${errorMessage(error)}`)
  return errorResponse(500, errorMessage(error))
}

function dbErrorBody(error: postgres.PostgresError): Record<string, string | null> {
  const source = error as unknown as Record<string, unknown>
  const body: Record<string, string | null> = {
    message: error.message,
    code: error.code,
    severity: textOrNull(source.severity_local ?? source.severity),
  }
  for (const [key, pgKey] of ERROR_FIELDS) body[key] = textOrNull(source[pgKey])
  return body
}

function textOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null
}

function errorResponse(status: number, message: string): Response {
  const body: Record<string, string | null> = { message, code: '', severity: '' }
  for (const [key] of ERROR_FIELDS) body[key] = null
  return jsonResponse(status, body)
}

function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: {
      'Content-Type': 'application/json',
      'Access-Control-Allow-Origin': '*',
      ...headers,
    },
  })
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
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
