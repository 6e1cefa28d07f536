import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import type { Database, DatabaseHandle } from '../client'
import * as schema from '../schema'

/**
 * Opens embedded Postgres (PGlite): persisted in `dataDir`, or in memory when it is null.
 * `from` is a data directory saved with PGlite's `dumpDataDir()` to start from instead of an empty
 * cluster: it skips `initdb`, the larger part of opening one.
 */
export async function openPglite(dataDir: string | null, from?: Blob): Promise<DatabaseHandle> {
  const client = new PGlite({ ...(dataDir === null ? {} : { dataDir }), loadDataDir: from })
  await client.waitReady
  const db = drizzle({ client, schema })
  return {
    db: db as unknown as Database,
    config: { driver: 'pglite', dataDir },
    close: () => client.close(),
  }
}
