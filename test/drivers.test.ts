/**
 * Every driver runs every query: PGlite, Postgres over TCP (postgres.js) and Neon's HTTP driver
 * (through the local endpoint in front of Postgres). Migrations are all-or-nothing on each, and a
 * unique violation (SQLSTATE 23505, wrapped by drizzle in `cause`) becomes a 409 on each.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { like, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import journal from '../drizzle/meta/_journal.json'
import { type NeonLocal, startNeonLocal } from '../scripts/neon-local'
import { createApp } from '../src/app'
import { usernameKey, usernameSkeleton } from '../src/auth/credentials'
import { createPasswordHasher } from '../src/auth/password'
import { createTokenService } from '../src/auth/tokens'
import type { DatabaseConfig } from '../src/config'
import { banAccount } from '../src/db/admin'
import type { Database, DatabaseHandle } from '../src/db/client'
import { isUniqueViolation, sqlState } from '../src/db/errors'
import { findUserCountingAttempt } from '../src/db/login'
import { migrateDatabase } from '../src/db/migrate'
import { makeDb } from '../src/db/open'
import { insertUserCountingAttempt, type RegistrationCounter } from '../src/db/register'
import { authThrottle, users } from '../src/db/schema'
import { countAttempt } from '../src/db/throttle'
import { recordLoginQuery } from '../src/db/users'
import { silentLogger } from '../src/logger'
import { FAST_ARGON2, TEST_SECRET } from './support/app'
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres'

/** How many migrations drizzle/ holds, all of which every database here must end up with. */
const MIGRATIONS = journal.entries.length

const noPostgres = await postgresSkipReason('the Postgres and Neon HTTP driver tests')

/** Opens a fresh, empty database for one driver; `cleanup` undoes whatever it started. */
interface DriverCase {
  name: 'pglite' | 'postgres' | 'neon-http'
  needsPostgres: boolean
  open(): Promise<{ config: DatabaseConfig; cleanup(): Promise<void> }>
}

const drivers: DriverCase[] = [
  {
    name: 'pglite',
    needsPostgres: false,
    open: async () => ({ config: { driver: 'pglite', dataDir: null }, cleanup: async () => {} }),
  },
  {
    name: 'postgres',
    needsPostgres: true,
    open: async () => {
      const db = await createTestDatabase('drv_pg')
      return { config: { driver: 'postgres', url: db.url }, cleanup: db.drop }
    },
  },
  {
    name: 'neon-http',
    needsPostgres: true,
    open: async () => {
      const db = await createTestDatabase('drv_neon')
      let neon: NeonLocal
      try {
        neon = await startNeonLocal({ databaseUrl: db.url, port: 0 })
      } catch (error) {
        await db.drop()
        throw error
      }
      return {
        config: { driver: 'neon-http', url: db.url, fetchEndpoint: neon.url },
        cleanup: async () => {
          await neon.close()
          await db.drop()
        },
      }
    },
  },
]

/** Rows of `db.execute`, whose result shape differs per driver. */
async function rows(
  db: Database,
  query: ReturnType<typeof sql>,
): Promise<Record<string, unknown>[]> {
  const result = (await db.execute(query)) as unknown
  return Array.isArray(result) ? result : (result as { rows: Record<string, unknown>[] }).rows
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  const [row] = await rows(db, sql`select to_regclass(${name})::text as t`)
  return row?.t !== null && row?.t !== undefined
}

/** A migrations folder in drizzle-kit's layout holding the given migrations. */
function migrationsFolder(migrations: { tag: string; when: number; sql: string[] }[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-migrations-'))
  mkdirSync(join(dir, 'meta'))
  const entries = migrations.map((m, idx) => ({
    idx,
    version: '7',
    when: m.when,
    tag: m.tag,
    breakpoints: true,
  }))
  writeFileSync(
    join(dir, 'meta', '_journal.json'),
    JSON.stringify({ version: '7', dialect: 'postgresql', entries }),
  )
  for (const m of migrations) {
    writeFileSync(join(dir, `${m.tag}.sql`), m.sql.join('\n--> statement-breakpoint\n'))
  }
  return dir
}

for (const driver of drivers) {
  describe.skipIf(driver.needsPostgres && noPostgres !== null)(`driver: ${driver.name}`, () => {
    let handle: DatabaseHandle
    let cleanup: () => Promise<void> = async () => {}
    beforeAll(async () => {
      const opened = await driver.open()
      cleanup = opened.cleanup
      handle = await makeDb(opened.config)
      await migrateDatabase(handle)
    }, 60_000)
    afterAll(async () => {
      await handle?.close()
      await cleanup()
    })

    it('is the chosen driver and has the migrated table; migrating again changes nothing', async () => {
      expect(handle.config.driver).toBe(driver.name)
      expect(await tableExists(handle.db, 'users')).toBe(true)
      await migrateDatabase(handle)
      const applied = await rows(
        handle.db,
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      )
      expect(applied[0]?.n).toBe(MIGRATIONS)
    })

    it('runs the registration statement, every query of src/db/users.ts and the login statement of src/db/login.ts', async () => {
      const username = `Drv_${crypto.randomUUID().slice(0, 8)}`
      const register = (name: string, typed: string, registerCounter?: RegistrationCounter) =>
        insertUserCountingAttempt(
          handle.db,
          {
            name,
            username: typed,
            usernameKey: usernameKey(typed),
            usernameSkeleton: usernameSkeleton(typed),
            hashedPassword: 'h1',
          },
          registerCounter,
        )
      const { user: inserted } = await register('D', username)
      expect(inserted).toEqual({ id: expect.any(Number), name: 'D', username })
      expect(await register('E', username.toLowerCase())).toEqual({
        user: null,
        lookAlike: false,
        count: undefined,
      })
      const registerCounter = {
        key: `register-ip:${username}`,
        limit: { max: 1, windowSeconds: 60, lockoutSeconds: 60 },
        nowMs: Date.now(),
      }
      const counted = await register('F', `${username}_f`, registerCounter)
      expect(counted).toEqual({
        user: { id: expect.any(Number), name: 'F', username: `${username}_f` },
        lookAlike: false,
        count: { attempts: 1, retryAfterSeconds: null, blockStarted: false },
      })
      expect(await register('G', `${username}_g`, registerCounter)).toEqual({
        user: null,
        lookAlike: false,
        count: { attempts: 2, retryAfterSeconds: 60, blockStarted: true },
      })

      const limit = { max: 2, windowSeconds: 60, lockoutSeconds: 60 }
      const address = { key: `login-ip:${username}`, limit }
      const login = (typed: string) =>
        findUserCountingAttempt(handle.db, {
          key: usernameKey(typed),
          counterName: usernameKey(typed),
          address,
          account: limit,
          nowMs: Date.now(),
        })
      const found = await login(username.toUpperCase())
      expect(found).toEqual({
        user: { id: inserted?.id, username, hashedPassword: 'h1', totpEnabled: false },
        address: { attempts: 1, retryAfterSeconds: null, blockStarted: false },
        account: { attempts: 1, retryAfterSeconds: null, blockStarted: false },
      })
      const second = await login('nobody_here')
      expect(second).toEqual({
        user: undefined,
        address: { attempts: 2, retryAfterSeconds: null, blockStarted: false },
        account: { attempts: 1, retryAfterSeconds: null, blockStarted: false },
      })
      const third = await login('nobody_here')
      expect(third.user).toBeUndefined()
      expect(third.address).toEqual({ attempts: 3, retryAfterSeconds: 60, blockStarted: true })
      expect(third.account).toBeUndefined()
      const [counter] = await handle.db
        .select()
        .from(authThrottle)
        .where(like(authThrottle.key, 'login-user:%'))
      expect(counter?.key).toBe(`login-user:${inserted?.id}`)

      const id = inserted?.id ?? -1
      // The hash is replaced only while it is still the verified one; the login is recorded either way.
      const rehash = (replacement: string) =>
        recordLoginQuery(handle.db, id, new Date(), { expectedHash: 'h1', newHash: replacement })
      expect(await rehash('h2')).toHaveLength(1)
      expect(await rehash('h3')).toHaveLength(1)
      const again = await findUserCountingAttempt(handle.db, {
        key: usernameKey(username),
        counterName: 'nobody here',
        account: limit,
        nowMs: Date.now(),
      })
      expect(again.user?.hashedPassword).toBe('h2')
      expect(again.account?.attempts).toBe(2)

      const stranger = await findUserCountingAttempt(handle.db, {
        key: usernameKey('Nobody_Here'),
        counterName: usernameKey('Nobody_Here'),
        account: limit,
        nowMs: Date.now(),
      })
      expect(stranger).toEqual({
        user: undefined,
        address: undefined,
        account: { attempts: 2, retryAfterSeconds: null, blockStarted: false },
      })
      // The name is stored only as the base64url SHA-256 of its key.
      const digest = createHash('sha256').update('nobody_here').digest('base64')
      const [named] = await handle.db
        .select()
        .from(authThrottle)
        .where(like(authThrottle.key, 'login-name:%'))
      expect(named?.key).toBe(`login-name:${digest.replaceAll('+', '-').replaceAll('/', '_')}`)

      // A ban reaches the login statement, its end as a Date on every driver.
      const until = new Date(Date.now() + 3_600_000)
      await banAccount(handle.db, id, new Date(), { reason: 'drivers', until })
      expect((await login(username)).user?.ban).toEqual({ until })

      // An attempt counted in a statement of its own (a wrong admin API key): the same upsert.
      const alone = () =>
        countAttempt(
          handle.db,
          `login-ip:alone-${username}`,
          { max: 1, windowSeconds: 60, lockoutSeconds: 60 },
          Date.now(),
        )
      expect(await alone()).toEqual({ attempts: 1, retryAfterSeconds: null, blockStarted: false })
      expect(await alone()).toEqual({ attempts: 2, retryAfterSeconds: 60, blockStarted: true })
    })

    it('reports a unique violation as SQLSTATE 23505, and the app answers 409', async () => {
      const username = `dup_${crypto.randomUUID().slice(0, 8)}`
      const row = { name: 'D', username, usernameKey: username, hashedPassword: 'h' }
      await handle.db.insert(users).values(row)
      const error = await handle.db
        .insert(users)
        .values({ ...row, username: username.toUpperCase() })
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      expect(sqlState(error)).toBe('23505')
      expect(isUniqueViolation(error)).toBe(true)
      expect(isUniqueViolation(new Error('23505'))).toBe(false)

      const app = createApp({
        db: handle.db,
        passwords: createPasswordHasher({ params: FAST_ARGON2 }),
        tokens: createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 60 }),
        logger: silentLogger,
      })
      app.post('/duplicate', async () => {
        await handle.db.insert(users).values(row)
        return new Response(null, { status: 204 })
      })
      const res = await app.request('/duplicate', { method: 'POST' })
      expect(res.status).toBe(409)
      expect(await res.json()).toEqual({ detail: 'Conflict' })
    })

    it('applies pending migrations all or nothing', async () => {
      const marker = `mig_${crypto.randomUUID().slice(0, 8)}`
      const folder = migrationsFolder([
        { tag: '0000_users', when: 1, sql: ['select 1'] },
        { tag: '0001_ok', when: Date.now() + 1000, sql: [`create table ${marker}_a (id int)`] },
        {
          tag: '0002_broken',
          when: Date.now() + 2000,
          sql: [`create table ${marker}_b (id int)`, 'select * from no_such_table'],
        },
      ])
      try {
        await expect(migrateDatabase(handle, folder)).rejects.toThrow()
        expect(await tableExists(handle.db, `${marker}_a`)).toBe(false)
        expect(await tableExists(handle.db, `${marker}_b`)).toBe(false)
        const applied = await rows(
          handle.db,
          sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
        )
        expect(applied[0]?.n).toBe(MIGRATIONS)
      } finally {
        rmSync(folder, { recursive: true, force: true })
      }
    })
  })
}

describe.skipIf(noPostgres !== null)('migrations over TCP and over Neon HTTP', () => {
  let db: TestDatabase
  let neon: NeonLocal
  beforeAll(async () => {
    db = await createTestDatabase('drv_mixed')
    neon = await startNeonLocal({ databaseUrl: db.url, port: 0 })
  })
  afterAll(async () => {
    await neon?.close()
    await db?.drop()
  })

  it('share their bookkeeping: a database migrated over HTTP is up to date over TCP', async () => {
    const http = await makeDb({ driver: 'neon-http', url: db.url, fetchEndpoint: neon.url })
    const tcp = await makeDb({ driver: 'postgres', url: db.url })
    try {
      await migrateDatabase(http)
      await migrateDatabase(tcp)
      await migrateDatabase(http)
      const applied = await rows(tcp.db, sql`select hash from drizzle.__drizzle_migrations`)
      expect(applied).toHaveLength(MIGRATIONS)
      expect(await tableExists(tcp.db, 'users')).toBe(true)
    } finally {
      await tcp.close()
      await http.close()
    }
  })
})
