import { and, eq, type WithSubquery } from 'drizzle-orm'
import type { Database } from './client'
import { totpEnabledOf } from './mfa'
import { users } from './schema'
import { type HolderKey, holderCondition } from './sessions'

/** An account as the account endpoints (`/me`, `/logout`, ...) need it. */
export interface Account {
  id: number
  name: string
  username: string
  hashedPassword: string
  createdAt: Date
  tokensValidAfter: Date | null
  /** True when the account has TOTP on: password changes and deletion then need a second factor. */
  totpEnabled: boolean
}

/** Loads the account a token names, or undefined when there is none (any more). */
export async function findAccount(db: Database, key: HolderKey): Promise<Account | undefined> {
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
    .where(holderCondition(key))
    .limit(1)
  return rows[0]
}

/**
 * Deletes an account if its password hash is still the one that was verified (compare-and-set);
 * its refresh tokens go with it (ON DELETE CASCADE). One statement, with `alongside` (data-modifying
 * `WITH` queries: the throttle reset of the confirmed password) in it.
 * @returns whether the row was deleted.
 */
export async function deleteAccount(
  db: Database,
  id: number,
  expectedHash: string,
  alongside: WithSubquery[] = [],
): Promise<boolean> {
  const rows = await db
    .with(...alongside)
    .delete(users)
    .where(and(eq(users.id, id), eq(users.hashedPassword, expectedHash)))
    .returning({ id: users.id })
  return rows.length === 1
}
