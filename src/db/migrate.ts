import { fileURLToPath } from 'node:url'
import type { NeonQueryFunction } from '@neondatabase/serverless'
import type { DatabaseHandle } from './client'

/** drizzle-kit's output folder, resolved from this file so it works from any working directory. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url))

/**
 * Applies the committed migrations (all pending ones in one transaction). Bun and Node only: it
 * reads the SQL files. Workers never migrate; run `bun run db:migrate` against their database.
 * On Postgres over TCP it uses one dedicated connection under an advisory lock, so instances
 * starting together take turns instead of racing. Over Neon's HTTP driver it sends one batch,
 * which Neon runs as one transaction (drizzle's own neon-http migrator runs statement by statement).
 */
export async function migrateDatabase(
  handle: DatabaseHandle,
  folder = MIGRATIONS_FOLDER,
): Promise<void> {
  const options = { migrationsFolder: folder }
  const { config } = handle
  switch (config.driver) {
    case 'pglite': {
      const { migrate } = await import('drizzle-orm/pglite/migrator')
      return migrate(handle.db as never, options)
    }
    case 'neon-http':
      return migrateOverHttp(handle, folder)
    case 'postgres': {
      const { postgresClient } = await import('./drivers/postgres')
      const { drizzle } = await import('drizzle-orm/postgres-js')
      const { migrate } = await import('drizzle-orm/postgres-js/migrator')
      const client = postgresClient(config.url, 1)
      try {
        await client`select pg_advisory_lock(hashtext('edge-auth:migrations'))`
        await migrate(drizzle({ client }), options)
      } finally {
        await client.end({ timeout: 5 })
      }
    }
  }
}

const LOCK = "select pg_advisory_xact_lock(hashtext('edge-auth:migrations'))"

/**
 * drizzle's bookkeeping (schema `drizzle`, table `__drizzle_migrations`, `created_at` = the
 * migration's timestamp), so databases migrated over TCP and over HTTP stay interchangeable.
 * Every pending statement and its bookkeeping row go in one batch, after an advisory lock and a
 * check that no other migration ran since the pending list was read.
 */
async function migrateOverHttp(handle: DatabaseHandle, folder: string): Promise<void> {
  const { readMigrationFiles } = await import('drizzle-orm/migrator')
  const sql = (handle.db as unknown as { $client: NeonQueryFunction<false, false> }).$client
  await sql.query('CREATE SCHEMA IF NOT EXISTS drizzle')
  await sql.query(
    'CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)',
  )
  const rows = (await sql.query(
    'SELECT created_at::text AS created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1',
  )) as { created_at: string }[]
  const last = rows[0]?.created_at
  const pending = readMigrationFiles({ migrationsFolder: folder }).filter(
    (m) => last === undefined || m.folderMillis > Number(last),
  )
  if (pending.length === 0) return
  const unchanged = `DO $$ BEGIN
  IF (SELECT max(created_at) FROM drizzle.__drizzle_migrations) IS DISTINCT FROM ${last === undefined ? 'NULL' : `${BigInt(last)}::bigint`} THEN
    RAISE EXCEPTION 'another migration ran at the same time; run this one again';
  END IF;
END $$`
  await sql.transaction([
    sql.query(LOCK),
    sql.query(unchanged),
    ...pending.flatMap((m) => m.sql.filter((s) => s.trim() !== '').map((s) => sql.query(s))),
    ...pending.map((m) =>
      sql.query('INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)', [
        m.hash,
        m.folderMillis,
      ]),
    ),
  ])
}
