/**
 * Runs once before the test files: saves the data directory of a new in-memory PGlite, before and
 * after the migrations, so that each test database starts from a copy (see `openMigratedPglite`,
 * `openEmptyPglite`) instead of running `initdb`; and a migrated data directory on disk, which the
 * Bun servers of the tests copy (`startBunServer`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import type { TestProject } from 'vitest/node'
import { openPglite } from '../../src/db/drivers/pglite'
import { migrateDatabase } from '../../src/db/migrate'

export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'edge-auth-pglite-'))
  const handle = await openPglite(null)
  let migrated: Blob
  try {
    const client = (handle.db as unknown as { $client: PGlite }).$client
    const save = async (name: string) => {
      const dump = await client.dumpDataDir('none')
      const path = join(dir, name)
      await writeFile(path, new Uint8Array(await dump.arrayBuffer()))
      return { path, dump }
    }
    project.provide('emptyPglitePath', (await save('empty.tar')).path)
    await migrateDatabase(handle)
    const saved = await save('migrated.tar')
    project.provide('migratedPglitePath', saved.path)
    migrated = saved.dump
  } finally {
    await handle.close()
  }
  const onDisk = await openPglite(join(dir, 'migrated-data'), migrated)
  await onDisk.close()
  project.provide('migratedPgliteDir', join(dir, 'migrated-data'))
  return () => rm(dir, { recursive: true, force: true })
}
