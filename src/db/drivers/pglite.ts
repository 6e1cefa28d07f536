import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import type { Database, DatabaseHandle } from '../client'
import * as schema from '../schema'

/** Opens embedded Postgres (PGlite): persisted in `dataDir`, or in memory when it is null. */
export async function openPglite(dataDir: string | null): Promise<DatabaseHandle> {
  const client = dataDir === null ? new PGlite() : new PGlite(dataDir)
  await client.waitReady
  const db = drizzle({ client, schema })
  return {
    db: db as unknown as Database,
    config: { driver: 'pglite', dataDir },
    close: () => client.close(),
  }
}
