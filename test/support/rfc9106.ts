/**
 * The Argon2id test vector of RFC 9106 (section 5.3), which takes a secret and associated data,
 * run on the engines of src/auth/ that can take them, on the runtime this module runs in (Node in
 * vitest, Bun in test/support/bun-password-check.ts).
 *
 * The service never hashes with a secret or associated data, so its engines have no input for
 * them: this helper adds them underneath the engine's own derivation where the engine lets a
 * test reach in, and never changes src/.
 * - `node` and `bun` (its hashing; Bun.password only verifies): the engine is made on a
 *   `node:crypto` argon2 that adds `secret` and `associatedData` to the parameters the engine
 *   itself builds, so the engine's mapping of the cost and lengths is what runs.
 * - `noble`: `@noble/hashes`' argon2idAsync, the function the noble engine calls, with the same
 *   cost mapping and `key` / `personalization`.
 * - `wasm` is not covered, and neither is `Bun.password` (see {@link NOT_COVERED}).
 */
import { argon2idAsync } from '@noble/hashes/argon2.js'
import {
  createBunEngine,
  createNodeEngine,
  type DeriveInput,
  loadNodeArgon2,
  type NodeArgon2,
  type PasswordEngineName,
} from '../../src/auth/argon2-engines'
import { encodeArgon2Hash } from '../../src/auth/argon2-phc'

/** RFC 9106, 5.3: the inputs and the expected tag (hex). */
export const RFC9106_ARGON2ID = {
  password: new Uint8Array(32).fill(0x01),
  salt: new Uint8Array(16).fill(0x02),
  secret: new Uint8Array(8).fill(0x03),
  associatedData: new Uint8Array(12).fill(0x04),
  iterations: 3,
  memoryKiB: 32,
  parallelism: 4,
  tagLength: 32,
  tag: '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
} as const

/** The engines that cannot run this vector, and why (their other known answers still run). */
export const NOT_COVERED = {
  wasm:
    "@phi-ag/argon2's module exports libargon2's argon2_hash and argon2_verify only, which take " +
    'no secret and no associated data (argon2_ctx, which does, is not exported)',
  'Bun.password':
    'Bun.password.verify (the bun engine verifies with it) takes a password and a PHC string, ' +
    'which has no place for a secret or associated data',
} as const

/** One engine's tag for the vector, hex. */
export interface Rfc9106Tag {
  engine: PasswordEngineName
  tag: string
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

/** The vector's inputs as an engine's derivation takes them (all but the secret and the data). */
export const RFC9106_INPUT: DeriveInput = {
  variant: 'argon2id',
  password: RFC9106_ARGON2ID.password,
  salt: RFC9106_ARGON2ID.salt,
  tagLength: RFC9106_ARGON2ID.tagLength,
  memoryKiB: RFC9106_ARGON2ID.memoryKiB,
  iterations: RFC9106_ARGON2ID.iterations,
  parallelism: RFC9106_ARGON2ID.parallelism,
}

/** `node:crypto` argon2 with the vector's secret and associated data added to every call. */
function keyed(argon2: NodeArgon2): NodeArgon2 {
  const { secret, associatedData } = RFC9106_ARGON2ID
  return (algorithm, parameters, callback) =>
    (argon2 as (...args: unknown[]) => void)(
      algorithm,
      { ...parameters, secret, associatedData },
      callback,
    )
}

/** The tags of the engines this runtime has that can take a secret and associated data. */
export async function rfc9106Tags(): Promise<Rfc9106Tag[]> {
  const tags: Rfc9106Tag[] = []
  const nodeArgon2 = loadNodeArgon2()
  if (nodeArgon2 !== null) {
    for (const engine of [createNodeEngine(keyed(nodeArgon2)), createBunEngine(keyed(nodeArgon2))])
      if (engine !== null)
        tags.push({ engine: engine.name, tag: hex(await engine.derive(RFC9106_INPUT)) })
  }
  const { password, salt, iterations, memoryKiB, parallelism, tagLength } = RFC9106_INPUT
  const noble = await argon2idAsync(password, salt, {
    t: iterations,
    m: memoryKiB,
    p: parallelism,
    dkLen: tagLength,
    key: RFC9106_ARGON2ID.secret,
    personalization: RFC9106_ARGON2ID.associatedData,
  })
  tags.push({ engine: 'noble', tag: hex(noble) })
  return tags
}

/** The PHC string of a tag for the vector's password, salt and cost (which has no secret in it). */
export function rfc9106Phc(tag: Uint8Array): string {
  const { salt, memoryKiB, iterations, parallelism } = RFC9106_INPUT
  return encodeArgon2Hash({
    variant: 'argon2id',
    version: 19,
    memoryKiB,
    iterations,
    parallelism,
    salt,
    tag,
  })
}

/** Bytes of a hex string. */
export const fromHex = (text: string) =>
  Uint8Array.from(text.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16))
