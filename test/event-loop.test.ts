import { execFile, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createPasswordHasher } from '../src/auth/password'
import { checkEventLoop, type EventLoopReport } from './support/event-loop-check'

/**
 * A login must not stall every other request of the process: with the production Argon2id cost,
 * hashing and verifying run off the event loop (Bun.password / node:crypto on their thread pools),
 * so the loop keeps turning while they are in flight. A hash computed on the loop lets it turn
 * at most once; the bound below only separates "blocked" from "free", it times nothing.
 */
const FREE_LOOP = 10
const CHECK_SCRIPT = fileURLToPath(new URL('./support/event-loop-check.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const MUST_RUN = process.env.CI === 'true'

function expectFreeLoop(report: EventLoopReport, engine: string) {
  expect(report.engine).toBe(engine)
  expect(report.verified).toBe(true)
  expect(report.hashTurns).toBeGreaterThanOrEqual(FREE_LOOP)
  expect(report.verifyTurns).toBeGreaterThanOrEqual(FREE_LOOP)
}

describe('password hashing keeps the event loop free', () => {
  it('on Node: the node:crypto engine is picked and runs off the loop', async () => {
    expect(createPasswordHasher().engine).toBe('node')
    expectFreeLoop(await checkEventLoop(), 'node')
  })

  const bun = spawnSync('bun', ['--version'], { encoding: 'utf8' })
  const hasBun = bun.status === 0
  if (!hasBun && !MUST_RUN) console.warn('Skipping the Bun event-loop check: bun is not on PATH')

  it.skipIf(!hasBun && !MUST_RUN)('on Bun: the Bun.password engine runs off the loop', async () => {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('bun', [CHECK_SCRIPT], { cwd: REPO_ROOT, timeout: 60_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      )
    })
    expectFreeLoop(JSON.parse(stdout) as EventLoopReport, 'bun')
  })
})
