import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type { DatabaseConfig } from '../config'
import type * as schema from './schema'

/** The one database type the rest of the code sees, whatever the driver underneath. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

/** A database and how to close it. */
export interface DatabaseHandle {
  db: Database
  config: DatabaseConfig
  close(): Promise<void>
}

/**
 * Opens the configured database. Each driver lives in its own module, loaded only when chosen,
 * so a bundle for one runtime does not carry the others (the Worker imports `drivers/neon-http` alone).
 */
export async function makeDb(config: DatabaseConfig): Promise<DatabaseHandle> {
  switch (config.driver) {
    case 'pglite':
      return (await import('./drivers/pglite')).openPglite(config.dataDir)
    case 'postgres':
      return (await import('./drivers/postgres')).openPostgres(config.url)
    case 'neon-http':
      return (await import('./drivers/neon-http')).openNeonHttp(config.url, config.fetchEndpoint)
  }
}

/** The rows of what `db.execute` returned: an array with postgres.js, `.rows` with the others. */
export function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : (result as { rows: T[] }).rows
}
