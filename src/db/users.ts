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
}

/**
 * Inserts a user in one statement. Returns null when the username is taken (case-insensitively);
 * concurrent registrations of one name therefore yield exactly one row and no error.
 */
export async function insertUser(
  db: Database,
  values: { name: string; username: string; hashedPassword: string },
): Promise<PublicUser | null> {
  const rows = await db
    .insert(users)
    .values(values)
    .onConflictDoNothing()
    .returning({ id: users.id, name: users.name, username: users.username })
  return rows[0] ?? null
}

/**
 * Finds the account a login names. The name is matched case-insensitively, as typed and in its
 * canonical form, so accounts created by the Python service (never normalised) still match;
 * an exact match of what was typed wins.
 */
export async function findLoginUser(
  db: Database,
  typed: string,
  canonical: string,
): Promise<LoginUser | undefined> {
  const rows = await db
    .select({ id: users.id, username: users.username, hashedPassword: users.hashedPassword })
    .from(users)
    .where(sql`lower(${users.username}) in (lower(${typed}), lower(${canonical}))`)
    .orderBy(
      sql`${users.username} = ${typed} desc`,
      sql`lower(${users.username}) = lower(${typed}) desc`,
    )
    .limit(1)
  return rows[0]
}

/**
 * Replaces a password hash if it is still the one that was verified (compare-and-set), so a
 * concurrent password change is never overwritten. Returns whether a row changed.
 */
export async function replacePasswordHash(
  db: Database,
  id: number,
  expected: string,
  replacement: string,
): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ hashedPassword: replacement, updatedAt: sql`now()` })
    .where(and(eq(users.id, id), eq(users.hashedPassword, expected)))
    .returning({ id: users.id })
  return rows.length === 1
}
