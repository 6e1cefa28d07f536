import { createHmac } from 'node:crypto'

/**
 * An authenticator app, written for the tests apart from the service's own TOTP code (src/auth/totp.ts):
 * RFC 6238 with node:crypto's HMAC-SHA-1, 6 digits, 30-second steps, so a test that enrols with
 * these codes proves the service computes what real apps compute.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** Decodes RFC 4648 base32 (the `secret` of an otpauth:// URI). */
export function fromBase32(text: string): Buffer {
  let bits = ''
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const value = ALPHABET.indexOf(char)
    if (value < 0) throw new Error(`not base32: ${char}`)
    bits += value.toString(2).padStart(5, '0')
  }
  const bytes: number[] = []
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(Number.parseInt(bits.slice(i, i + 8), 2))
  return Buffer.from(bytes)
}

/** The code of `secret` (raw bytes) for time step `step`, with `digits` digits. */
export function hotpCode(secret: Buffer, step: number, digits = 6): string {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const mac = createHmac('sha1', secret).update(counter).digest()
  const offset = (mac.at(-1) as number) & 0xf
  const value = mac.readUInt32BE(offset) & 0x7fffffff
  return String(value % 10 ** digits).padStart(digits, '0')
}

/** The code an app shows at `ms` (default now) for a base32 secret, `offsetSteps` steps away. */
export function totpNow(secretBase32: string, ms = Date.now(), offsetSteps = 0): string {
  return hotpCode(fromBase32(secretBase32), Math.floor(ms / 30_000) + offsetSteps)
}

/** The secret of an otpauth:// URI, checked to be what authenticator apps expect. */
export function secretOfUri(uri: string): string {
  const url = new URL(uri)
  if (url.protocol !== 'otpauth:' || url.host !== 'totp') throw new Error(`not a TOTP URI: ${uri}`)
  const secret = url.searchParams.get('secret')
  if (secret === null) throw new Error('no secret')
  return secret
}
