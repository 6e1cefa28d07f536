import { and, asc, eq, isNotNull, type SQL, sql } from 'drizzle-orm'
import { bannedAt } from './bans'
import type { Database } from './client'
import { totpEnabledOf } from './mfa'
import { mfaChallenges, users, userTotp } from './schema'
import { endSessionsChanging, sessionEndingQueries } from './sessions'
import type { UserRef } from './users'

/**
 * The admin API's queries: accounts as an administrator sees them, and the writes that ban, unban,
 * delete, set a password and remove the second factor. Each write is one statement; those that
 * end sessions go through {@link endSessionsChanging} (or its queries), the statement of a logout.
 */

/** An account as the admin API shows it. */
export interface AdminAccount {
  id: number
  name: string
  username: string
  createdAt: Date
  lastLoginAt: Date | null
  /** The ban in force at the read's moment; undefined when none is (or the last one expired). */
  ban: { since: Date; until: Date | null; reason: string } | undefined
  /** Sessions (refresh-token families) that can still be refreshed. */
  activeSessions: number
  /** Whether logins need a TOTP code (an enrolment not yet confirmed does not count). */
  totpEnabled: boolean
  /** Where a listing that ends with this account goes on (see {@link ListPosition}). */
  position: ListPosition
}

/**
 * A place in the listing's order, creation time then id: `createdAt` as Postgres holds it, to the
 * microsecond in UTC (a JavaScript Date would cut it to the millisecond and repeat rows).
 */
export interface ListPosition {
  createdAt: string
  id: number
}

/** What {@link listAccounts} lists. */
export interface AccountQuery {
  /** Only usernames whose key starts with this key (`usernameKey` of the typed prefix). */
  usernameKeyPrefix?: string
  /** Only this id. */
  id?: number
  /** Only accounts after this place in the order. */
  after?: ListPosition
  limit: number
  now: Date
}

const at = (moment: Date): SQL => sql`${moment.toISOString()}::timestamptz`

function accountColumns(now: Date) {
  return {
    id: users.id,
    name: users.name,
    username: users.username,
    createdAt: users.createdAt,
    lastLoginAt: users.lastLoginAt,
    banned: sql<boolean>`${bannedAt(now)}`,
    bannedAt: users.bannedAt,
    bannedUntil: users.bannedUntil,
    banReason: users.banReason,
    activeSessions: sql<number>`(select count(distinct rt.family_id)::int from refresh_tokens rt
      where rt.user_id = ${users.id} and rt.revoked_at is null and rt.consumed_at is null
        and rt.expires_at > ${at(now)}
        and (${users.tokensValidAfter} is null or rt.session_started_at > ${users.tokensValidAfter}))`,
    totpEnabled: totpEnabledOf(users.id),
    position: sql<string>`to_char(${users.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
  }
}

type Row = {
  id: number
  name: string
  username: string
  createdAt: Date
  lastLoginAt: Date | null
  banned: boolean
  bannedAt: Date | null
  bannedUntil: Date | null
  banReason: string | null
  activeSessions: number
  totpEnabled: boolean
  position: string
}

function accountOf(row: Row): AdminAccount {
  return {
    id: row.id,
    name: row.name,
    username: row.username,
    createdAt: row.createdAt,
    lastLoginAt: row.lastLoginAt,
    ban:
      row.banned && row.bannedAt !== null
        ? { since: row.bannedAt, until: row.bannedUntil, reason: row.banReason ?? '' }
        : undefined,
    activeSessions: Number(row.activeSessions),
    totpEnabled: row.totpEnabled === true,
    position: { createdAt: row.position, id: row.id },
  }
}

/** Accounts in creation order (then id), `limit` of them at most, filtered by `query`. */
export async function listAccounts(db: Database, query: AccountQuery): Promise<AdminAccount[]> {
  const { usernameKeyPrefix: prefix, id, after } = query
  const rows = await db
    .select(accountColumns(query.now))
    .from(users)
    .where(
      and(
        prefix === undefined ? undefined : sql`starts_with(${users.usernameKey}, ${prefix}::text)`,
        id === undefined ? undefined : eq(users.id, id),
        after === undefined
          ? undefined
          : sql`(${users.createdAt}, ${users.id}) > (${after.createdAt}::timestamptz, ${after.id}::int)`,
      ),
    )
    .orderBy(asc(users.createdAt), asc(users.id))
    .limit(query.limit)
  return rows.map(accountOf)
}

/** One account, or undefined when there is none with this id. */
export async function findAdminAccount(
  db: Database,
  id: number,
  now: Date,
): Promise<AdminAccount | undefined> {
  const rows = await db.select(accountColumns(now)).from(users).where(eq(users.id, id)).limit(1)
  const row = rows[0]
  return row === undefined ? undefined : accountOf(row)
}

/** A ban as {@link banAccount} writes it. */
export interface NewBan {
  reason: string
  /** When it ends by itself; null: when an administrator lifts it. */
  until: Date | null
}

/**
 * Bans an account and ends every session of it, in one statement (a later ban replaces an earlier
 * one): its refresh tokens are revoked and its access tokens cut off, as by a logout.
 * @returns the account, or undefined when there is none.
 */
export function banAccount(db: Database, id: number, now: Date, ban: NewBan) {
  return endSessionsChanging(db, id, now, {
    bannedAt: now,
    bannedUntil: ban.until,
    banReason: ban.reason,
  })
}

/**
 * Lifts an account's ban (one statement); its sessions stay ended.
 * @returns the account, or undefined when there is none.
 */
export async function unbanAccount(db: Database, id: number): Promise<UserRef | undefined> {
  const rows = await db
    .update(users)
    .set({ bannedAt: null, bannedUntil: null, banReason: null, updatedAt: sql`now()` })
    .where(eq(users.id, id))
    .returning({ id: users.id, username: users.username })
  return rows[0]
}

/**
 * Ends every session of an account, as its own logout does (one statement).
 * @returns the account, or undefined when there is none.
 */
export function endAccountSessions(db: Database, id: number, now: Date) {
  return endSessionsChanging(db, id, now, {})
}

/**
 * Replaces an account's password hash and ends every session of it, in one statement.
 * @returns the account, or undefined when there is none.
 */
export function setAccountPassword(db: Database, id: number, now: Date, hashedPassword: string) {
  return endSessionsChanging(db, id, now, { hashedPassword })
}

/**
 * Removes an account's second factor and ends every session of it, in one statement: its TOTP row
 * (the secret in force, an enrolment still pending, the recovery codes) and its logins waiting
 * for a code (`mfa_challenges`) are deleted, and its sessions end as by a logout. What an
 * administrator does for a user who lost both the phone and the recovery codes.
 * @returns the account, and whether TOTP was on (a pending enrolment alone is not), or undefined
 * when there is none (nothing written).
 */
export async function resetAccountMfa(
  db: Database,
  id: number,
  now: Date,
): Promise<(UserRef & { totpWasEnabled: boolean }) | undefined> {
  const { changed, revoked } = sessionEndingQueries(db, eq(users.id, id), now, {})
  const totp = db
    .$with('totp_deleted')
    .as(
      db
        .delete(userTotp)
        .where(eq(userTotp.userId, id))
        .returning({ userId: userTotp.userId, enabledAt: userTotp.enabledAt }),
    )
  const challenges = db
    .$with('challenges_deleted')
    .as(
      db
        .delete(mfaChallenges)
        .where(eq(mfaChallenges.userId, id))
        .returning({ userId: mfaChallenges.userId }),
    )
  const totpWasOn = db.select({ userId: totp.userId }).from(totp).where(isNotNull(totp.enabledAt))
  const rows = await db
    .with(changed, revoked, totp, challenges)
    .select({
      id: changed.id,
      username: changed.username,
      totpWasEnabled: sql<boolean>`exists (${totpWasOn})`,
    })
    .from(changed)
  const row = rows[0]
  return row === undefined
    ? undefined
    : { id: row.id, username: row.username, totpWasEnabled: row.totpWasEnabled === true }
}

/**
 * Deletes an account, whatever its password; its refresh tokens go with it (ON DELETE CASCADE).
 * @returns the account, or undefined when there is none.
 */
export async function deleteAccountById(db: Database, id: number): Promise<UserRef | undefined> {
  const rows = await db
    .delete(users)
    .where(eq(users.id, id))
    .returning({ id: users.id, username: users.username })
  return rows[0]
}
