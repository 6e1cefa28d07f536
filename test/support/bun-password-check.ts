/**
 * Run by test/password.test.ts under `bun` (vitest itself runs on Node).
 * stdin: {@link BunCheckRequest} as JSON. stdout: {@link BunCheckReport} as JSON.
 * Verifies the given hashes and makes new ones with each engine that works on Bun.
 */
import type { PasswordEngineName } from '../../src/auth/argon2-engines'
import { createNodeEngine, loadNodeArgon2 } from '../../src/auth/argon2-engines'
import type { Argon2Params } from '../../src/auth/argon2-phc'
import { createPasswordHasher } from '../../src/auth/password'
import {
  fromHex,
  RFC9106_ARGON2ID,
  RFC9106_INPUT,
  type Rfc9106Tag,
  rfc9106Phc,
  rfc9106Tags,
} from './rfc9106'

/** What the test asks the Bun process to do. */
export interface BunCheckRequest {
  params: Argon2Params
  verify: { password: string; phc: string }[]
  hash: string[]
}

/** One engine's answers, in request order. */
export interface BunEngineReport {
  engine: PasswordEngineName
  verified: boolean[]
  hashes: string[]
}

/** Everything the Bun process prints. */
export interface BunCheckReport {
  bunVersion: string
  autoEngine: PasswordEngineName
  reports: BunEngineReport[]
  /** RFC 9106's Argon2id vector (with a secret and associated data) on the engines that take them. */
  rfc9106: Rfc9106Tag[]
  /**
   * `Bun.password.verify` on the vector's password and PHC strings of its salt and cost: with the
   * RFC's tag (which needs the secret and data it cannot be given), and with the tag `node:crypto`
   * derives from the same inputs without them.
   */
  bunPasswordOnRfc9106: { keyedTag: boolean; unkeyedTag: boolean }
}

const BUN_ENGINES: readonly PasswordEngineName[] = ['bun', 'node', 'wasm']

async function runEngine(
  engine: PasswordEngineName,
  req: BunCheckRequest,
): Promise<BunEngineReport> {
  const hasher = createPasswordHasher({ params: req.params, engine })
  const verified: boolean[] = []
  for (const { password, phc } of req.verify) verified.push(await hasher.verify(password, phc))
  const hashes: string[] = []
  for (const password of req.hash) hashes.push(await hasher.hash(password))
  return { engine, verified, hashes }
}

async function main(): Promise<void> {
  const req = JSON.parse(await Bun.stdin.text()) as BunCheckRequest
  const reports: BunEngineReport[] = []
  for (const engine of BUN_ENGINES) reports.push(await runEngine(engine, req))
  const autoEngine = createPasswordHasher({ params: req.params }).engine
  const unkeyed = await createNodeEngine(loadNodeArgon2())?.derive(RFC9106_INPUT)
  const { password } = RFC9106_ARGON2ID
  const report: BunCheckReport = {
    bunVersion: Bun.version,
    autoEngine,
    reports,
    rfc9106: await rfc9106Tags(),
    bunPasswordOnRfc9106: {
      keyedTag: await Bun.password.verify(password, rfc9106Phc(fromHex(RFC9106_ARGON2ID.tag))),
      unkeyedTag: await Bun.password.verify(password, rfc9106Phc(unkeyed ?? new Uint8Array(32))),
    },
  }
  process.stdout.write(JSON.stringify(report))
}

await main()
