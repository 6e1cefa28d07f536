/**
 * Refresh tokens as the client sees them, stored only as their SHA-256. Nothing here touches the
 * database or HTTP.
 *
 * A token is `<family>.<secret>`: the session's family id (a random UUID, as 16 bytes in base64url,
 * 22 characters), a dot, and 256 random bits (base64url, 43 characters). The family part lets a
 * token whose row was deleted still be recognised as a token of its session (reuse detection keeps
 * only the last few rows of a family). Tokens issued before the family part existed are the bare
 * 43-character secret; they are still accepted until they expire.
 */

import { builtinCrypto, type NodeCrypto } from './builtin-crypto'

/** Random bytes in a refresh token's secret. */
export const REFRESH_TOKEN_BYTES = 32

/**
 * An optional family part (16 bytes in canonical unpadded base64url: the last character carries
 * 2 bits and 4 zero bits, so one of A, Q, g, w), then the 43-character secret.
 */
const SHAPE = /^(?:([A-Za-z0-9_-]{21}[AQgw])\.)?[A-Za-z0-9_-]{43}$/

/** What the shape of a refresh token tells before any lookup. */
export interface ParsedRefreshToken {
  /** The family (a UUID) the token names; undefined for a token without a family part. */
  familyId: string | undefined
}

const base64url = (bytes: Uint8Array): string => {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/**
 * A fresh refresh token of the family `familyId` (a UUID): its 16 bytes, then 256 bits from the
 * platform CSPRNG, both base64url without padding.
 * @throws RangeError when `familyId` is not a UUID.
 */
export function newRefreshToken(familyId: string): string {
  const hex = familyId.replaceAll('-', '')
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new RangeError('family id must be a UUID')
  const family = Uint8Array.from(hex.match(/../g) as string[], (pair) => Number.parseInt(pair, 16))
  const secret = crypto.getRandomValues(new Uint8Array(REFRESH_TOKEN_BYTES))
  return `${base64url(family)}.${base64url(secret)}`
}

/**
 * Reads a presented string as a refresh token this service could have issued.
 * @returns its family (lowercase UUID) when it has a family part, or undefined when the string
 * cannot be a refresh token (then it is refused without a lookup).
 */
export function parseRefreshToken(value: string): ParsedRefreshToken | undefined {
  const match = SHAPE.exec(value)
  if (match === null) return undefined
  const part = match[1]
  if (part === undefined) return { familyId: undefined }
  const binary = atob(part.replaceAll('-', '+').replaceAll('_', '/'))
  const hex = Array.from(binary, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('')
  const familyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  return { familyId }
}

/**
 * The form a refresh token is stored in: SHA-256 of the whole token, lowercase hex. The token
 * carries 256 random bits, so a fast unsalted hash is enough: nothing can be guessed from it, and
 * it can be looked up. Computed with `node` (the runtime's `node:crypto`, see `builtin-crypto.ts`)
 * when there is one, else (or with `null`) with `crypto.subtle`.
 */
export async function hashRefreshToken(
  token: string,
  node: NodeCrypto | null = builtinCrypto ?? null,
): Promise<string> {
  if (node !== null) return node.createHash('sha256').update(token, 'utf8').digest('hex')
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}
