/**
 * Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP) as authenticator apps compute them:
 * HMAC-SHA-1, 6 digits, 30-second steps, the secret shared as unpadded RFC 4648 base32 in an
 * `otpauth://totp/` URI. Web Crypto only; nothing here touches the database or HTTP.
 */

/** Seconds per time step (RFC 6238's default, what every authenticator app assumes). */
export const TOTP_PERIOD_SECONDS = 30
/** Digits of a code. */
export const TOTP_DIGITS = 6
/** Steps accepted on either side of the current one, for clocks that drift (RFC 6238 §5.2). */
export const TOTP_DRIFT_STEPS = 1
/** Bytes of a new secret: 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA-1. */
export const TOTP_SECRET_BYTES = 20

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets. */
export function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32.charAt((buffer >>> bits) & 31)
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32.charAt((buffer << (5 - bits)) & 31)
  return out
}

/**
 * Decodes base32 (case-insensitive, spaces and padding ignored, as people type secrets).
 * @throws RangeError on a character outside the alphabet.
 */
export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/[\s=]/g, '').toUpperCase()
  const out: number[] = []
  let buffer = 0
  let bits = 0
  for (const char of clean) {
    const value = BASE32.indexOf(char)
    if (value < 0) throw new RangeError('not base32')
    buffer = (buffer << 5) | value
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((buffer >>> bits) & 255)
      buffer &= (1 << bits) - 1
    }
  }
  return Uint8Array.from(out)
}

/** A fresh random secret, in base32 (32 characters). */
export function newTotpSecret(): string {
  return base32Encode(crypto.getRandomValues(new Uint8Array(TOTP_SECRET_BYTES)))
}

/** The time step a moment falls in (RFC 6238's T: whole periods since the Unix epoch). */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS)
}

/** The code of one step: HOTP (RFC 4226 §5.3, dynamic truncation) with the step as counter. */
export async function totpCode(secret: Uint8Array, step: number): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    secret as Uint8Array<ArrayBuffer>,
    { name: 'HMAC', hash: 'SHA-1' },
    false,
    ['sign'],
  )
  return hotp(key, step)
}

async function hotp(key: CryptoKey, counter: number): Promise<string> {
  const message = new DataView(new ArrayBuffer(8))
  message.setUint32(0, Math.floor(counter / 2 ** 32))
  message.setUint32(4, counter >>> 0)
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, message.buffer))
  const offset = (mac[19] as number) & 0x0f
  const binary = new DataView(mac.buffer).getUint32(offset) & 0x7fffffff
  return String(binary % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, '0')
}

/** Whether a string has the shape of a code: exactly six ASCII digits. */
export const isTotpCodeShaped = (code: string): boolean => /^[0-9]{6}$/.test(code)

/**
 * The step whose code `code` is, among the current step and {@link TOTP_DRIFT_STEPS} on either
 * side, skipping steps at or before `lastUsedStep` (a code already accepted, or an older one, is
 * never accepted again). Every candidate is computed and compared, whatever matches, so the time
 * taken says nothing about which step matched.
 * @returns the matching step, or undefined.
 */
export async function matchTotpStep(
  secret: Uint8Array,
  code: string,
  nowMs: number,
  lastUsedStep: number | null,
): Promise<number | undefined> {
  if (!isTotpCodeShaped(code)) return undefined
  const key = await crypto.subtle.importKey(
    'raw',
    secret as Uint8Array<ArrayBuffer>,
    { name: 'HMAC', hash: 'SHA-1' },
    false,
    ['sign'],
  )
  const current = totpStep(nowMs)
  let matched: number | undefined
  for (let step = current - TOTP_DRIFT_STEPS; step <= current + TOTP_DRIFT_STEPS; step++) {
    const expected = await hotp(key, step)
    const fresh = lastUsedStep === null || step > lastUsedStep
    if (equalDigits(expected, code) && fresh && matched === undefined) matched = step
  }
  return matched
}

/** Compares two codes of equal length without stopping at the first difference. */
function equalDigits(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/**
 * The `otpauth://totp/` URI of Google Authenticator's key-URI format, which authenticator apps
 * read from a QR code: label `issuer:account`, and the secret, issuer, algorithm, digits and period
 * as parameters.
 */
export function otpauthUri(secret: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`
  const params = new URLSearchParams({
    secret,
    issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  })
  return `otpauth://totp/${label}?${params.toString().replaceAll('+', '%20')}`
}
