import { type SQL, sql } from 'drizzle-orm'
import { bannedAt } from './bans'
import { type Database, rowsOf } from './client'
import { totpEnabledOf } from './mfa'
import {
  type AttemptCount,
  type AttemptLimit,
  attemptCountOf,
  attemptUpsert,
  NO_ATTEMPT,
} from './throttle'
import type { LoginUser } from './users'

/** What {@link findUserCountingAttempt} counts the attempt against. */
export interface LoginAttempt {
  /** The typed name's key (`usernameKey`), matched against `username_key`; null matches nothing. */
  key: string | null
  /**
   * The same key, made storable (NUL and lone surrogates replaced): when no account matches, the
   * attempt is counted against `login-name:` and the base64url SHA-256 of this (the name itself is
   * never stored), so every spelling with one key shares one count, as for an existing account.
   */
  counterName: string
  /** The client address's counter and its limit; none when the address is unknown or unlimited. */
  address?: { key: string; limit: AttemptLimit }
  /** The per-account limit; none when it is off. */
  account?: AttemptLimit
  nowMs: number
}

/** The account a login names (if any), and the attempt's counts. */
export interface CountedLogin {
  user: LoginUser | undefined
  /** The address's count; undefined when it was not counted. */
  address: AttemptCount | undefined
  /** The account's count; undefined when it was not counted (also when the address is blocked). */
  account: AttemptCount | undefined
}

/**
 * A login's first statement: finds the account by its key (so every case and NFKC spelling of a
 * name, including names adopted from the Python service, reaches it), counts the attempt against
 * the client address, then, unless the address
 * is blocked, against the account: `login-user:<id>` when it exists, so every spelling that
 * reaches it shares one count, else the hashed name. One round trip, before any password hashing.
 */
export async function findUserCountingAttempt(
  db: Database,
  a: LoginAttempt,
): Promise<CountedLogin> {
  const nameKey = sql`'login-name:' || translate(encode(sha256(convert_to(${a.counterName}::text, 'UTF8')), 'base64'), '+/', '-_')`
  const accountKey = sql`coalesce('login-user:' || (select id from u), ${nameKey})`
  const addressCount: SQL = a.address
    ? attemptUpsert(sql`${a.address.key}`, a.address.limit, a.nowMs)
    : NO_ATTEMPT
  const addressBlocked = sql`not exists (select 1 from addr where retry_after_seconds > 0)`
  const accountCount: SQL = a.account
    ? attemptUpsert(accountKey, a.account, a.nowMs, addressBlocked)
    : NO_ATTEMPT
  const result = await db.execute(sql`
    with u as (
      select id, username, hashed_password, ${totpEnabledOf(sql`users.id`)} as totp_enabled,
        ${bannedAt(new Date(a.nowMs))} as banned,
        (extract(epoch from banned_until) * 1000)::float8 as banned_until_ms
      from users where username_key = ${a.key}::text
    ),
    addr as (${addressCount}),
    acct as (${accountCount})
    select u.id, u.username, u.hashed_password, u.totp_enabled, u.banned, u.banned_until_ms,
      addr.attempts as address_attempts, addr.retry_after_seconds as address_retry,
      addr.block_started as address_started,
      acct.attempts as account_attempts, acct.retry_after_seconds as account_retry,
      acct.block_started as account_started
    from (select 1) as one
      left join u on true left join addr on true left join acct on true`)
  const [row] = rowsOf<Row>(result)
  if (row === undefined) throw new Error('login statement returned no row')
  return {
    user:
      row.id === null
        ? undefined
        : {
            id: row.id,
            username: row.username as string,
            hashedPassword: row.hashed_password as string,
            totpEnabled: !!row.totp_enabled,
            ...(row.banned === true ? { ban: { until: msOrNull(row.banned_until_ms) } } : {}),
          },
    address: attemptCountOf(row.address_attempts, row.address_retry, row.address_started),
    account: attemptCountOf(row.account_attempts, row.account_retry, row.account_started),
  }
}

/** A ban's end as a Date; drivers hand float8 over as a number, or (some) as text. */
const msOrNull = (ms: number | string | null): Date | null =>
  ms === null ? null : new Date(Number(ms))

interface Row {
  id: number | null
  username: string | null
  hashed_password: string | null
  totp_enabled: boolean | null
  banned: boolean | null
  banned_until_ms: number | string | null
  address_attempts: number | null
  address_retry: number | null
  address_started: boolean | null
  account_attempts: number | null
  account_retry: number | null
  account_started: boolean | null
}
