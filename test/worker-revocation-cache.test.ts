/**
 * The revocation cache the Worker's isolates share through the Cache API, in workerd: a Worker
 * started again on the same state directory is a new isolate with an empty memory in the same
 * place, and it validates a token it has never seen without a database query. The guarantees
 * stay: the isolate that handles a logout refuses the token at once.
 * (The rules themselves, with a fake clock and database: test/revocation-shared.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNeonLocal } from '../scripts/neon-local'
import { client, loginToken, registerUser } from './contract/target'
import { migrate, type RunningLeg, workerServer } from './support/legs'
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres'

/** Long enough that the second start (slow on a loaded machine) comes within it. */
const SETTINGS = { TOKEN_REVOCATION_CACHE_SECONDS: '600' }
const noPostgres = await postgresSkipReason('the Worker revocation cache test')

describe.skipIf(noPostgres !== null)('the Worker: revocation shared through the Cache API', () => {
  const state = mkdtempSync(join(tmpdir(), 'edge-auth-cache-state-'))
  const stops: (() => Promise<void>)[] = []
  let db: TestDatabase
  let neonUrl = ''
  let sqlRequests = 0

  beforeAll(async () => {
    db = await createTestDatabase('worker_cache')
    stops.push(db.drop)
    const neon = await startNeonLocal({
      databaseUrl: db.url,
      port: 0,
      log: (line) => {
        if (line.includes('/sql')) sqlRequests++
      },
    })
    stops.push(neon.close)
    neonUrl = neon.url
    await migrate('bun', {
      DATABASE_URL: db.url,
      DB_DRIVER: 'neon-http',
      NEON_FETCH_ENDPOINT: neonUrl,
    })
  }, 180_000)

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    rmSync(state, { recursive: true, force: true })
  })

  const isolate = async (): Promise<RunningLeg> => {
    const leg = await workerServer('worker (cache)', db.url, neonUrl, SETTINGS, {
      persistTo: state,
    })
    stops.push(leg.stop)
    return leg
  }

  it('a new isolate validates from the shared cache; a logout there is refused at once', async () => {
    const first = await isolate()
    const target = () => first.target
    const { username, password } = await registerUser(target, 'shared')
    const token = await loginToken(target, username, password)
    const before = sqlRequests
    expect((await client(target).validate(`Bearer ${token}`)).status).toBe(200)
    expect(sqlRequests - before).toBe(1)
    await first.stop()

    const second = await isolate()
    const next = () => second.target
    const cold = sqlRequests
    expect((await client(next).validate(`Bearer ${token}`)).status).toBe(200)
    expect((await client(next).validate(`Bearer ${token}`)).status).toBe(200)
    expect(sqlRequests - cold).toBe(0)

    const logout = await second.target.fetch('/logout', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(logout.status).toBe(204)
    expect((await client(next).validate(`Bearer ${token}`)).status).toBe(401)
  })
})
