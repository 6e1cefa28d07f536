import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type * as schema from './schema'

/** Where the users live. `pglite` with `dataDir: null` is an in-memory database. */
export type DatabaseConfig =
  | { driver: 'pglite'; dataDir: string | null }
  | { driver: 'postgres'; url: string }
  | { driver: 'neon-http'; url: string; fetchEndpoint?: string }

/** The one database type the rest of the code sees, whatever the driver underneath. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

/** A database and how to close it. */
export interface DatabaseHandle {
  db: Database
  config: DatabaseConfig
  close(): Promise<void>
}

/** The rows of what `db.execute` returned: an array with postgres.js, `.rows` with the others. */
export function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : (result as { rows: T[] }).rows
}
