/**
 * Runs once before the test files: saves the data directory of a new in-memory PGlite, before and
 * after the migrations, so that each test database starts from a copy (see `openMigratedPglite`,
 * `openEmptyPglite`) instead of running `initdb`; and a migrated data directory on disk, which the
 * Bun servers of the tests copy (`startBunServer`).
 *
 * The three are kept in node_modules/.cache/edge-auth-pglite/<digest>/, where the digest covers
 * everything that shapes them (the migrations, the code that applies them, PGlite's version), so a
 * second run skips `initdb` and the migrations altogether; anything changed gives a new digest.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import type { TestProject } from 'vitest/node'
import { openPglite } from '../../src/db/drivers/pglite'
import { migrateDatabase } from '../../src/db/migrate'

const ROOT = new URL('../../', import.meta.url).pathname
const CACHE = join(ROOT, 'node_modules/.cache/edge-auth-pglite')

/** A digest of what the saved databases are made from. */
function sourceDigest(): string {
  const hash = createHash('sha256')
  const files = [
    ...readdirSync(join(ROOT, 'drizzle'), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.sql') || name.endsWith('.json'))
      .sort()
      .map((name) => join('drizzle', name)),
    'src/db/migrate.ts',
    'src/db/drivers/pglite.ts',
    'src/auth/credentials.ts',
    'src/auth/unicode.ts',
    'node_modules/@electric-sql/pglite/package.json',
  ]
  for (const file of files) hash.update(file).update(readFileSync(join(ROOT, file)))
  return hash.digest('hex').slice(0, 16)
}

export default async function setup(project: TestProject) {
  const done = join(CACHE, sourceDigest())
  if (!existsSync(done)) await build(done)
  project.provide('emptyPglitePath', join(done, 'empty.tar'))
  project.provide('migratedPglitePath', join(done, 'migrated.tar'))
  project.provide('migratedPgliteDir', join(done, 'migrated-data'))
}

/** Makes the three saved databases in a new folder, then moves it to `done` in one step. */
async function build(done: string) {
  await mkdir(CACHE, { recursive: true })
  const dir = await mkdtemp(join(CACHE, 'building-'))
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
    await save('empty.tar')
    await migrateDatabase(handle)
    migrated = (await save('migrated.tar')).dump
  } finally {
    await handle.close()
  }
  const onDisk = await openPglite(join(dir, 'migrated-data'), migrated)
  await onDisk.close()
  // Another run may have finished the same folder meanwhile: then this copy is dropped.
  await rename(dir, done).catch(() => rm(dir, { recursive: true, force: true }))
}
