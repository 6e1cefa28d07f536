import { fileURLToPath } from 'node:url'
import type { NeonQueryFunction } from '@neondatabase/serverless'
import { usernameKey, usernameSkeleton } from '../auth/credentials'
import type { DatabaseHandle } from './client'
import type { UserRef } from './users'

/** drizzle-kit's output folder, resolved from this file so it works from any working directory. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url))

/**
 * Applies the committed migrations (all pending ones in one transaction). Bun and Node only: it
 * reads the SQL files. Workers never migrate; run `bun run db:migrate` against their database.
 * On Postgres over TCP it uses one dedicated connection under an advisory lock, so instances
 * starting together take turns instead of racing. Over Neon's HTTP driver it sends one batch,
 * which Neon runs as one transaction (drizzle's own neon-http migrator runs statement by statement).
 * Before the migrations, {@link stageUsernameKeys} computes the keys of existing usernames, which
 * migration 0003 applies in the same transaction as the rest.
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
      const client = (
        handle.db as unknown as {
          $client: { query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }> }
        }
      ).$client
      await stageUsernameKeys(async (text, params) => (await client.query(text, params)).rows)
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
        await stageUsernameKeys((text, params) => client.unsafe(text, params as never[]))
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
  await stageUsernameKeys((text, params) => sql.query(text, params))
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

/** Runs one statement and returns its rows. */
type Query = (text: string, params?: unknown[]) => Promise<unknown[]>

/** Rows staged per statement, so a statement stays a bounded size. */
const STAGE_BATCH = 1000

/**
 * Until migration 0003 has run: computes the key and the skeleton of every existing username in
 * JS (SQL has no full case folding) and stages them in `username_key_backfill`, which 0003 checks
 * and applies in the migration's transaction, then drops. Safe to repeat: it restages from
 * scratch, and 0003 refuses a staging that no longer matches the rows. Of the rows that share a
 * skeleton (adopted from the Python service), only the oldest keeps it, so they all migrate.
 */
export async function stageUsernameKeys(query: Query): Promise<void> {
  const [state] = (await query(
    `select to_regclass('users') is not null as has_users,
      exists (select 1 from pg_attribute where attrelid = to_regclass('users')
        and attname = 'username_key' and not attisdropped) as keyed`,
  )) as { has_users: boolean; keyed: boolean }[]
  if (state?.keyed) return
  await query(
    `create table if not exists username_key_backfill (id integer primary key,
      username text not null, username_key text not null, username_skeleton text)`,
  )
  await query('delete from username_key_backfill')
  if (!state?.has_users) return
  const rows = (await query(
    'select id, username from users where username is not null order by id',
  )) as UserRef[]
  const skeletons = new Set<string>()
  const staged = rows.map(({ id, username }) => {
    const skeleton = usernameSkeleton(username)
    const first = !skeletons.has(skeleton)
    skeletons.add(skeleton)
    return [id, username, usernameKey(username), first ? skeleton : null]
  })
  for (let i = 0; i < staged.length; i += STAGE_BATCH) {
    await query(
      `insert into username_key_backfill (id, username, username_key, username_skeleton)
        select (r->>0)::int, r->>1, r->>2, r->>3 from json_array_elements($1::json) as r
        on conflict (id) do update set username = excluded.username,
          username_key = excluded.username_key, username_skeleton = excluded.username_skeleton`,
      [JSON.stringify(staged.slice(i, i + STAGE_BATCH))],
    )
  }
}
