/**
 * The Postgres side of neon-local: single-connection postgres.js clients leased one request at a
 * time, statements run with the extended protocol and untyped text parameters, as Neon's proxy
 * does, and their results as Neon's `{ command, rowCount, rows, fields, rowAsArray }`, values in
 * Postgres text.
 */
import { Readable, Writable } from 'node:stream'
import postgres from 'postgres'
import { errorMessage, type Flags, HttpError, ISOLATION_LEVELS, type QueryData } from './protocol'

type Db = postgres.Sql

/**
 * Single-connection postgres.js clients, each leased to one request at a time. postgres.js
 * only lets `max: 1` clients run a bare BEGIN, and its `reserve()`/`begin()` hand a dropped
 * connection back to the pool, so leases plus explicit BEGIN/COMMIT are the safe route.
 */
export interface ClientPool {
  use<T>(work: (client: Db) => Promise<T>): Promise<T>
  end(): Promise<void>
}

/** A column, as Neon describes it. */
interface Field {
  name: string
  dataTypeID: number
  tableID: number
  columnID: number
  dataTypeSize: number
  dataTypeModifier: number
  format: 'text'
}

/** One statement's result, as Neon answers it. */
export interface QueryResult {
  command: string
  rowCount: number | null
  rows: unknown[]
  fields: Field[]
  rowAsArray: boolean
}

/** How to run the statements of a request. */
export interface Run {
  flags: Flags
  types: TypeCatalog
  signal: AbortSignal
}

/** Type sizes by OID, looked up once per type (for `fields`). */
export type TypeCatalog = (db: Db, oids: readonly number[]) => Promise<ReadonlyMap<number, number>>

const TRANSACTION_OPENERS = new Set(['BEGIN', 'START'])

/** Forces the extended protocol (one statement, untyped text params), as Neon's proxy uses. */
const EXTENDED_PROTOCOL = { prepare: false, simple: false } as postgres.UnsafeQueryOptions

const TYPE_QUERY = `SELECT t.oid::text, t.typlen::text
  FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::pg_catalog.oid[])`

/** A pool of `size` clients on `databaseUrl`; a client whose session broke is replaced. */
export function createClientPool(databaseUrl: string, size: number): ClientPool {
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

/** Fails fast when the backing database cannot be reached. */
export async function checkReachable(pool: ClientPool): Promise<void> {
  try {
    await pool.use((client) => client.unsafe('SELECT 1'))
  } catch (error) {
    await pool.end()
    throw new Error(`cannot reach the backing database: ${errorMessage(error)}`)
  }
}

/** Runs one statement outside any transaction; a transaction it opens is rolled back. */
export function runSingle(pool: ClientPool, query: QueryData, run: Run): Promise<QueryResult> {
  return pool.use(async (client) => {
    const result = await execute(client, query, run)
    if (TRANSACTION_OPENERS.has(result.command)) await client.unsafe('ROLLBACK')
    return result
  })
}

/** Runs the statements in one transaction; any error rolls all of them back. */
export function runBatch(
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
    rows: rows.map((row) => toRow(row, columns, arrayMode)),
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

function toField(column: postgres.Column<string>, sizes: ReadonlyMap<number, number>): Field {
  return {
    name: column.name,
    dataTypeID: column.type,
    tableID: column.table,
    columnID: column.number,
    dataTypeSize: sizes.get(column.type) ?? -1,
    dataTypeModifier: -1,
    format: 'text',
  }
}

function toRow(
  row: readonly (Buffer | null)[],
  columns: readonly postgres.Column<string>[],
  arrayMode: boolean,
): unknown {
  const values = columns.map((_, i) => row[i]?.toString('utf8') ?? null)
  return arrayMode ? values : Object.fromEntries(columns.map((c, i) => [c.name, values[i]]))
}

/** A {@link TypeCatalog} that remembers every size it looked up. */
export function createTypeCatalog(): TypeCatalog {
  const known = new Map<number, number>()
  return async (db, oids) => {
    const missing = [...new Set(oids)].filter((oid) => !known.has(oid))
    if (missing.length > 0) {
      for (const [oid, size] of await lookupTypes(db, missing)) known.set(oid, size)
    }
    return known
  }
}

async function lookupTypes(db: Db, oids: readonly number[]): Promise<Map<number, number>> {
  const rows = await db.unsafe(TYPE_QUERY, [`{${oids.join(',')}}`], EXTENDED_PROTOCOL).values()
  const found = new Map<number, number>()
  for (const [oid, size] of rows as unknown as [string, string][]) {
    found.set(Number(oid), Number(size))
  }
  return found
}
