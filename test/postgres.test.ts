/**
 * The service on a real Postgres server (a throwaway cluster made with initdb + pg_ctl): true
 * concurrency through a connection pool, and faults — the server stopped mid-run, and frozen —
 * with the app kept running throughout (no restart).
 */
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app'
import { createPasswordHasher } from '../src/auth/password'
import { createTokenService } from '../src/auth/tokens'
import { DEFAULT_SECURITY, type SecurityConfig } from '../src/config'
import type { DatabaseHandle } from '../src/db/client'
import { openPostgres } from '../src/db/drivers/postgres'
import { migrateDatabase } from '../src/db/migrate'
import { users } from '../src/db/schema'
import { createLogger } from '../src/logger'
import { FAST_ARGON2, TEST_SECRET } from './support/app'
import {
  findPostgresBinaries,
  startThrowawayPostgres,
  type ThrowawayPostgres,
} from './support/throwaway-postgres'

const binaries = findPostgresBinaries()
const mustRun = process.env.CI === 'true'
if (!binaries.ok && !mustRun) console.warn(`Skipping test/postgres.test.ts: ${binaries.reason}`)

/** The bounds the service runs with here; an outage must be answered within BOUND_MS. */
const TIMEOUTS = { connectSeconds: 2, statementMs: 2000 }
const SECURITY: SecurityConfig = {
  ...DEFAULT_SECURITY,
  requestTimeoutMs: 4000,
  readyTimeoutMs: 1000,
}
const BOUND_MS = SECURITY.requestTimeoutMs + 1500

const password = 'correct horse battery staple'
const unique = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 10)}`

describe.skipIf(!binaries.ok && !mustRun)('on a real Postgres server', () => {
  let pg: ThrowawayPostgres
  let handle: DatabaseHandle
  let app: ReturnType<typeof createApp>
  const logs: string[] = []

  beforeAll(async () => {
    if (!binaries.ok) throw new Error(`CI needs initdb and pg_ctl: ${binaries.reason}`)
    pg = await startThrowawayPostgres(binaries.bin)
    handle = openPostgres(pg.url, TIMEOUTS)
    await migrateDatabase(handle)
    app = createApp({
      db: handle.db,
      passwords: createPasswordHasher({ params: FAST_ARGON2 }),
      tokens: createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 1800 }),
      logger: createLogger((line) => logs.push(line)),
      security: SECURITY,
    })
  }, 120_000)

  afterAll(async () => {
    await handle?.close()
    await pg?.destroy()
  }, 60_000)

  const register = (username: string) =>
    app.request('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Pg', username, password }),
    })
  const login = (username: string, pass = password) =>
    app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password: pass }).toString(),
    })
  /** Sends a request and checks it is a JSON 503 that came within the bound. */
  async function expectUnavailable(send: () => Response | Promise<Response>) {
    const started = performance.now()
    const res = await send()
    const elapsed = performance.now() - started
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ detail: expect.any(String) })
    expect(elapsed).toBeLessThan(BOUND_MS)
    return elapsed
  }

  async function waitUntilReady(limitMs = 20_000) {
    const until = performance.now() + limitMs
    for (;;) {
      const res = await app.request('/readyz')
      if (res.status === 200) return
      if (performance.now() > until) throw new Error('the service did not recover')
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  it('100 concurrent registrations of one username leave exactly one row', async () => {
    const username = unique('race')
    const results = await Promise.all(Array.from({ length: 100 }, () => register(username)))
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 409)).toHaveLength(99)
    const [found] = await handle.db
      .select({ n: sql<number>`count(*)::int` })
      .from(users)
      .where(sql`lower(${users.username}) = lower(${username})`)
    expect(found?.n).toBe(1)
  })

  it('30 concurrent wrong passwords for one account: exactly 5 are checked, 25 are 429', async () => {
    const username = unique('guess')
    expect((await register(username)).status).toBe(201)
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => login(username, `wrong-guess-${i}`)),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 401)).toHaveLength(5)
    expect(statuses.filter((s) => s === 429)).toHaveLength(25)
    expect(logs.join('\n')).not.toMatch(/throttle_sweep_failed|unhandled_error/)
  })

  it('Postgres stopped mid-run: JSON 503s within the bound, nothing half-written, recovery without restart', async () => {
    const before = unique('before')
    expect((await register(before)).status).toBe(201)
    const { access_token } = await (await login(before)).json()
    const validate = () =>
      app.request('/validate', {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}` },
      })
    expect((await validate()).status).toBe(200)
    expect((await app.request('/readyz')).status).toBe(200)

    await pg.stop()
    try {
      const during = unique('during')
      await expectUnavailable(() => register(during))
      await expectUnavailable(() => login(before))
      await expectUnavailable(() => app.request('/readyz'))
      expect((await app.request('/healthz')).status).toBe(200)
      // The account was read within TOKEN_REVOCATION_CACHE_SECONDS: /validate needs no database.
      expect((await validate()).status).toBe(200)

      await pg.start()
      await waitUntilReady()
      expect((await login(before)).status).toBe(200)
      expect((await login(during)).status).toBe(401)
      expect((await register(during)).status).toBe(201)
      expect((await login(during)).status).toBe(200)
    } finally {
      await pg.start().catch(() => {})
    }
    const logged = logs.join('\n')
    expect(logged).toContain('"event":"db_unavailable"')
    expect(logged).not.toContain(password)
  })

  it('Postgres frozen (answers nothing): JSON 503s within the bound, recovery when it resumes', async () => {
    const username = unique('frozen')
    expect((await register(username)).status).toBe(201)
    await waitUntilReady()

    pg.freeze()
    try {
      await expectUnavailable(() => app.request('/readyz'))
      await expectUnavailable(() => login(username))
      expect((await app.request('/healthz')).status).toBe(200)
    } finally {
      pg.thaw()
    }
    await waitUntilReady()
    expect((await login(username)).status).toBe(200)
  })
})
