/**
 * The Argon2 engines a password hasher can run on: the runtimes' own (`Bun.password`,
 * `node:crypto` argon2) and `@noble/hashes` (pure JS, the reference and last fallback). The
 * WebAssembly engine lives in argon2-wasm.ts. Every engine derives the raw tag from the same
 * inputs, so the PHC strings they write are the same bytes.
 */
import { argon2iAsync, argon2idAsync } from '@noble/hashes/argon2.js'
import {
  ARGON2_LIMITS,
  type Argon2Params,
  type Argon2Variant,
  encodeArgon2Hash,
  type ParsedArgon2Hash,
} from './argon2-phc'

/** Which Argon2 implementation a hasher uses. */
export type PasswordEngineName = 'bun' | 'node' | 'wasm' | 'noble'

/** What one Argon2 derivation takes: the cost, the variant, the UTF-8 password, the salt and the tag length. */
export interface DeriveInput extends Argon2Params {
  variant: Argon2Variant
  password: Uint8Array
  salt: Uint8Array
  tagLength: number
}

/** Computes the raw Argon2 tag of one input. */
export type DeriveFn = (input: DeriveInput) => Promise<Uint8Array>

/** One Argon2 implementation: derives tags for new hashes and checks a password against a parsed hash. */
export interface Argon2Engine {
  readonly name: PasswordEngineName
  readonly derive: DeriveFn
  verify(password: Uint8Array, hash: ParsedArgon2Hash): Promise<boolean>
}

/** The parameters of `node:crypto`'s `argon2()` (Node >= 24.7, Bun 1.4). */
export interface NodeArgon2Parameters {
  message: Uint8Array
  nonce: Uint8Array
  parallelism: number
  tagLength: number
  memory: number
  passes: number
}

/** The signature of `node:crypto`'s `argon2()`, which has no types in @types/node 24 yet. */
export type NodeArgon2 = (
  algorithm: Argon2Variant,
  parameters: NodeArgon2Parameters,
  callback: (err: Error | null, derivedKey: Uint8Array) => void,
) => void

interface BunPasswordApi {
  verify(password: Uint8Array, hash: string, algorithm: Argon2Variant): Promise<boolean>
}

const NOBLE_ASYNC_TICK_MS = 10

/** Length check, then XOR-accumulate over every byte. */
function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}

/** A `verify` that derives the tag again with `derive` and compares it in constant time. */
export function verifyByDerive(derive: DeriveFn) {
  return async (password: Uint8Array, hash: ParsedArgon2Hash): Promise<boolean> => {
    const tag = await derive({ ...hash, password, tagLength: hash.tag.length })
    return timingSafeEqual(tag, hash.tag)
  }
}

const nobleDerive: DeriveFn = (input) => {
  const kdf = input.variant === 'argon2id' ? argon2idAsync : argon2iAsync
  return kdf(input.password, input.salt, {
    m: input.memoryKiB,
    t: input.iterations,
    p: input.parallelism,
    dkLen: input.tagLength,
    maxmem: ARGON2_LIMITS.maxMemoryKiB * 1024,
    asyncTick: NOBLE_ASYNC_TICK_MS,
  })
}

/** `@noble/hashes` (pure JS): runs everywhere, yields to the event loop every 10 ms, the slowest. */
export function createNobleEngine(): Argon2Engine {
  return { name: 'noble', derive: nobleDerive, verify: verifyByDerive(nobleDerive) }
}

function hasGetBuiltinModule(): boolean {
  return typeof process !== 'undefined' && typeof process.getBuiltinModule === 'function'
}

/** `node:crypto` argon2 (Node >= 24.7, Bun 1.4), obtained without a static import; null elsewhere. */
export function loadNodeArgon2(): NodeArgon2 | null {
  try {
    if (!hasGetBuiltinModule()) return null
    const nodeCrypto = process.getBuiltinModule('node:crypto') as { argon2?: unknown } | undefined
    const argon2 = nodeCrypto?.argon2
    return typeof argon2 === 'function' ? (argon2 as NodeArgon2) : null
  } catch {
    return null
  }
}

function nodeDeriveWith(argon2: NodeArgon2): DeriveFn {
  return (input) =>
    new Promise((resolve, reject) => {
      const parameters = {
        message: input.password,
        nonce: input.salt,
        parallelism: input.parallelism,
        tagLength: input.tagLength,
        memory: input.memoryKiB,
        passes: input.iterations,
      }
      argon2(input.variant, parameters, (err, key) => (err ? reject(err) : resolve(key)))
    })
}

/** `node:crypto` argon2 on libuv's thread pool; null when the runtime has none. */
export function createNodeEngine(argon2: NodeArgon2 | null): Argon2Engine | null {
  if (argon2 === null) return null
  const derive = nodeDeriveWith(argon2)
  return { name: 'node', derive, verify: verifyByDerive(derive) }
}

function loadBunPassword(): BunPasswordApi | null {
  const bun = (globalThis as { Bun?: { password?: BunPasswordApi } }).Bun
  return bun?.password ?? null
}

/**
 * Bun: verify with `Bun.password.verify` (multi-threaded lanes, fastest for p > 1), except for empty
 * passwords, which it always rejects. Hash through `node:crypto` argon2, because `Bun.password.hash`
 * only makes 32-byte salts and cannot set p; noble if `node:crypto` has no argon2 (Bun < 1.4).
 * Null outside Bun.
 */
export function createBunEngine(nodeArgon2: NodeArgon2 | null): Argon2Engine | null {
  const bunPassword = loadBunPassword()
  if (bunPassword === null) return null
  const derive = nodeArgon2 === null ? nobleDerive : nodeDeriveWith(nodeArgon2)
  const verifyEmpty = verifyByDerive(derive)
  const verify = (password: Uint8Array, hash: ParsedArgon2Hash): Promise<boolean> =>
    password.length === 0
      ? verifyEmpty(password, hash)
      : bunPassword.verify(password, encodeArgon2Hash(hash), hash.variant)
  return { name: 'bun', derive, verify }
}
