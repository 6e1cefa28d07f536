/**
 * Refresh tokens as the client sees them: opaque strings of 256 random bits, stored only as their
 * SHA-256. Nothing here touches the database or HTTP.
 */

import { builtinCrypto, type NodeCrypto } from './builtin-crypto'

/** Random bytes in a refresh token. */
export const REFRESH_TOKEN_BYTES = 32

/** 32 bytes in unpadded base64url: 43 characters. Anything else is refused without a lookup. */
const SHAPE = /^[A-Za-z0-9_-]{43}$/

/** A fresh refresh token: 256 bits from the platform CSPRNG, base64url without padding. */
export function newRefreshToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(REFRESH_TOKEN_BYTES))
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** Whether a string could be a refresh token this service issued. */
export function isRefreshTokenShaped(value: string): boolean {
  return SHAPE.test(value)
}

/**
 * The form a refresh token is stored in: SHA-256, lowercase hex. The token carries 256 random
 * bits, so a fast unsalted hash is enough: nothing can be guessed from it, and it can be looked up.
 * Computed with `node` (the runtime's `node:crypto`, see `builtin-crypto.ts`) when there is one,
 * else (or with `null`) with `crypto.subtle`.
 */
export async function hashRefreshToken(
  token: string,
  node: NodeCrypto | null = builtinCrypto ?? null,
): Promise<string> {
  if (node !== null) return node.createHash('sha256').update(token, 'utf8').digest('hex')
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}
