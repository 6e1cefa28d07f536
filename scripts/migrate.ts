/**
 * `bun run db:migrate`: applies drizzle/ to the configured database (DATABASE_URL, the seed's DB_*
 * variables, or the embedded PGlite default) and exits. Prints the database's own message on failure.
 */
import { mkdirSync } from 'node:fs'
import { parseConfig } from '../src/config'
import { migrateDatabase } from '../src/db/migrate'
import { makeDb } from '../src/db/open'

const config = parseConfig(process.env)
if (config.database.driver === 'pglite' && config.database.dataDir !== null) {
  mkdirSync(config.database.dataDir, { recursive: true })
}
const handle = await makeDb(config.database)
try {
  await migrateDatabase(handle)
  console.log(`Migrations applied (${config.database.driver}).`)
} catch (error) {
  const cause = ((error as { cause?: unknown }).cause ?? error) as {
    message?: string
    hint?: string
  }
  console.error(`Migration failed: ${cause.message ?? String(error)}`)
  if (cause.hint) console.error(cause.hint)
  process.exitCode = 1
} finally {
  await handle.close()
}
