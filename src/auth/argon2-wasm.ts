/**
 * Argon2 in WebAssembly: libargon2 (the reference C implementation, built with SIMD) as shipped
 * compiled by `@phi-ag/argon2`, called through its C functions. Used where the runtime has no
 * native Argon2: on Workers, which receive the module from a static `.wasm` import (workerd
 * compiles no WebAssembly from bytes at run time), and on Node before 24.7, where the module is
 * compiled from the package's file.
 *
 * Memory: one instance per hasher and one derivation at a time (each runs synchronously), so
 * concurrent logins on one isolate share one linear memory, about the size of the configured
 * cost. WebAssembly memory never shrinks, so a derivation that needs more than
 * {@link RETAINED_MEMORY_BYTES} (a legacy hash with a large `m`) runs on an instance of its own,
 * which is dropped afterwards so the garbage collector frees it; the held instance is dropped
 * too. On the held instance, libargon2's allocator would place the large block above the ones it
 * already holds: a default-cost hash then the Python service's m=102400 made it 183 MiB, over
 * Workers' 128 MB, where an instance of its own needs 100 MiB. If a derivation still leaves the
 * held instance larger than that bound, it is dropped as well.
 */

import {
  type Argon2Engine,
  type DeriveFn,
  type DeriveInput,
  verifyByDerive,
} from './argon2-engines'
import type { Argon2Variant } from './argon2-phc'

/** The package export that holds the compiled libargon2 (`import wasm from` it on Workers). */
export const ARGON2_WASM_SPECIFIER = '@phi-ag/argon2/argon2.wasm'

/**
 * A derivation that needs more memory than this (48 MiB) runs on an instance of its own, and an
 * instance whose memory grew beyond it is dropped after its derivation.
 */
export const RETAINED_MEMORY_BYTES = 48 << 20

/** The libargon2 functions the module exports (emscripten build, 32-bit pointers). */
interface LibArgon2 {
  memory: WebAssembly.Memory
  _initialize(): void
  malloc(size: number): number
  free(pointer: number): void
  /** `argon2_hash` of argon2.h: 0 on success, a negative `argon2_error_codes` otherwise. */
  argon2_hash(
    iterations: number,
    memoryKiB: number,
    parallelism: number,
    password: number,
    passwordLength: number,
    salt: number,
    saltLength: number,
    tag: number,
    tagLength: number,
    encoded: number,
    encodedLength: number,
    type: number,
    version: number,
  ): number
}

/** argon2.h's `argon2_type`. */
const ARGON2_TYPE: Record<Argon2Variant, number> = { argon2i: 1, argon2id: 2 }
const ARGON2_VERSION_13 = 0x13

/** A WebAssembly engine and a view of its memory, for tests that check it stays bounded. */
export interface WasmArgon2Engine extends Argon2Engine {
  /** Bytes of linear memory the engine holds now (0 when it holds no instance). */
  memoryBytes(): number
}

/** Copies `bytes` into a fresh allocation (at least one byte, so a pointer is never NULL). */
function copyIn(lib: LibArgon2, bytes: Uint8Array): number {
  const pointer = lib.malloc(Math.max(bytes.length, 1))
  if (pointer === 0) throw new Error('argon2 wasm: out of memory')
  new Uint8Array(lib.memory.buffer).set(bytes, pointer)
  return pointer
}

/** Zeroes and frees an allocation of `length` bytes. */
function wipe(lib: LibArgon2, pointer: number, length: number): void {
  if (pointer === 0) return
  new Uint8Array(lib.memory.buffer).fill(0, pointer, pointer + length)
  lib.free(pointer)
}

function deriveWith(lib: LibArgon2, input: DeriveInput): Uint8Array {
  const password = copyIn(lib, input.password)
  let salt = 0
  let tag = 0
  try {
    salt = copyIn(lib, input.salt)
    tag = copyIn(lib, new Uint8Array(input.tagLength))
    const status = lib.argon2_hash(
      input.iterations,
      input.memoryKiB,
      input.parallelism,
      password,
      input.password.length,
      salt,
      input.salt.length,
      tag,
      input.tagLength,
      0,
      0,
      ARGON2_TYPE[input.variant],
      ARGON2_VERSION_13,
    )
    if (status !== 0) throw new Error(`argon2 wasm: argon2_hash failed with code ${status}`)
    return new Uint8Array(lib.memory.buffer).slice(tag, tag + input.tagLength)
  } finally {
    wipe(lib, password, input.password.length)
    wipe(lib, salt, input.salt.length)
    wipe(lib, tag, input.tagLength)
  }
}

async function instantiate(module: WebAssembly.Module): Promise<LibArgon2> {
  const instance = await WebAssembly.instantiate(module, {})
  const lib = instance.exports as unknown as LibArgon2
  lib._initialize()
  return lib
}

/** The WebAssembly engine on a compiled libargon2 module (see {@link ARGON2_WASM_SPECIFIER}). */
export function createWasmEngine(module: WebAssembly.Module): WasmArgon2Engine {
  let held: LibArgon2 | undefined
  let starting: Promise<LibArgon2> | undefined

  const acquire = async (): Promise<LibArgon2> => {
    if (held !== undefined) return held
    starting ??= instantiate(module)
    try {
      held = await starting
    } finally {
      starting = undefined
    }
    return held
  }

  const derive: DeriveFn = async (input) => {
    if (input.memoryKiB * 1024 > RETAINED_MEMORY_BYTES) {
      held = undefined
      return deriveWith(await instantiate(module), input)
    }
    const lib = await acquire()
    try {
      return deriveWith(lib, input)
    } finally {
      if (lib.memory.buffer.byteLength > RETAINED_MEMORY_BYTES && held === lib) held = undefined
    }
  }

  return {
    name: 'wasm',
    derive,
    verify: verifyByDerive(derive),
    memoryBytes: () => held?.memory.buffer.byteLength ?? 0,
  }
}

let fileModule: WebAssembly.Module | null | undefined

function compileFromPackageFile(): WebAssembly.Module | null {
  try {
    const { createRequire } = process.getBuiltinModule('node:module')
    const { readFileSync } = process.getBuiltinModule('node:fs')
    const path = createRequire(import.meta.url).resolve(ARGON2_WASM_SPECIFIER)
    return new WebAssembly.Module(readFileSync(path))
  } catch {
    return null
  }
}

/**
 * The compiled libargon2 from the package's file, on runtimes that may compile WebAssembly from
 * bytes and have `node:fs` (Node, Bun); null elsewhere or if the file is missing. Compiled once.
 */
export function loadArgon2WasmModule(): WebAssembly.Module | null {
  if (typeof process === 'undefined' || typeof process.getBuiltinModule !== 'function') return null
  fileModule ??= compileFromPackageFile()
  return fileModule
}
