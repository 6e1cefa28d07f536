import { and, eq, gt, isNotNull, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm'
import { bannedAt } from './bans'
import { type Database, rowsOf } from './client'
import { mfaChallenges, users, userTotp } from './schema'
import {
  type AttemptCount,
  type AttemptLimit,
  type AttemptRelease,
  type AttemptReset,
  attemptCountOf,
  attemptReleaseQueries,
  attemptResetQueries,
  attemptUpsert,
  NO_ATTEMPT,
} from './throttle'
import type { HashReplacement } from './users'

/** A user's TOTP state, as the second-factor checks need it (secrets still encrypted). */
export interface TotpState {
  /** The encrypted secret in force, or null when TOTP is off. */
  secret: string | null
  enabled: boolean
  lastUsedStep: number | null
  /** How many unused recovery codes are left. */
  recoveryCodesLeft: number
  /** The encrypted secret of an enrolment not yet confirmed, and when it began. */
  pendingSecret: string | null
  pendingAt: Date | null
}

/** Loads a user's TOTP state; undefined when they never started an enrolment. */
export async function findTotp(db: Database, userId: number): Promise<TotpState | undefined> {
  const rows = await db
    .select({
      secret: userTotp.secret,
      enabledAt: userTotp.enabledAt,
      lastUsedStep: userTotp.lastUsedStep,
      recoveryCodesLeft: sql<number>`cardinality(${userTotp.recoveryCodes})::int`,
      pendingSecret: userTotp.pendingSecret,
      pendingAt: userTotp.pendingAt,
    })
    .from(userTotp)
    .where(eq(userTotp.userId, userId))
  const row = rows[0]
  if (row === undefined) return undefined
  const { enabledAt, ...rest } = row
  return { ...rest, enabled: enabledAt !== null && row.secret !== null }
}

/** Whether a user has TOTP on, as an SQL expression over `users.id` (for the reads that need it). */
export const totpEnabledOf = (userId: SQL | typeof users.id): SQL<boolean> =>
  sql<boolean>`exists (select 1 from ${userTotp} where ${userTotp.userId} = ${userId} and ${userTotp.enabledAt} is not null)`

/**
 * Stores a new pending enrolment (replacing any earlier pending one), in one statement that also
 * applies `reset` (the throttle's reset of the password that allowed it); the row is written only
 * while the user exists. The secret in force, if any, is untouched.
 * @returns false when the user is gone.
 */
export async function savePendingTotp(
  db: Database,
  userId: number,
  encryptedSecret: string,
  now: Date,
  reset?: AttemptReset,
): Promise<boolean> {
  const rows = await db
    .with(...attemptResetQueries(db, reset))
    .insert(userTotp)
    .select((qb) =>
      qb
        .select({
          userId: users.id,
          secret: sql`null`.as('secret'),
          enabledAt: sql`null`.as('enabled_at'),
          lastUsedStep: sql`null`.as('last_used_step'),
          recoveryCodes: sql`'{}'::text[]`.as('recovery_codes'),
          pendingSecret: sql`${encryptedSecret}::text`.as('pending_secret'),
          pendingAt: sql`${now.toISOString()}::timestamptz`.as('pending_at'),
        })
        .from(users)
        .where(eq(users.id, userId)),
    )
    .onConflictDoUpdate({
      target: userTotp.userId,
      set: { pendingSecret: encryptedSecret, pendingAt: now },
    })
    .returning({ userId: userTotp.userId })
  return rows.length === 1
}

/**
 * Completes an enrolment, in one statement: the pending secret (only if it is still `pendingSecret`,
 * the one the code was checked against, and began after `startedAfter`) becomes the secret in force,
 * with `step` as its last used step and `recoveryCodeHashes` as the only recovery codes; `release`
 * (the throttle's attempt given back) rides on the same statement.
 * @returns false when nothing matched (the enrolment expired, was replaced, or the user is gone).
 */
export async function activatePendingTotp(
  db: Database,
  a: {
    userId: number
    pendingSecret: string
    startedAfter: Date
    step: number
    recoveryCodeHashes: string[]
    now: Date
    release?: AttemptRelease | undefined
  },
): Promise<boolean> {
  const rows = await db
    .with(...attemptReleaseQueries(db, a.release))
    .update(userTotp)
    .set({
      secret: a.pendingSecret,
      enabledAt: a.now,
      lastUsedStep: a.step,
      recoveryCodes: a.recoveryCodeHashes,
      pendingSecret: null,
      pendingAt: null,
    })
    .where(
      and(
        eq(userTotp.userId, a.userId),
        eq(userTotp.pendingSecret, a.pendingSecret),
        gt(userTotp.pendingAt, a.startedAfter),
      ),
    )
    .returning({ userId: userTotp.userId })
  return rows.length === 1
}

/**
 * Accepts a TOTP code of time step `step`, in one statement: records it as the last used step only
 * if TOTP is on and no code of this step or a later one was accepted before, so two requests with
 * one code (or codes of one step) cannot both pass. `reset` (the throttle's reset of a success)
 * rides on the same statement.
 * @returns whether the code was accepted.
 */
export async function acceptTotpStep(
  db: Database,
  userId: number,
  step: number,
  reset?: AttemptReset,
): Promise<boolean> {
  const rows = await db
    .with(...attemptResetQueries(db, reset))
    .update(userTotp)
    .set({ lastUsedStep: step })
    .where(
      and(
        eq(userTotp.userId, userId),
        isNotNull(userTotp.enabledAt),
        or(isNull(userTotp.lastUsedStep), lt(userTotp.lastUsedStep, step)),
      ),
    )
    .returning({ userId: userTotp.userId })
  return rows.length === 1
}

/**
 * Uses up a recovery code, in one statement: removes its hash from the user's set only if it is
 * there, so a code works once even when sent twice at the same moment.
 * @returns how many codes are left, or undefined when the code was not one of the user's.
 */
export async function useRecoveryCode(
  db: Database,
  userId: number,
  codeHash: string,
  reset?: AttemptReset,
): Promise<number | undefined> {
  const rows = await db
    .with(...attemptResetQueries(db, reset))
    .update(userTotp)
    .set({ recoveryCodes: sql`array_remove(${userTotp.recoveryCodes}, ${codeHash}::text)` })
    .where(
      and(
        eq(userTotp.userId, userId),
        isNotNull(userTotp.enabledAt),
        sql`${codeHash}::text = any(${userTotp.recoveryCodes})`,
      ),
    )
    .returning({ left: sql<number>`cardinality(${userTotp.recoveryCodes})::int` })
  return rows[0]?.left
}

/**
 * Replaces every recovery code of a user with TOTP on by `hashes`, in one statement.
 * @returns false when TOTP is off (or the user is gone).
 */
export async function replaceRecoveryCodes(
  db: Database,
  userId: number,
  hashes: string[],
): Promise<boolean> {
  const rows = await db
    .update(userTotp)
    .set({ recoveryCodes: hashes })
    .where(and(eq(userTotp.userId, userId), isNotNull(userTotp.enabledAt)))
    .returning({ userId: userTotp.userId })
  return rows.length === 1
}

/** Turns TOTP off: deletes the user's secret, pending enrolment and recovery codes. */
export async function deleteTotp(db: Database, userId: number): Promise<boolean> {
  const rows = await db
    .delete(userTotp)
    .where(eq(userTotp.userId, userId))
    .returning({ userId: userTotp.userId })
  return rows.length === 1
}

/** A login waiting for its second factor. */
export interface NewChallenge {
  tokenHash: string
  userId: number
  now: Date
  expiresAt: Date
}

/**
 * Stores a challenge, in one statement that also deletes the user's expired and consumed ones and
 * dates it at least a millisecond after the user's `tokens_valid_after` (as a session start is, so a
 * login in the same millisecond as a logout is not born dead; see {@link consumeChallenge}), and
 * applies `release` (the password attempt given back) and `rehash` (a fresh hash of the verified
 * password in place of one made with old parameters, only if it is still the stored one). Written only while the user exists.
 * @returns false when the user is gone.
 */
export async function insertChallenge(
  db: Database,
  c: NewChallenge,
  release?: AttemptRelease,
  rehash?: HashReplacement,
): Promise<boolean> {
  const pruned = db.$with('challenges_pruned').as(
    db
      .delete(mfaChallenges)
      .where(
        and(
          eq(mfaChallenges.userId, c.userId),
          or(lte(mfaChallenges.expiresAt, c.now), isNotNull(mfaChallenges.consumedAt)),
        ),
      )
      .returning({ tokenHash: mfaChallenges.tokenHash }),
  )
  const rehashed =
    rehash === undefined
      ? []
      : [
          db.$with('rehashed').as(
            db
              .update(users)
              .set({ hashedPassword: rehash.newHash, updatedAt: sql`now()` })
              .where(and(eq(users.id, c.userId), eq(users.hashedPassword, rehash.expectedHash)))
              .returning({ id: users.id }),
          ),
        ]
  const rows = await db
    .with(pruned, ...attemptReleaseQueries(db, release), ...rehashed)
    .insert(mfaChallenges)
    .select((qb) =>
      qb
        .select({
          tokenHash: sql`${c.tokenHash}::text`.as('token_hash'),
          userId: users.id,
          createdAt:
            sql`greatest(${c.now.toISOString()}::timestamptz, ${users.tokensValidAfter} + interval '1 millisecond')`.as(
              'created_at',
            ),
          expiresAt: sql`${c.expiresAt.toISOString()}::timestamptz`.as('expires_at'),
          consumedAt: sql`null`.as('consumed_at'),
        })
        .from(users)
        .where(eq(users.id, c.userId)),
    )
    .returning({ userId: mfaChallenges.userId })
  return rows.length === 1
}

/** What {@link consumeChallenge} counts the attempt against (the login limits). */
export interface SecondFactorCounters {
  /** The client address's counter and its limit; none when unknown or unlimited. */
  address?: { key: string; limit: AttemptLimit }
  /** The per-account limit; none when it is off. */
  account?: AttemptLimit
}

/** A consumed challenge: whose it was, their TOTP state, and the attempt's counts. */
export interface ConsumedChallenge {
  /** Undefined when the token is unknown, expired or already used. */
  user:
    | {
        id: number
        username: string
        totp: TotpState | undefined
        /** Set when the account is banned now (see db/bans.ts); `until` null: no end. */
        ban?: { until: Date | null }
      }
    | undefined
  address: AttemptCount | undefined
  account: AttemptCount | undefined
}

/**
 * A second-factor attempt's first statement: consumes the `mfa_token` (only if unused, unexpired
 * and issued after the account's `tokens_valid_after`, so a logout, a password change or a ban cuts
 * off logins still waiting for their code as it ends sessions; exactly one of concurrent attempts
 * with one token gets it), counts the attempt against
 * the client address and, unless that is blocked, the token's account (`login-user:<id>`, the
 * counter of its password attempts, see `accountKey` in auth/throttle.ts), and reads the account's
 * TOTP state. One round trip, before any code is checked.
 */
export async function consumeChallenge(
  db: Database,
  tokenHash: string,
  counters: SecondFactorCounters,
  nowMs: number,
): Promise<ConsumedChallenge> {
  const now = sql`${new Date(nowMs).toISOString()}::timestamptz`
  const addressCount: SQL = counters.address
    ? attemptUpsert(sql`${counters.address.key}::text`, counters.address.limit, nowMs)
    : NO_ATTEMPT
  const accountCount: SQL = counters.account
    ? attemptUpsert(
        sql`'login-user:' || (select user_id from ch)`,
        counters.account,
        nowMs,
        sql`exists (select 1 from ch) and not exists (select 1 from addr where retry_after_seconds > 0)`,
      )
    : NO_ATTEMPT
  const result = await db.execute(sql`
    with ch as (
      update mfa_challenges set consumed_at = ${now}
      where token_hash = ${tokenHash}::text and consumed_at is null and expires_at > ${now}
        and created_at > coalesce(
          (select tokens_valid_after from users where users.id = mfa_challenges.user_id),
          '-infinity'::timestamptz)
      returning user_id
    ),
    addr as (${addressCount}),
    acct as (${accountCount})
    select users.id, users.username, ${bannedAt(new Date(nowMs))} as banned,
      (extract(epoch from users.banned_until) * 1000)::float8 as banned_until_ms,
      t.user_id as totp_user, t.secret, t.enabled_at is not null as enabled,
      t.last_used_step, cardinality(t.recovery_codes)::int as recovery_codes_left,
      addr.attempts as address_attempts, addr.retry_after_seconds as address_retry,
      addr.block_started as address_started,
      acct.attempts as account_attempts, acct.retry_after_seconds as account_retry,
      acct.block_started as account_started
    from (select 1) as one
      left join ch on true
      left join users on users.id = ch.user_id
      left join user_totp t on t.user_id = ch.user_id
      left join addr on true left join acct on true`)
  const [row] = rowsOf<ChallengeRow>(result)
  if (row === undefined) throw new Error('second-factor statement returned no row')
  const totp: TotpState | undefined =
    row.totp_user === null
      ? undefined
      : {
          secret: row.secret,
          enabled: !!row.enabled && row.secret !== null,
          lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
          recoveryCodesLeft: Number(row.recovery_codes_left ?? 0),
          pendingSecret: null,
          pendingAt: null,
        }
  return {
    user:
      row.id === null
        ? undefined
        : {
            id: row.id,
            username: row.username as string,
            totp,
            ...(row.banned === true
              ? {
                  ban: {
                    until:
                      row.banned_until_ms === null ? null : new Date(Number(row.banned_until_ms)),
                  },
                }
              : {}),
          },
    address: attemptCountOf(row.address_attempts, row.address_retry, row.address_started),
    account: attemptCountOf(row.account_attempts, row.account_retry, row.account_started),
  }
}

interface ChallengeRow {
  id: number | null
  username: string | null
  banned: boolean | null
  banned_until_ms: number | string | null
  totp_user: number | null
  secret: string | null
  enabled: boolean | null
  last_used_step: number | string | null
  recovery_codes_left: number | string | null
  address_attempts: number | null
  address_retry: number | null
  address_started: boolean | null
  account_attempts: number | null
  account_retry: number | null
  account_started: boolean | null
}
