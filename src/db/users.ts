import { and, eq, sql } from 'drizzle-orm'
import type { Database } from './client'
import { type User, users } from './schema'

/**
 * The shapes of a user row that the statements return, all cut from the schema's `User`: a
 * column's name and type are declared once, in db/schema.ts.
 */

/** A user named by id and username: what revocation caches are keyed by, what a reuse ends. */
export type UserRef = Pick<User, 'id' | 'username'>

/** What registration returns: never the hash. */
export type PublicUser = Pick<User, 'id' | 'name' | 'username'>

/** What a password check needs. */
export type LoginUser = Pick<User, 'id' | 'username' | 'hashedPassword'>

/** An account as the account endpoints (`/me`, `/logout`, ...) need it. */
export type Account = Pick<
  User,
  'id' | 'name' | 'username' | 'hashedPassword' | 'createdAt' | 'tokensValidAfter'
>

/** What the revocation check needs to know about an account. */
export type TokenHolder = Pick<User, 'id' | 'username' | 'tokensValidAfter'>

/** A password hash to store in place of `expectedHash`, only if that is still the stored one. */
export interface HashReplacement {
  expectedHash: string
  newHash: string
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
