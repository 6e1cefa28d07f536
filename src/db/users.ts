import { and, eq, sql } from 'drizzle-orm'
import { notBannedAt } from './bans'
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
  /** Set when the account is banned at the login's moment (see db/bans.ts); `until` null: no end. */
  ban?: { until: Date | null }
}

/** A hash made with old parameters and its replacement, for {@link recordLoginQuery}. */
export interface Rehash {
  /** The hash that was verified: replaced only if it is still the stored one (compare-and-set). */
  expected: string
  replacement: string
}

/**
 * The UPDATE that records a login on its account, a `WITH` query of the statement that starts the
 * login's session: `last_login_at`, and with `rehash` a fresh hash in place of one made with old
 * parameters, only if it is still the one that was verified, so a concurrent password change is
 * never overwritten. One UPDATE for both, since a statement may change a row only once. Like the
 * session's INSERT, it does nothing to an account banned meanwhile.
 */
export function recordLoginQuery(db: Database, id: number, now: Date, rehash?: Rehash) {
  const replaced = rehash === undefined ? undefined : eq(users.hashedPassword, rehash.expected)
  return db
    .update(users)
    .set({
      lastLoginAt: now,
      ...(replaced === undefined || rehash === undefined
        ? {}
        : {
            hashedPassword: sql`case when ${replaced} then ${rehash.replacement} else ${users.hashedPassword} end`,
            updatedAt: sql`case when ${replaced} then now() else ${users.updatedAt} end`,
          }),
    })
    .where(and(eq(users.id, id), notBannedAt(now)))
    .returning({ id: users.id })
}
