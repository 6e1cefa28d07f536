/**
 * Session races on a real Postgres server, where statements really run concurrently (PGlite runs
 * one at a time): rotations of one token, the refresh limit's count, the rows a family keeps, and a
 * refresh racing a logout. Uses TEST_POSTGRES_URL
 * (default: postgres://postgres@127.0.0.1:5432/postgres) to create and drop its own database.
 * Locally a missing server skips the file with a printed reason; with CI=true it fails.
 */
import { createHash } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app'
import { createPasswordHasher } from '../src/auth/password'
import { createTokenService } from '../src/auth/tokens'
import type { DatabaseHandle } from '../src/db/client'
import { openPostgres } from '../src/db/drivers/postgres'
import { migrateDatabase } from '../src/db/migrate'
import { silentLogger } from '../src/logger'
import { FAST_ARGON2, TEST_SECRET } from './support/app'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

async function reachable(): Promise<boolean> {
  const probe = postgres(serverUrl, { max: 1, connect_timeout: 2, onnotice: () => {} })
  try {
    await probe`select 1`
    return true
  } catch {
    return false
  } finally {
    await probe.end({ timeout: 1 })
  }
}

const available = await reachable()
const skip = !available && process.env.CI !== 'true'
if (skip) console.warn(`Skipping test/sessions-postgres.test.ts: no Postgres at ${serverUrl}`)

describe.skipIf(skip)('sessions on Postgres (real concurrency)', () => {
  const name = `edge_auth_sessions_${Math.random().toString(36).slice(2, 10)}`
  let admin: postgres.Sql
  let handle: DatabaseHandle
  let sql: postgres.Sql
  let app: ReturnType<typeof createApp>
  const password = 'correct horse battery staple'

  beforeAll(async () => {
    if (!available) throw new Error(`Postgres is required in CI: none at ${serverUrl}`)
    admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database ${name}`)
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    handle = openPostgres(url.toString())
    sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
    await migrateDatabase(handle)
    app = createApp({
      db: handle.db,
      passwords: createPasswordHasher({ params: FAST_ARGON2 }),
      tokens: createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 1800 }),
      logger: silentLogger,
      sessions: { reuseGraceSeconds: 10 },
    })
    const res = await app.request('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Racer', username: 'racer', password }),
    })
    expect(res.status).toBe(201)
  })

  afterAll(async () => {
    await sql?.end({ timeout: 5 })
    await handle?.close()
    await admin?.unsafe(`drop database if exists ${name} with (force)`)
    await admin?.end({ timeout: 5 })
  })

  const form = (fields: Record<string, string>) =>
    app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  const login = async () => (await form({ username: 'racer', password })).json()
  const refresh = (token: string) => form({ grant_type: 'refresh_token', refresh_token: token })

  it('20 concurrent refreshes of one token: exactly one wins, every round, and keeps its session', async () => {
    for (let round = 0; round < 20; round++) {
      const { refresh_token } = await login()
      const answers = await Promise.all(Array.from({ length: 20 }, () => refresh(refresh_token)))
      const statuses = answers.map((r) => r.status).sort()
      expect(statuses).toEqual([200, ...Array(19).fill(400)])
      const winner = await (answers.find((r) => r.status === 200) as Response).json()
      expect((await refresh(winner.refresh_token)).status).toBe(200)
    }
  })

  it('a family rotated 25 times holds 4 rows, and its first token is still detected as reuse', async () => {
    const first = await login()
    let current = first.refresh_token as string
    for (let i = 0; i < 25; i++) {
      const res = await refresh(current)
      expect(res.status).toBe(200)
      current = (await res.json()).refresh_token
    }
    const [{ n }] =
      (await sql`select count(*)::int as n from refresh_tokens where family_id = (select family_id from refresh_tokens where token_hash = ${sha256(current)})`) as unknown as [
        { n: number },
      ]
    expect(n).toBe(4)
    expect((await refresh(first.refresh_token)).status).toBe(400)
    expect((await refresh(current)).status).toBe(400)
    const validation = await app.request('/validate', {
      method: 'POST',
      headers: { authorization: `Bearer ${first.access_token}` },
    })
    expect(validation.status).toBe(401)
  })

  it('40 concurrent refreshes of one token under a limit of 30: all counted, one wins, 10 are throttled', async () => {
    const { refresh_token } = await login()
    const answers = await Promise.all(Array.from({ length: 40 }, () => refresh(refresh_token)))
    const statuses = answers.map((r) => r.status).sort()
    expect(statuses).toEqual([200, ...Array(29).fill(400), ...Array(10).fill(429)])
    for (const res of answers.filter((r) => r.status === 429)) {
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
  })

  it('a refresh racing a logout never leaves a usable refresh or access token behind', async () => {
    for (let round = 0; round < 50; round++) {
      const session = await login()
      const [refreshed, loggedOut] = await Promise.all([
        refresh(session.refresh_token),
        app.request('/logout', {
          method: 'POST',
          headers: { authorization: `Bearer ${session.access_token}` },
        }),
      ])
      expect(loggedOut.status).toBe(204)
      if (refreshed.status !== 200) continue
      const body = await refreshed.json()
      expect((await refresh(body.refresh_token)).status).toBe(400)
      const validation = await app.request('/validate', {
        method: 'POST',
        headers: { authorization: `Bearer ${body.access_token}` },
      })
      expect(validation.status).toBe(401)
    }
  })
})
