/**
 * Counts how often the event loop turns while one password hash and one verification are in
 * flight, with the production parameters. Run by test/event-loop.test.ts in process (Node) and
 * with `bun test/support/event-loop-check.ts` (prints {@link EventLoopReport} as JSON).
 */
import { createPasswordHasher, DEFAULT_ARGON2_PARAMS } from '../../src/auth/password'

/** What one check found. */
export interface EventLoopReport {
  engine: string
  hashTurns: number
  verifyTurns: number
  verified: boolean
}

/** Awaits `work` while counting `setImmediate` turns; a hash computed on the loop itself allows none. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<[number, T]> {
  let turns = 0
  let running = true
  const spin = () => {
    if (!running) return
    turns++
    setImmediate(spin)
  }
  setImmediate(spin)
  const result = await work()
  running = false
  return [turns, result]
}

/** Hashes and verifies once with the engine picked for this runtime, counting loop turns meanwhile. */
export async function checkEventLoop(): Promise<EventLoopReport> {
  const hasher = createPasswordHasher({ params: DEFAULT_ARGON2_PARAMS })
  const password = 'correct horse battery staple'
  const [hashTurns, phc] = await turnsDuring(() => hasher.hash(password))
  const [verifyTurns, verified] = await turnsDuring(() => hasher.verify(password, phc))
  return { engine: hasher.engine, hashTurns, verifyTurns, verified }
}

if (import.meta.main) process.stdout.write(`${JSON.stringify(await checkEventLoop())}\n`)
