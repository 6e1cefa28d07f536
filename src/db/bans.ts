import { and, isNull, or, type SQL, sql } from 'drizzle-orm'
import type { Database } from './client'
import { users } from './schema'

/**
 * The ban rule in SQL: an account is banned while `banned_at` is set and `banned_until` is NULL
 * (no end) or after `now`. An expired ban needs no write to end: every check compares its end
 * with the app's clock. A leaf, so that the login, session and admin queries share one rule.
 */

/** A timestamp parameter typed for Postgres, so every driver sends it the same way. */
const at = (moment: Date): SQL => sql`${moment.toISOString()}::timestamptz`

/** True for accounts not banned at `now` (a condition on `users`). */
export function notBannedAt(now: Date): SQL {
  return or(
    isNull(users.bannedAt),
    and(sql`${users.bannedUntil} is not null`, sql`${users.bannedUntil} <= ${at(now)}`),
  ) as SQL
}

/** True for accounts banned at `now` (a condition on `users`). */
export function bannedAt(now: Date): SQL {
  return and(
    sql`${users.bannedAt} is not null`,
    or(isNull(users.bannedUntil), sql`${users.bannedUntil} > ${at(now)}`),
  ) as SQL
}

/**
 * The ban of an account at `now`, or undefined when it is not banned (or gone). `until` null: the
 * ban has no end.
 */
export async function findBan(
  db: Database,
  userId: number,
  now: Date,
): Promise<{ until: Date | null } | undefined> {
  const rows = await db
    .select({ until: users.bannedUntil })
    .from(users)
    .where(and(sql`${users.id} = ${userId}`, bannedAt(now)))
    .limit(1)
  return rows[0]
}
