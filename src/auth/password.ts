/**
 * Passwords as argon2id PHC strings: the hasher the app uses, on the fastest Argon2 engine the
 * runtime offers. PHC strings and their bounds: argon2-phc.ts; the engines: argon2-engines.ts
 * (native, @noble/hashes) and argon2-wasm.ts (WebAssembly).
 */
import {
  type Argon2Engine,
  createBunEngine,
  createNobleEngine,
  createNodeEngine,
  loadNodeArgon2,
  type PasswordEngineName,
} from './argon2-engines'
import {
  type Argon2Params,
  areParamsWithinLimits,
  encodeArgon2Hash,
  type ParsedArgon2Hash,
  PHC_VERSION,
  parseArgon2Hash,
} from './argon2-phc'
import { createWasmEngine, loadArgon2WasmModule } from './argon2-wasm'

/** OWASP Password Storage Cheat Sheet minimum for argon2id: m=19456 KiB (19 MiB), t=2, p=1. */
export const DEFAULT_ARGON2_PARAMS: Argon2Params = Object.freeze({
  memoryKiB: 19_456,
  iterations: 2,
  parallelism: 1,
})

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
  /**
   * Force an engine (tests, benchmarks); `'auto'` (default) prefers bun, then node, then wasm,
   * then noble.
   */
  engine?: 'auto' | PasswordEngineName
  /**
   * The compiled libargon2 for the wasm engine, where the runtime cannot compile it from the
   * package's file (Workers: a static `.wasm` import). Elsewhere it is loaded when needed.
   */
  wasmModule?: WebAssembly.Module
}

const SALT_BYTES = 16
const TAG_BYTES = 32
const utf8 = new TextEncoder()

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length))
}

function wasmEngineFrom(module: WebAssembly.Module | undefined): Argon2Engine | null {
  const compiled = module ?? loadArgon2WasmModule()
  return compiled === null ? null : createWasmEngine(compiled)
}

function resolveEngine(
  choice: 'auto' | PasswordEngineName,
  wasmModule?: WebAssembly.Module,
): Argon2Engine {
  const nodeArgon2 = loadNodeArgon2()
  const engines: Record<PasswordEngineName, () => Argon2Engine | null> = {
    bun: () => createBunEngine(nodeArgon2),
    node: () => createNodeEngine(nodeArgon2),
    wasm: () => wasmEngineFrom(wasmModule),
    noble: createNobleEngine,
  }
  if (choice === 'auto') {
    return engines.bun() ?? engines.node() ?? engines.wasm() ?? createNobleEngine()
  }
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
 * (`'auto'`: Bun.password on Bun, `node:crypto` argon2 on Node >= 24.7, libargon2 in WebAssembly
 * where it can be had (Workers given `wasmModule`, older Node), `@noble/hashes` elsewhere).
 * @throws RangeError if `params` are outside ARGON2_LIMITS (argon2-phc.ts); Error if a forced engine is unavailable.
 */
export function createPasswordHasher(opts: PasswordHasherOptions = {}): PasswordHasher {
  const params = validateParams(opts.params ?? DEFAULT_ARGON2_PARAMS)
  const engine = resolveEngine(opts.engine ?? 'auto', opts.wasmModule)
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

/**
 * `hasher` telling `onTiming` how long each hash and verify took, in seconds (for metrics); the
 * dummy verify of unknown names counts as a verify, so the timings cannot tell them apart either.
 */
export function timedHasher(
  hasher: PasswordHasher,
  onTiming: (operation: 'hash' | 'verify', seconds: number) => void,
): PasswordHasher {
  const timed = async <T>(operation: 'hash' | 'verify', run: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    try {
      return await run()
    } finally {
      onTiming(operation, (performance.now() - started) / 1000)
    }
  }
  return {
    engine: hasher.engine,
    params: hasher.params,
    hash: (password) => timed('hash', () => hasher.hash(password)),
    verify: (password, phc) => timed('verify', () => hasher.verify(password, phc)),
    needsRehash: (phc) => hasher.needsRehash(phc),
    verifyDummy: (password) => timed('verify', () => hasher.verifyDummy(password)),
  }
}
