/**
 * The HTTP contract suite (test/contract/*), run against every runtime and driver:
 * in process, Bun + PGlite, Bun + Postgres, Node + Postgres, and the Worker (workerd via
 * wrangler) + Neon HTTP (the local endpoint) -> Postgres; then the cross-runtime checks with
 * Bun, Node and the Worker sharing one database.
 *
 * Each leg starts its servers once (beforeAll), on free ports and its own database, and stops
 * them afterwards. Postgres-backed legs skip, with the reason printed, only when Postgres is
 * missing outside CI; under CI=true they run, so a missing Postgres or a server that does not
 * start fails them.
 */
import { afterAll, beforeAll, describe } from 'vitest'
import { crossRuntimeContract } from './contract/cross-runtime'
import { contractCases } from './contract/index'
import { type ContractTarget, CROSS_RUNTIME_ENV } from './contract/target'
import {
  bunPgliteLeg,
  bunPostgresLeg,
  bunServer,
  inProcessLeg,
  migratedDatabase,
  neonEndpoint,
  nodePostgresLeg,
  nodeServer,
  type RunningLeg,
  workerNeonLeg,
  workerServer,
} from './support/legs'
import { postgresSkipReason } from './support/postgres'

const START_TIMEOUT = 180_000
const noPostgres = await postgresSkipReason('the Postgres-backed contract legs')

const legs: { name: string; needsPostgres: boolean; start: () => Promise<RunningLeg> }[] = [
  { name: 'in-process + pglite', needsPostgres: false, start: inProcessLeg },
  { name: 'bun + pglite', needsPostgres: false, start: bunPgliteLeg },
  { name: 'bun + postgres', needsPostgres: true, start: bunPostgresLeg },
  { name: 'node + postgres', needsPostgres: true, start: nodePostgresLeg },
  { name: 'worker + neon-http -> postgres', needsPostgres: true, start: workerNeonLeg },
]

for (const leg of legs) {
  describe.skipIf(leg.needsPostgres && noPostgres !== null)(leg.name, () => {
    let running: RunningLeg | undefined
    beforeAll(async () => {
      running = await leg.start()
    }, START_TIMEOUT)
    afterAll(() => running?.stop(), 30_000)

    const target = (): ContractTarget => {
      if (running === undefined) throw new Error(`${leg.name} did not start`)
      return running.target
    }
    for (const cases of contractCases) cases(target)
  })
}

describe.skipIf(noPostgres !== null)('bun, node and worker on one database', () => {
  const running: RunningLeg[] = []
  let drop: (() => Promise<void>) | undefined
  let closeNeon: (() => Promise<void>) | undefined
  beforeAll(async () => {
    const db = await migratedDatabase('cross', 'bun')
    drop = db.drop
    const neon = await neonEndpoint(db.url)
    closeNeon = neon.close
    const started = await Promise.allSettled([
      bunServer('bun', { ...CROSS_RUNTIME_ENV, DATABASE_URL: db.url }),
      nodeServer('node', { ...CROSS_RUNTIME_ENV, DATABASE_URL: db.url }),
      workerServer('worker', db.url, neon.url, CROSS_RUNTIME_ENV),
    ])
    for (const result of started) if (result.status === 'fulfilled') running.push(result.value)
    const failed = started.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }, START_TIMEOUT)
  afterAll(async () => {
    await Promise.allSettled(running.map((leg) => leg.stop()))
    await closeNeon?.()
    await drop?.()
  }, 30_000)

  crossRuntimeContract(() => running.map((leg) => leg.target))
})
