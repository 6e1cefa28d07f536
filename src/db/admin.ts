import { and, asc, eq, type SQL, sql } from 'drizzle-orm'
import { bannedAt } from './bans'
import type { Database } from './client'
import { users } from './schema'
import { endSessionsChanging } from './sessions'
import type { UserRef } from './users'

/**
 * The admin API's queries: accounts as an administrator sees them, and the writes that ban, unban,
 * delete and set a password. Each write is one statement; those that end sessions go through
 * {@link endSessionsChanging}, the statement of a logout.
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
