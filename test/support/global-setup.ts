/**
 * Runs once before the test files: migrates an in-memory PGlite and saves its data directory, so
 * that each test database starts from a copy (see `openMigratedPglite`) instead of `initdb`.
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
  try {
    await migrateDatabase(handle)
    const client = (handle.db as unknown as { $client: PGlite }).$client
    const path = join(dir, 'migrated.tar')
    await writeFile(path, new Uint8Array(await (await client.dumpDataDir('none')).arrayBuffer()))
    project.provide('migratedPglitePath', path)
  } finally {
    await handle.close()
  }
  return () => rm(dir, { recursive: true, force: true })
}
