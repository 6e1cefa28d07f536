import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { Database, DatabaseHandle } from '../client'
import * as schema from '../schema'

/** Bounds on a Postgres connection, so a dead database yields an error in seconds rather than a hang. */
export const POSTGRES_TIMEOUTS = { connectSeconds: 5, statementMs: 5000 }

/** Creates a postgres.js client with the service's timeouts (or others, for tests). */
export function postgresClient(
  url: string,
  max = 10,
  timeouts: typeof POSTGRES_TIMEOUTS = POSTGRES_TIMEOUTS,
): postgres.Sql {
  return postgres(url, {
    max,
    connect_timeout: timeouts.connectSeconds,
    idle_timeout: 30,
    onnotice: () => {},
    connection: { statement_timeout: timeouts.statementMs, application_name: 'edge-auth' },
  })
}

/** Opens Postgres over TCP with postgres.js (Bun and Node). */
export function openPostgres(
  url: string,
  timeouts: typeof POSTGRES_TIMEOUTS = POSTGRES_TIMEOUTS,
): DatabaseHandle {
  const client = postgresClient(url, 10, timeouts)
  return {
    db: drizzle({ client, schema }) as unknown as Database,
    config: { driver: 'postgres', url },
    close: () => client.end({ timeout: 5 }),
  }
}
