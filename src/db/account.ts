import { and, eq } from 'drizzle-orm'
import type { Database } from './client'
import { totpEnabledOf } from './mfa'
import { users } from './schema'
import { type AccountKey, accountCondition } from './sessions'
import { type AttemptReset, attemptResetQueries } from './throttle'
import type { Account } from './users'

/** Loads the account a token names, or undefined when there is none (any more). */
export async function findAccount(db: Database, key: AccountKey): Promise<Account | undefined> {
  const rows = await db
    .select({
      id: users.id,
      name: users.name,
      username: users.username,
      hashedPassword: users.hashedPassword,
      createdAt: users.createdAt,
      tokensValidAfter: users.tokensValidAfter,
      totpEnabled: totpEnabledOf(users.id),
    })
    .from(users)
    .where(accountCondition(key))
    .limit(1)
  return rows[0]
}

/**
 * Deletes an account if its password hash is still the one that was verified (compare-and-set);
 * its refresh tokens go with it (ON DELETE CASCADE). One statement, which also applies `reset`
 * (the throttle reset of the confirmed password).
 * @returns whether the row was deleted.
 */
export async function deleteAccount(
  db: Database,
  id: number,
  expectedHash: string,
  reset?: AttemptReset,
): Promise<boolean> {
  const rows = await db
    .with(...attemptResetQueries(db, reset))
    .delete(users)
    .where(and(eq(users.id, id), eq(users.hashedPassword, expectedHash)))
    .returning({ id: users.id })
  return rows.length === 1
}
