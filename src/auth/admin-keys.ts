/**
 * Admin API keys: what authenticates a caller of `/admin/...`. The configuration holds only each
 * key's SHA-256 (ADMIN_API_KEYS, `name:hex` entries), never the key, so a leaked configuration or
 * log lets no one in; several entries let keys be rotated. A key is `eak_` and 256 random bits in
 * base64url, so a fast unsalted hash is enough (nothing to guess) and a key cannot be mistaken for
 * a JWT. No HTTP here.
 */

import { hashRefreshToken } from './refresh'

/** One configured key: the name logs give its holder, and the key's SHA-256 in lowercase hex. */
export interface AdminKey {
  name: string
  sha256: string
}

/** How every admin API key begins. */
export const ADMIN_KEY_PREFIX = 'eak_'

const KEY_SHAPE = /^eak_[A-Za-z0-9_-]{43}$/

/** What an entry's name may be: it is written to logs. */
export const ADMIN_KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/

/** A fresh admin API key: {@link ADMIN_KEY_PREFIX} and 256 bits from the platform CSPRNG. */
export function newAdminKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  const encoded = btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
  return `${ADMIN_KEY_PREFIX}${encoded}`
}

/** Whether a presented credential has the shape of an admin API key (else it is tried as a JWT). */
export const looksLikeAdminKey = (value: string): boolean => value.startsWith(ADMIN_KEY_PREFIX)

/** The SHA-256 of a key, lowercase hex: what ADMIN_API_KEYS holds. */
export const adminKeyHash = (key: string): Promise<string> => hashRefreshToken(key)

/**
 * The configured key a presented one matches, or undefined. Every entry is compared, each in
 * time independent of where the digests differ, so the answer's timing tells nothing.
 */
export async function matchAdminKey(
  keys: readonly AdminKey[],
  presented: string,
): Promise<AdminKey | undefined> {
  if (!KEY_SHAPE.test(presented)) return undefined
  const digest = await adminKeyHash(presented)
  let found: AdminKey | undefined
  for (const key of keys) {
    let difference = key.sha256.length ^ digest.length
    for (let i = 0; i < digest.length; i++) {
      difference |= digest.charCodeAt(i) ^ key.sha256.charCodeAt(i)
    }
    if (difference === 0) found ??= key
  }
  return found
}
