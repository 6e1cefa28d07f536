import { neon, neonConfig } from '@neondatabase/serverless'
import { drizzle } from 'drizzle-orm/neon-http'
import type { Database, DatabaseHandle } from '../client'
import * as schema from '../schema'

/**
 * Opens Neon serverless Postgres over HTTP: one fetch per query, no connection to keep.
 * `fetchEndpoint` (development and tests only) sends the queries to another `/sql` endpoint, such
 * as the local one in `scripts/neon-local.ts`; it sets Neon's process-wide `neonConfig`.
 */
export function openNeonHttp(url: string, fetchEndpoint?: string): DatabaseHandle {
  if (fetchEndpoint !== undefined) neonConfig.fetchEndpoint = fetchEndpoint
  const db = drizzle({ client: neon(url), schema })
  return {
    db: db as unknown as Database,
    config: { driver: 'neon-http', url, ...(fetchEndpoint === undefined ? {} : { fetchEndpoint }) },
    close: async () => {},
  }
}
