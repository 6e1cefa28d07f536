import { and, eq, sql } from 'drizzle-orm'
import { notBannedAt } from './bans'
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

/** What a password check needs; `ban` is read by the login only. */
export type LoginUser = Pick<User, 'id' | 'username' | 'hashedPassword'> & {
  /** Set when the account is banned at the login's moment (see db/bans.ts); `until` null: no end. */
  ban?: { until: Date | null }
  /** True when the account has TOTP on: the password alone then logs nobody in. */
  totpEnabled: boolean
}

/** An account as the account endpoints (`/me`, `/logout`, ...) need it. */
export type Account = Pick<
  User,
  'id' | 'name' | 'username' | 'hashedPassword' | 'createdAt' | 'tokensValidAfter'
> & {
  /** True when the account has TOTP on: password changes and deletion then need a second factor. */
  totpEnabled: boolean
}

/** What the revocation check needs to know about an account. */
export type TokenHolder = Pick<User, 'id' | 'username' | 'tokensValidAfter'>

/** A password hash to store in place of `expectedHash`, only if that is still the stored one. */
export interface HashReplacement {
  expectedHash: string
  newHash: string
}

/**
 * The UPDATE that records a login on its account, a `WITH` query of the statement that starts the
 * login's session: `last_login_at`, and with `rehash` a fresh hash in place of one made with old
 * parameters, only if it is still the one that was verified, so a concurrent password change is
 * never overwritten. One UPDATE for both, since a statement may change a row only once. Like the
 * session's INSERT, it does nothing to an account banned meanwhile.
 */
export function recordLoginQuery(
  db: Database,
  id: number,
  now: Date,
  rehash: HashReplacement | undefined,
) {
  const replaced = rehash === undefined ? undefined : eq(users.hashedPassword, rehash.expectedHash)
  return db
    .update(users)
    .set({
      lastLoginAt: now,
      ...(replaced === undefined || rehash === undefined
        ? {}
        : {
            hashedPassword: sql`case when ${replaced} then ${rehash.newHash} else ${users.hashedPassword} end`,
            updatedAt: sql`case when ${replaced} then now() else ${users.updatedAt} end`,
          }),
    })
    .where(and(eq(users.id, id), notBannedAt(now)))
    .returning({ id: users.id })
}
