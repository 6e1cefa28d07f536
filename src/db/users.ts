import { and, eq, sql } from 'drizzle-orm'
import type { Database } from './client'
import { users } from './schema'

/** What registration returns: never the hash. */
export interface PublicUser {
  id: number
  name: string
  username: string
}

/** What login needs to check a password. */
export interface LoginUser {
  id: number
  username: string
  hashedPassword: string
  /** True when the account has TOTP on: the password alone then logs nobody in. */
  totpEnabled: boolean
}

/**
 * The UPDATE that replaces a password hash if it is still the one that was verified
 * (compare-and-set), so a concurrent password change is never overwritten; a `WITH` query of
 * the statement that starts a login's session.
 */
export function replacePasswordHashQuery(
  db: Database,
  id: number,
  expected: string,
  replacement: string,
) {
  return db
    .update(users)
    .set({ hashedPassword: replacement, updatedAt: sql`now()` })
    .where(and(eq(users.id, id), eq(users.hashedPassword, expected)))
    .returning({ id: users.id })
}
