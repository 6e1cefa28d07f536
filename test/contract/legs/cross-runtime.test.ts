import { afterAll, beforeAll, describe } from 'vitest'
import {
  bunServer,
  migratedDatabase,
  neonEndpoint,
  nodeServer,
  type RunningLeg,
  workerServer,
} from '../../support/legs'
import { postgresSkipReason } from '../../support/postgres'
import { crossRuntimeContract } from '../cross-runtime'
import { START_TIMEOUT } from '../leg'
import { CROSS_RUNTIME_ENV } from '../target'

const noPostgres = await postgresSkipReason('the cross-runtime contract')

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
