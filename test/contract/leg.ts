/**
 * The HTTP contract suite (test/contract/*) against one runtime and driver. Each leg is a test
 * file of its own under test/contract/legs/, so that the legs run side by side: in process,
 * Bun + PGlite, Bun + Postgres, Node + Postgres, and the Worker (workerd via wrangler) + Neon HTTP
 * (the local endpoint) -> Postgres; then the cross-runtime checks with Bun, Node and the Worker
 * sharing one database.
 *
 * A leg starts its servers once (beforeAll), on free ports and its own database, and stops them
 * afterwards. Postgres-backed legs skip, with the reason printed, only when Postgres is missing
 * outside CI; under CI=true they run, so a missing Postgres or a server that does not start fails
 * them.
 */
import { afterAll, beforeAll, describe } from 'vitest'
import type { RunningLeg } from '../support/legs'
import { postgresSkipReason } from '../support/postgres'
import { contractCases } from './index'
import type { ContractTarget } from './target'

/** How long a leg may take to start its servers (wrangler's first start is the slowest). */
export const START_TIMEOUT = 180_000

/** Registers every contract case against the leg `start` brings up. */
export async function contractLeg(
  name: string,
  needsPostgres: boolean,
  start: () => Promise<RunningLeg>,
): Promise<void> {
  const noPostgres = needsPostgres ? await postgresSkipReason(`the ${name} contract leg`) : null
  describe.skipIf(noPostgres !== null)(name, () => {
    let running: RunningLeg | undefined
    beforeAll(async () => {
      running = await start()
    }, START_TIMEOUT)
    afterAll(() => running?.stop(), 30_000)

    const target = (): ContractTarget => {
      if (running === undefined) throw new Error(`${name} did not start`)
      return running.target
    }
    for (const cases of contractCases) cases(target)
  })
}
