/**
 * Argon2 hashes as PHC strings (`$argon2id$v=19$m=..,t=..,p=..$<salt>$<tag>`), written the way
 * libargon2, argon2-cffi and passlib write them, and the bounds every parsed or configured cost
 * must respect. Pure: no engine, no runtime API.
 */

/** Argon2 cost parameters, as they appear in a PHC string (`m=<memoryKiB>,t=<iterations>,p=<parallelism>`). */
export interface Argon2Params {
  /** Memory cost in KiB (`m`). */
  memoryKiB: number
  /** Number of passes over memory (`t`). */
  iterations: number
  /** Number of lanes (`p`). */
  parallelism: number
}

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

/** The Argon2 version every accepted hash has (0x13, RFC 9106). */
export const PHC_VERSION = 19

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

/** The Argon2 variants a PHC string may name (argon2d is refused). */
export type Argon2Variant = ParsedArgon2Hash['variant']

const MAX_PHC_LENGTH = 256
const MAX_DECIMAL_DIGITS = 10
const BASE64_NO_PAD = /^[A-Za-z0-9+/]*$/

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
export function areParamsWithinLimits({
  memoryKiB,
  iterations,
  parallelism,
}: Argon2Params): boolean {
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
