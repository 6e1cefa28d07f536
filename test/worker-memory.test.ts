/**
 * The Worker's memory in workerd, under the password cost it ships with (Argon2id m=19456 KiB,
 * t=2, p=1): read from its isolate through the DevTools inspector (test/support/inspector.ts),
 * the JavaScript heap, ArrayBuffer backing stores and every live WebAssembly memory together.
 * Workers allow an isolate 128 MB. The WebAssembly engine holds one instance per isolate and
 * runs one derivation at a time, so concurrent logins share one linear memory the size of the
 * cost; one that a large legacy hash grew is dropped afterwards (src/auth/argon2-wasm.ts).
 * An engine that made an instance per hash, or kept growing its memory, fails here.
 */
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNeonLocal } from '../scripts/neon-local'
import { RETAINED_MEMORY_BYTES } from '../src/auth/argon2-wasm'
import { DEFAULT_ARGON2_PARAMS } from '../src/auth/password'
import { client, PASSWORD, registerUser, type TargetRef, uniqueName } from './contract/target'
import { PASSLIB_ARGON2ID } from './fixtures/argon2-hashes'
import { freePort } from './support/gateway'
import { type IsolateInspector, type IsolateMemory, inspectWorker } from './support/inspector'
import { migrate, type RunningLeg, workerServer } from './support/legs'
import { createTestDatabase, postgresSkipReason, type TestDatabase } from './support/postgres'

/** Workers' memory limit per isolate. */
const WORKERS_LIMIT = 128 * 1000 * 1000
/** The linear memory one derivation at the default cost needs, and what libargon2 adds to it. */
const COST_BYTES = DEFAULT_ARGON2_PARAMS.memoryKiB * 1024
const SLACK_BYTES = 8 << 20
const CONCURRENT = 20

const noPostgres = await postgresSkipReason('the Worker memory test')

describe.skipIf(noPostgres !== null)(
  "the Worker's memory in workerd (through the inspector)",
  () => {
    const stops: (() => Promise<void>)[] = []
    let db: TestDatabase
    let leg: RunningLeg
    let inspector: IsolateInspector
    const target: TargetRef = () => leg.target

    beforeAll(async () => {
      db = await createTestDatabase('worker_memory')
      stops.push(db.drop)
      const neon = await startNeonLocal({ databaseUrl: db.url, port: 0 })
      stops.push(neon.close)
      await migrate('bun', {
        DATABASE_URL: db.url,
        DB_DRIVER: 'neon-http',
        NEON_FETCH_ENDPOINT: neon.url,
      })
      const inspectorPort = await freePort()
      const cost = {
        ARGON2_MEMORY_KIB: String(DEFAULT_ARGON2_PARAMS.memoryKiB),
        ARGON2_ITERATIONS: String(DEFAULT_ARGON2_PARAMS.iterations),
        ARGON2_PARALLELISM: String(DEFAULT_ARGON2_PARAMS.parallelism),
      }
      leg = await workerServer('worker (memory)', db.url, neon.url, cost, { inspectorPort })
      stops.push(leg.stop)
      inspector = await inspectWorker(inspectorPort)
      stops.push(async () => inspector.close())
    }, 180_000)

    afterAll(async () => {
      for (const stop of stops.reverse()) await stop().catch(() => {})
    })

    /** Sends `requests` at once, each to answer `status`, measuring the isolate while they run. */
    async function sampledWhile(
      status: number,
      requests: () => Promise<Response>[],
    ): Promise<IsolateMemory[]> {
      const samples: IsolateMemory[] = []
      let running = true
      const sampling = (async () => {
        while (running) samples.push(await inspector.memory())
      })()
      try {
        const statuses = (await Promise.all(requests())).map((res) => res.status)
        expect(statuses).toEqual(statuses.map(() => status))
      } finally {
        running = false
        await sampling
      }
      return samples
    }

    it('twenty concurrent logins share one WebAssembly memory the size of the cost, the same after twenty more; the isolate stays under 128 MB', async () => {
      const accounts = Array.from({ length: CONCURRENT }, () => ({
        name: 'Memory Test',
        username: uniqueName('memory'),
        password: PASSWORD,
      }))
      const registering = await sampledWhile(201, () =>
        accounts.map((a) => client(target).register(a)),
      )
      const registered = await inspector.memory()
      expect(registered.wasmMemories).toHaveLength(1)
      const [instance = 0] = registered.wasmMemories
      expect(instance).toBeGreaterThanOrEqual(COST_BYTES)
      expect(instance).toBeLessThan(COST_BYTES + SLACK_BYTES)

      const logins = () =>
        accounts.map(({ username, password }) => client(target).login({ username, password }))
      const first = await sampledWhile(200, logins)
      const afterFirst = await inspector.memory()
      const second = await sampledWhile(200, logins)
      const afterSecond = await inspector.memory()

      // Before the first hash finishes, the isolate has no instance yet.
      for (const reading of registering)
        expect([[], [instance]]).toContainEqual(reading.wasmMemories)
      for (const reading of [registered, ...first, afterFirst, ...second, afterSecond]) {
        expect(reading.wasmMemories).toEqual([instance])
      }
      const readings = [...registering, registered, ...first, afterFirst, ...second, afterSecond]
      for (const reading of readings) expect(reading.total).toBeLessThan(WORKERS_LIMIT)
    })

    it("the instance a large legacy hash (the Python service's m=102400 KiB) needed is released after its login", async () => {
      // An account with a hash of the Python service (passlib: m=102400 KiB, above the 48 MiB bound).
      const { username } = await registerUser(target, 'legacy')
      const sql = postgres(db.url, { max: 1, onnotice: () => {} })
      try {
        await sql`update users set hashed_password = ${PASSLIB_ARGON2ID.phc} where username = ${username}`
        expect(PASSLIB_ARGON2ID.phc).toContain('$m=102400,')
        expect(102400 * 1024).toBeGreaterThan(RETAINED_MEMORY_BYTES)

        const res = await client(target).login({ username, password: PASSLIB_ARGON2ID.password })
        expect(res.status).toBe(200)
        // The login verified the legacy hash and stored a new one at the default cost.
        const [row] = await sql`select hashed_password from users where username = ${username}`
        expect(row?.hashed_password).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
      } finally {
        await sql.end({ timeout: 1 })
      }
      const after = await inspector.memory()
      expect(after.wasmMemories).toHaveLength(1)
      expect(after.wasmMemories[0]).toBeLessThan(COST_BYTES + SLACK_BYTES)
      expect(after.total).toBeLessThan(WORKERS_LIMIT)
    })
  },
)
