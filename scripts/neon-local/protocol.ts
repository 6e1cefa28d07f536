/**
 * The HTTP side of Neon's "SQL over HTTP" protocol as neon-local serves it: the request's headers
 * and JSON body, the parameters as Postgres text, and the answers (results, Postgres errors and
 * other failures, CORS preflight) in the shape the Neon driver reads.
 */
import postgres from 'postgres'

/** A parameter as Postgres text (NULL as null). */
export type PgText = string | null

/** One statement of a request. */
export interface QueryData {
  query: string
  params: PgText[]
  arrayMode: boolean | undefined
}

/** A request's statements; a batch runs them in one transaction. */
export interface Payload {
  batch: boolean
  queries: QueryData[]
}

/** What the headers ask of a request (a batch's transaction mode, rows as arrays). */
export interface Flags {
  arrayMode: boolean
  isolationLevel: IsolationLevel | undefined
  readOnly: boolean
  deferrable: boolean
}

/** The headers of the protocol. */
export const HEADER = {
  connectionString: 'Neon-Connection-String',
  rawTextOutput: 'Neon-Raw-Text-Output',
  arrayMode: 'Neon-Array-Mode',
  isolationLevel: 'Neon-Batch-Isolation-Level',
  readOnly: 'Neon-Batch-Read-Only',
  deferrable: 'Neon-Batch-Deferrable',
} as const

export const ISOLATION_LEVELS = {
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
  Serializable: 'SERIALIZABLE',
} as const

type IsolationLevel = keyof typeof ISOLATION_LEVELS

const CONNECT_FAILURES = new Set([
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ETIMEDOUT',
])

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

/** A failure with the status and message Neon's proxy would answer. */
export class HttpError extends Error {
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** Refuses a request without a usable `Neon-Connection-String` (any postgres URL will do). */
export function checkConnectionString(value: string | null): void {
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

/**
 * Reads the headers' flags. Values are answered as Postgres text only, which the Neon driver always
 * asks for (`Neon-Raw-Text-Output: true`); a request that asks for Neon's typed JSON is refused.
 */
export function parseFlags(headers: Headers): Flags {
  if (headers.get(HEADER.rawTextOutput) !== 'true') {
    throw new HttpError(400, 'only raw text output is served: send Neon-Raw-Text-Output: true')
  }
  const level = headers.get(HEADER.isolationLevel)
  if (level !== null && !Object.hasOwn(ISOLATION_LEVELS, level)) {
    throw new HttpError(400, 'invalid isolation level')
  }
  return {
    arrayMode: headers.get(HEADER.arrayMode) === 'true',
    isolationLevel: (level ?? undefined) as IsolationLevel | undefined,
    readOnly: headers.get(HEADER.readOnly) === 'true',
    deferrable: headers.get(HEADER.deferrable) === 'true',
  }
}

/** The batch flags a batch answer echoes. */
export function batchHeaders(flags: Flags): Record<string, string> {
  const headers: Record<string, string> = {}
  if (flags.readOnly) headers[HEADER.readOnly] = 'true'
  if (flags.deferrable) headers[HEADER.deferrable] = 'true'
  if (flags.isolationLevel) headers[HEADER.isolationLevel] = flags.isolationLevel
  return headers
}

/** Reads `{ query, params?, arrayMode? }` or `{ queries: [...] }`. */
export function parsePayload(text: string): Payload {
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

/** The one statement of a single-query request. */
export function firstQuery(payload: Payload): QueryData {
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

/** The answer to an `OPTIONS /sql`, as Neon gives it. */
export function preflightResponse(): Response {
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
export function failureResponse(
  error: unknown,
  log: ((line: string) => void) | undefined,
): Response {
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

/** A failure in the shape of a Postgres error (empty code), as Neon answers it. */
export function errorResponse(status: number, message: string): Response {
  const body: Record<string, string | null> = { message, code: '', severity: '' }
  for (const [key] of ERROR_FIELDS) body[key] = null
  return jsonResponse(status, body)
}

/** A JSON answer with the CORS header Neon sends. */
export function jsonResponse(
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

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
