/**
 * In-memory PGlite for tests, started from one migrated data directory instead of running `initdb`
 * and the migrations each time: `test/support/global-setup.ts` migrates a database once per run
 * and saves it; every test database starts as a copy of it. A database a test has finished with
 * is emptied and lent to the next test of the same worker, so a file with several apps pays for
 * one copy.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import { inject } from 'vitest'
import type { DatabaseHandle } from '../../src/db/client'
import { openPglite } from '../../src/db/drivers/pglite'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The file holding the migrated PGlite data directory (`dumpDataDir`, uncompressed tar). */
    migratedPglitePath: string
    /** The same before the migrations: a new cluster, as `initdb` leaves it. */
    emptyPglitePath: string
    /** A migrated PGlite data directory on disk, for servers to start from a copy of. */
    migratedPgliteDir: string
  }
}

const snapshots = new Map<string, Promise<Blob>>()

function copyOf(path: string): Promise<DatabaseHandle> {
  let snapshot = snapshots.get(path)
  if (snapshot === undefined) {
    snapshot = readFile(path).then((bytes) => new Blob([bytes]))
    snapshots.set(path, snapshot)
  }
  return snapshot.then((blob) => openPglite(null, blob))
}

/** A fresh in-memory database with every migration applied, as `migrateDatabase` leaves it. */
export function openMigratedPglite(): Promise<DatabaseHandle> {
  return copyOf(inject('migratedPglitePath'))
}

/** A fresh in-memory database with no migration applied: what `openPglite(null)` opens, sooner. */
export function openEmptyPglite(): Promise<DatabaseHandle> {
  return copyOf(inject('emptyPglitePath'))
}

const idleEmpty: DatabaseHandle[] = []

/** Everything a test may have made in a new cluster: any schema but the system's, temporary tables. */
const EMPTY_AGAIN = `do $$ declare s text; begin
  for s in select nspname from pg_namespace
    where nspname !~ '^pg_' and nspname not in ('information_schema', 'public') loop
    execute format('drop schema %I cascade', s);
  end loop;
end $$;
drop schema public cascade;
create schema public;`

/**
 * A new cluster with nothing in it, as {@link openEmptyPglite} gives, and the way to hand it back:
 * `release` drops what the test made (every schema, `public` made anew, temporary tables) and keeps
 * it for the next caller, unless the test closed it.
 */
export async function borrowEmptyPglite(): Promise<{
  handle: DatabaseHandle
  release: () => Promise<void>
}> {
  const handle = idleEmpty.pop() ?? (await openEmptyPglite())
  const client = clientOf(handle)
  const release = async () => {
    if (client.closed) return
    try {
      await client.exec('discard all')
      await client.exec(EMPTY_AGAIN)
      idleEmpty.push(handle)
    } catch {
      await handle.close()
    }
  }
  return { handle, release }
}

const clientOf = (handle: DatabaseHandle) => (handle.db as unknown as { $client: PGlite }).$client

/** The tables and columns of the schema, to tell that a lent database still has the migrated shape. */
const SHAPE = `select string_agg(table_schema || '.' || table_name || '.' || column_name || ':' || data_type, ',' order by 1)
  as shape from information_schema.columns where table_schema not in ('pg_catalog', 'information_schema')`

const idle: DatabaseHandle[] = []
let migratedShape: string | undefined

async function shapeOf(client: PGlite): Promise<string | undefined> {
  const { rows } = await client.query<{ shape: string }>(SHAPE)
  return rows[0]?.shape
}

/**
 * A migrated database with no rows, as {@link openMigratedPglite} gives, and the way to hand it
 * back. `release` empties it (every table of `public`, identities restarted) and keeps it for the
 * next caller, unless the test closed it or changed its shape; then it is dropped.
 */
export async function borrowMigratedPglite(): Promise<{
  handle: DatabaseHandle
  release: () => Promise<void>
}> {
  const handle = idle.pop() ?? (await openMigratedPglite())
  const client = clientOf(handle)
  migratedShape ??= await shapeOf(client)
  const release = async () => {
    if (client.closed) return
    try {
      const { rows } = await client.query<{ name: string }>(
        "select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname = 'public'",
      )
      await client.exec(`truncate ${rows.map((r) => r.name).join(', ')} restart identity cascade`)
      if ((await shapeOf(client)) !== migratedShape) throw new Error('the schema was changed')
      idle.push(handle)
    } catch {
      await handle.close()
    }
  }
  return { handle, release }
}

/**
 * A `file://` database URL: a copy of the migrated data directory in a new temporary folder, so a
 * server process starts without `initdb`. `remove` deletes the copy.
 */
export function migratedPgliteCopy(): { url: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-pglite-copy-'))
  cpSync(inject('migratedPgliteDir'), dir, { recursive: true })
  return { url: `file://${dir}`, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
