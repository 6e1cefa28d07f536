/**
 * Run by test/password.test.ts on a Node older than 24.7 (no `node:crypto` argon2), through tsx.
 * stdin: `{ params, verify: [{ password, phc }], hash: [password] }` as JSON. stdout: the engine
 * `createPasswordHasher` picks there, whether each hash verified, and hashes it made.
 */
import type { Argon2Params } from '../../src/auth/argon2-phc'
import { createPasswordHasher } from '../../src/auth/password'

/** What the test asks. */
export interface OldNodeCheckRequest {
  params: Argon2Params
  verify: { password: string; phc: string }[]
  hash: string[]
}

/** What this script prints. */
export interface OldNodeCheckReport {
  nodeVersion: string
  engine: string
  verified: boolean[]
  hashes: string[]
}

let input = ''
for await (const chunk of process.stdin) input += chunk
const request = JSON.parse(input) as OldNodeCheckRequest
const hasher = createPasswordHasher({ params: request.params })
const verified: boolean[] = []
for (const { password, phc } of request.verify) verified.push(await hasher.verify(password, phc))
const hashes: string[] = []
for (const password of request.hash) hashes.push(await hasher.hash(password))
const report: OldNodeCheckReport = {
  nodeVersion: process.version,
  engine: hasher.engine,
  verified,
  hashes,
}
process.stdout.write(JSON.stringify(report))
