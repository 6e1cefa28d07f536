/**
 * Recovery codes: one-time codes a user keeps on paper for when the authenticator is lost. Each is
 * 16 random base32 characters (80 bits), shown as `xxxx-xxxx-xxxx-xxxx`, and stored only as the
 * SHA-256 of its normalised form. A fast unsalted hash is enough here, unlike for passwords: a code
 * is random with 80 bits of entropy, so recovering one from its hash takes ~2^79 guesses whatever
 * the hash costs, and a deterministic hash lets one statement find and remove a code
 * (`useRecoveryCode`) instead of trying a slow hash against each stored one.
 */

/** How many codes a user gets at a time. */
export const RECOVERY_CODE_COUNT = 10

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const CODE_CHARS = 16

/** A fresh code, `xxxx-xxxx-xxxx-xxxx` (lower-case base32: no 0, 1, 8 or 9 to misread). */
export function newRecoveryCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(CODE_CHARS))
  // 256 is a multiple of 32: taking each byte modulo 32 keeps every character equally likely.
  const chars = Array.from(bytes, (b) => ALPHABET.charAt(b % ALPHABET.length)).join('')
  return chars.match(/.{4}/g)?.join('-') ?? chars
}

/** {@link RECOVERY_CODE_COUNT} fresh codes. */
export const newRecoveryCodes = (): string[] =>
  Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)

/**
 * A code as typed, in the one form that is hashed: lower case, without spaces or dashes; undefined
 * when it cannot be a code (so nothing is hashed or looked up for it).
 */
export function normaliseRecoveryCode(typed: string): string | undefined {
  const code = typed.replace(/[\s-]/g, '').toLowerCase()
  return /^[a-z2-7]{16}$/.test(code) ? code : undefined
}

/** The stored form of a normalised code: its SHA-256, in hex. */
export async function hashRecoveryCode(normalised: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(normalised))
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}
