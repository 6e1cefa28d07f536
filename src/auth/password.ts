import { argon2iAsync, argon2idAsync } from '@noble/hashes/argon2.js'

/** Argon2 cost parameters, as they appear in a PHC string (`m=<memoryKiB>,t=<iterations>,p=<parallelism>`). */
export interface Argon2Params {
  /** Memory cost in KiB (`m`). */
  memoryKiB: number
  /** Number of passes over memory (`t`). */
  iterations: number
  /** Number of lanes (`p`). */
  parallelism: number
}

/** OWASP Password Storage Cheat Sheet minimum for argon2id: m=19456 KiB (19 MiB), t=2, p=1. */
export const DEFAULT_ARGON2_PARAMS: Argon2Params = Object.freeze({
  memoryKiB: 19_456,
  iterations: 2,
  parallelism: 1,
})

/**
 * Bounds applied to every PHC string we parse and to configured parameters.
 * They admit passlib (m=102400,t=2,p=8, 16-byte tag) and argon2-cffi (m=65536,t=3,p=4) hashes
 * while stopping a hostile stored hash from costing more than ~256 MiB or ~1 GiB of block passes.
 */
export const ARGON2_LIMITS = Object.freeze({
  /** RFC 9106: at least 8 KiB per lane. */
  minMemoryKiBPerLane: 8,
  maxMemoryKiB: 262_144,
  minIterations: 1,
  maxIterations: 10,
  minParallelism: 1,
  maxParallelism: 16,
  /** Upper bound on `memoryKiB * iterations`, the total work of one derivation. */
  maxWorkKiB: 1_048_576,
  minSaltBytes: 8,
  maxSaltBytes: 64,
  minTagBytes: 16,
  maxTagBytes: 64,
})

/** Which Argon2 implementation a hasher uses. */
export type PasswordEngineName = 'bun' | 'node' | 'noble'

/** Hashes and verifies passwords as argon2id PHC strings. */
export interface PasswordHasher {
  /** The engine picked for this hasher. */
  readonly engine: PasswordEngineName
  /** Parameters used for new hashes. */
  readonly params: Argon2Params
  /** Hashes `password` (UTF-8, no normalization, no truncation) into an argon2id PHC string. */
  hash(password: string): Promise<string>
  /** false for a wrong password AND for a malformed/unsupported hash string; never throws for bad input */
  verify(password: string, phc: string): Promise<boolean>
  /** true when the stored hash's parameters (m,t,p, tag length, salt length, variant, version) differ from the current ones */
  needsRehash(phc: string): boolean
  /** Burns the same time as a real verify against a hash of the current parameters, always resolves false. Used for unknown usernames so timing reveals nothing. The dummy hash is computed lazily once per hasher (not at import time). */
  verifyDummy(password: string): Promise<false>
}

/** Options for {@link createPasswordHasher}. */
export interface PasswordHasherOptions {
  /** Parameters for new hashes; defaults to {@link DEFAULT_ARGON2_PARAMS}. */
  params?: Argon2Params
  /** Force an engine (tests, benchmarks); `'auto'` (default) prefers bun, then node, then noble. */
  engine?: 'auto' | PasswordEngineName
}

/** A decoded Argon2 PHC string. */
export interface ParsedArgon2Hash {
  variant: 'argon2id' | 'argon2i'
  version: 19 | 16
  memoryKiB: number
  iterations: number
  parallelism: number
  salt: Uint8Array
  tag: Uint8Array
}

type Argon2Variant = ParsedArgon2Hash['variant']

interface DeriveInput extends Argon2Params {
  variant: Argon2Variant
  password: Uint8Array
  salt: Uint8Array
  tagLength: number
}

type DeriveFn = (input: DeriveInput) => Promise<Uint8Array>

interface Argon2Engine {
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

const SALT_BYTES = 16
const TAG_BYTES = 32
const PHC_VERSION = 19
const MAX_PHC_LENGTH = 256
const MAX_DECIMAL_DIGITS = 10
const NOBLE_ASYNC_TICK_MS = 10
const BASE64_NO_PAD = /^[A-Za-z0-9+/]*$/
const utf8 = new TextEncoder()

/** Standard base64 without padding, as libargon2 / passlib / argon2-cffi write it. */
function encodeBase64NoPad(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/=+$/, '')
}

/** Decodes canonical unpadded standard base64; null on any other character, bad length or non-zero trailing bits. */
function decodeBase64NoPad(text: string): Uint8Array | null {
  if (!BASE64_NO_PAD.test(text) || text.length % 4 === 1) return null
  const binary = atob(text.padEnd(Math.ceil(text.length / 4) * 4, '='))
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
  return encodeBase64NoPad(bytes) === text ? bytes : null
}

/** Parses a decimal without sign, leading zeros or more than 10 digits. */
function parseDecimal(text: string): number | null {
  if (text.length === 0 || text.length > MAX_DECIMAL_DIGITS) return null
  if (text.length > 1 && text.charCodeAt(0) === 0x30) return null
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x30 || code > 0x39) return null
  }
  return Number(text)
}

function parseKeyValue(field: string | undefined, key: string): number | null {
  if (field === undefined || !field.startsWith(`${key}=`)) return null
  return parseDecimal(field.slice(key.length + 1))
}

function isIntegerInRange(value: number, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= min && value <= max
}

/** True when `params` are integers inside {@link ARGON2_LIMITS}. */
function areParamsWithinLimits({ memoryKiB, iterations, parallelism }: Argon2Params): boolean {
  const L = ARGON2_LIMITS
  return (
    isIntegerInRange(parallelism, L.minParallelism, L.maxParallelism) &&
    isIntegerInRange(iterations, L.minIterations, L.maxIterations) &&
    isIntegerInRange(memoryKiB, L.minMemoryKiBPerLane * parallelism, L.maxMemoryKiB) &&
    memoryKiB * iterations <= L.maxWorkKiB
  )
}

function parseCostField(field: string | undefined): Argon2Params | null {
  if (field === undefined) return null
  const parts = field.split(',')
  if (parts.length !== 3) return null
  const memoryKiB = parseKeyValue(parts[0], 'm')
  const iterations = parseKeyValue(parts[1], 't')
  const parallelism = parseKeyValue(parts[2], 'p')
  if (memoryKiB === null || iterations === null || parallelism === null) return null
  const params = { memoryKiB, iterations, parallelism }
  return areParamsWithinLimits(params) ? params : null
}

function parseVariant(field: string | undefined): Argon2Variant | null {
  return field === 'argon2id' || field === 'argon2i' ? field : null
}

function decodeBounded(field: string | undefined, min: number, max: number): Uint8Array | null {
  if (field === undefined) return null
  const bytes = decodeBase64NoPad(field)
  return bytes !== null && bytes.length >= min && bytes.length <= max ? bytes : null
}

/**
 * Strictly parses `$argon2id$v=19$m=<KiB>,t=<n>,p=<n>$<salt>$<tag>` (also `argon2i`).
 * Returns null for argon2d, any version other than 19 (including a missing `v=`), parameters or
 * salt/tag lengths outside {@link ARGON2_LIMITS}, non-canonical base64, extra fields or garbage.
 * Never throws; linear in the input length, which is capped at 256 characters.
 */
export function parseArgon2Hash(phc: string): ParsedArgon2Hash | null {
  if (typeof phc !== 'string' || phc.length > MAX_PHC_LENGTH) return null
  const fields = phc.split('$')
  if (fields.length !== 6 || fields[0] !== '') return null
  const variant = parseVariant(fields[1])
  if (variant === null || fields[2] !== `v=${PHC_VERSION}`) return null
  const params = parseCostField(fields[3])
  const L = ARGON2_LIMITS
  const salt = decodeBounded(fields[4], L.minSaltBytes, L.maxSaltBytes)
  const tag = decodeBounded(fields[5], L.minTagBytes, L.maxTagBytes)
  if (params === null || salt === null || tag === null) return null
  return { variant, version: PHC_VERSION, ...params, salt, tag }
}

/** Encodes a hash as a PHC string in libargon2's format (unpadded standard base64). Does not validate. */
export function encodeArgon2Hash(h: ParsedArgon2Hash): string {
  const cost = `m=${h.memoryKiB},t=${h.iterations},p=${h.parallelism}`
  return `$${h.variant}$v=${h.version}$${cost}$${encodeBase64NoPad(h.salt)}$${encodeBase64NoPad(h.tag)}`
}

/** Length check, then XOR-accumulate over every byte. */
function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length))
}

function verifyByDerive(derive: DeriveFn) {
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

function createNobleEngine(): Argon2Engine {
  return { name: 'noble', derive: nobleDerive, verify: verifyByDerive(nobleDerive) }
}

function hasGetBuiltinModule(): boolean {
  return typeof process !== 'undefined' && typeof process.getBuiltinModule === 'function'
}

/** `node:crypto` argon2 (Node >= 24.7, Bun 1.4), obtained without a static import; null elsewhere. */
function loadNodeArgon2(): NodeArgon2 | null {
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

function createNodeEngine(argon2: NodeArgon2 | null): Argon2Engine | null {
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
 */
function createBunEngine(
  bunPassword: BunPasswordApi | null,
  nodeArgon2: NodeArgon2 | null,
): Argon2Engine | null {
  if (bunPassword === null) return null
  const derive = nodeArgon2 === null ? nobleDerive : nodeDeriveWith(nodeArgon2)
  const verifyEmpty = verifyByDerive(derive)
  const verify = (password: Uint8Array, hash: ParsedArgon2Hash): Promise<boolean> =>
    password.length === 0
      ? verifyEmpty(password, hash)
      : bunPassword.verify(password, encodeArgon2Hash(hash), hash.variant)
  return { name: 'bun', derive, verify }
}

function resolveEngine(choice: 'auto' | PasswordEngineName): Argon2Engine {
  const nodeArgon2 = loadNodeArgon2()
  const engines: Record<PasswordEngineName, () => Argon2Engine | null> = {
    bun: () => createBunEngine(loadBunPassword(), nodeArgon2),
    node: () => createNodeEngine(nodeArgon2),
    noble: createNobleEngine,
  }
  if (choice === 'auto') return engines.bun() ?? engines.node() ?? createNobleEngine()
  const engine = Object.hasOwn(engines, choice) ? engines[choice]() : null
  if (!engine) throw new Error(`Password engine "${choice}" is not available in this runtime`)
  return engine
}

function validateParams(params: Argon2Params): Argon2Params {
  if (!areParamsWithinLimits(params)) {
    throw new RangeError(`Argon2 parameters out of bounds: ${JSON.stringify(params)}`)
  }
  const { memoryKiB, iterations, parallelism } = params
  return Object.freeze({ memoryKiB, iterations, parallelism })
}

function hasCurrentShape(h: ParsedArgon2Hash, params: Argon2Params): boolean {
  return (
    h.variant === 'argon2id' &&
    h.version === PHC_VERSION &&
    h.memoryKiB === params.memoryKiB &&
    h.iterations === params.iterations &&
    h.parallelism === params.parallelism &&
    h.salt.length === SALT_BYTES &&
    h.tag.length === TAG_BYTES
  )
}

/**
 * Creates a {@link PasswordHasher}. The engine is picked at call time from the running runtime
 * (`'auto'`: Bun.password on Bun, `node:crypto` argon2 on Node >= 24.7, `@noble/hashes` elsewhere).
 * @throws RangeError if `params` are outside {@link ARGON2_LIMITS}; Error if a forced engine is unavailable.
 */
export function createPasswordHasher(opts: PasswordHasherOptions = {}): PasswordHasher {
  const params = validateParams(opts.params ?? DEFAULT_ARGON2_PARAMS)
  const engine = resolveEngine(opts.engine ?? 'auto')
  let dummyHash: string | undefined

  const hash = async (password: string): Promise<string> => {
    if (typeof password !== 'string') throw new TypeError('password must be a string')
    const salt = randomBytes(SALT_BYTES)
    const bytes = utf8.encode(password)
    const tag = await engine.derive({
      ...params,
      variant: 'argon2id',
      password: bytes,
      salt,
      tagLength: TAG_BYTES,
    })
    return encodeArgon2Hash({ ...params, variant: 'argon2id', version: PHC_VERSION, salt, tag })
  }

  const verify = async (password: string, phc: string): Promise<boolean> => {
    if (typeof password !== 'string') return false
    const parsed = parseArgon2Hash(phc)
    if (parsed === null) return false
    try {
      return await engine.verify(utf8.encode(password), parsed)
    } catch {
      return false
    }
  }

  const getDummyHash = (): string => {
    dummyHash ??= encodeArgon2Hash({
      ...params,
      variant: 'argon2id',
      version: PHC_VERSION,
      salt: randomBytes(SALT_BYTES),
      tag: randomBytes(TAG_BYTES),
    })
    return dummyHash
  }

  return {
    engine: engine.name,
    params,
    hash,
    verify,
    needsRehash: (phc) => {
      const parsed = parseArgon2Hash(phc)
      return parsed === null || !hasCurrentShape(parsed, params)
    },
    verifyDummy: async (password) => {
      await verify(typeof password === 'string' ? password : '', getDummyHash())
      return false
    },
  }
}
