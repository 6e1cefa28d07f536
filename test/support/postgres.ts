import postgres from 'postgres'
import { IN_CI } from './process'

/**
 * The Postgres server the tests use: `TEST_POSTGRES_URL`, or the machine's and CI's own
 * (127.0.0.1:5432, trust auth, user postgres). Tests only create and drop their own databases there.
 */
export const ADMIN_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Why Postgres cannot be used, or null when it answers. */
export async function probePostgres(): Promise<string | null> {
  const sql = postgres(ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} })
  try {
    await sql`select 1`
    return null
  } catch (error) {
    return `no Postgres at ${new URL(ADMIN_URL).host} (${(error as Error).message})`
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/**
 * Decides whether the Postgres-backed tests of a file run: they skip, with the reason printed, only
 * when Postgres is missing outside CI. Under CI they always run, so a missing Postgres fails them.
 */
export async function postgresSkipReason(what: string): Promise<string | null> {
  const reason = await probePostgres()
  if (reason === null || IN_CI) return null
  console.warn(`Skipping ${what}: ${reason}. Start Postgres or set TEST_POSTGRES_URL to run them.`)
  return reason
}

/** A database made for one test run. */
export interface TestDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

/** Creates an empty, uniquely named database (`edge_auth_<label>_<random>`) on {@link ADMIN_URL}. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `edge_auth_${label.replace(/\W/g, '_')}_${crypto.randomUUID().slice(0, 8)}`
  const admin = postgres(ADMIN_URL, { max: 1, connect_timeout: 5, onnotice: () => {} })
  try {
    await admin.unsafe(`create database "${name}"`)
  } finally {
    await admin.end({ timeout: 1 })
  }
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    async drop() {
      const sql = postgres(ADMIN_URL, { max: 1, connect_timeout: 5, onnotice: () => {} })
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`)
      } finally {
        await sql.end({ timeout: 1 })
      }
    },
  }
}
