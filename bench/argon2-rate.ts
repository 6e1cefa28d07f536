/**
 * The raw Argon2id rate of the engine the service would use on this runtime, with no HTTP, no
 * database and none of our own code on the measured path: `Bun.password.verify` on Bun,
 * `node:crypto` argon2 on Node >= 24.7, `@noble/hashes` elsewhere, as src/auth/password.ts picks them.
 * Run by bench/run.ts on the runtime under test with one JSON argument ({@link RateSpec});
 * prints a {@link RateResult} as JSON.
 */
import { timingSafeEqual } from 'node:crypto'
import { argon2idAsync } from '@noble/hashes/argon2.js'
import type { NodeArgon2 } from '../src/auth/argon2-engines'
import type { Argon2Params } from '../src/auth/argon2-phc'
import { createPasswordHasher } from '../src/auth/password'

/** What to measure. */
export interface RateSpec {
  /** `verify`: check a password against a stored hash (a login); `hash`: make a new hash (a registration). */
  mode: 'verify' | 'hash'
  params: Argon2Params
  /** Operations kept in flight at once. */
  concurrency: number
  durationSeconds: number
}

/** What was measured. */
export interface RateResult {
  engine: string
  mode: RateSpec['mode']
  operations: number
  seconds: number
  rate: number
  /** CPU time of the whole process (all threads) per operation, in microseconds. */
  cpuUsPerOperation: number
}

const PASSWORD = 'correct horse battery staple'
const TAG_BYTES = 32
const SALT_BYTES = 16

function nodeArgon2(): NodeArgon2 | null {
  const argon2 = (process.getBuiltinModule('node:crypto') as { argon2?: unknown }).argon2
  return typeof argon2 === 'function' ? (argon2 as NodeArgon2) : null
}

function deriveWith(params: Argon2Params): (salt: Uint8Array) => Promise<Uint8Array> {
  const message = new TextEncoder().encode(PASSWORD)
  const argon2 = nodeArgon2()
  if (argon2 === null) {
    return (salt) =>
      argon2idAsync(message, salt, {
        m: params.memoryKiB,
        t: params.iterations,
        p: params.parallelism,
        dkLen: TAG_BYTES,
      })
  }
  return (salt) =>
    new Promise((resolve, reject) =>
      argon2(
        'argon2id',
        {
          message,
          nonce: salt,
          parallelism: params.parallelism,
          tagLength: TAG_BYTES,
          memory: params.memoryKiB,
          passes: params.iterations,
        },
        (error, key) => (error ? reject(error) : resolve(key)),
      ),
    )
}

/** One operation of the engine `createPasswordHasher` picks here, called directly. */
async function operationFor(spec: RateSpec): Promise<{ engine: string; run: () => Promise<void> }> {
  const hasher = createPasswordHasher({ params: spec.params })
  const derive = deriveWith(spec.params)
  const randomSalt = () => crypto.getRandomValues(new Uint8Array(SALT_BYTES))
  if (spec.mode === 'hash') {
    return { engine: hasher.engine, run: () => derive(randomSalt()).then(() => undefined) }
  }
  const stored = await hasher.hash(PASSWORD)
  if (hasher.engine === 'bun') {
    return {
      engine: hasher.engine,
      run: async () => {
        if (!(await Bun.password.verify(PASSWORD, stored, 'argon2id'))) throw new Error('mismatch')
      },
    }
  }
  const fields = stored.split('$')
  const salt = Buffer.from(fields[4] ?? '', 'base64')
  const tag = Buffer.from(fields[5] ?? '', 'base64')
  return {
    engine: hasher.engine,
    run: async () => {
      if (!timingSafeEqual(await derive(salt), tag)) throw new Error('mismatch')
    },
  }
}

const spec = JSON.parse(process.argv[2] ?? '{}') as RateSpec
const { engine, run } = await operationFor(spec)
await run()
const cpuBefore = process.cpuUsage()
const start = performance.now()
const deadline = start + spec.durationSeconds * 1000
let operations = 0
await Promise.all(
  Array.from({ length: spec.concurrency }, async () => {
    while (performance.now() < deadline) {
      await run()
      operations++
    }
  }),
)
const seconds = (performance.now() - start) / 1000
const cpu = process.cpuUsage(cpuBefore)
const result: RateResult = {
  engine,
  mode: spec.mode,
  operations,
  seconds,
  rate: operations / seconds,
  cpuUsPerOperation: (cpu.user + cpu.system) / operations,
}
process.stdout.write(`${JSON.stringify(result)}\n`)
