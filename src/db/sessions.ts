import {
  and,
  eq,
  gt,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
  type WithSubquery,
} from 'drizzle-orm'
import { notBannedAt } from './bans'
import type { Database } from './client'
import { type RefreshToken, refreshTokens, type User, users } from './schema'
import {
  type AttemptCount,
  type AttemptLimit,
  type AttemptReset,
  attemptCountOf,
  attemptResetQueries,
  attemptUpsert,
  NO_ATTEMPT,
} from './throttle'
import { type HashReplacement, recordLoginQuery, type TokenHolder, type UserRef } from './users'

/** Which account to read: by id, or by the key of its username (`usernameKey`, computed by the caller). */
export type AccountKey = { id: number } | { usernameKey: string }

/** The first token of a new family (a login). */
export interface NewSession {
  tokenHash: string
  familyId: string
  userId: number
  now: Date
  expiresAt: Date
  sessionExpiresAt: Date
  /** How the login was authenticated (RFC 8176 values, space-separated), kept by every rotation. */
  amr: string
}

/**
 * A rotation: the presented token's hash, its successor's, when the successor would expire, the
 * family's refresh limit, and which of the family's consumed rows to keep.
 */
export interface Rotation {
  tokenHash: string
  successorHash: string
  now: Date
  expiresAt: Date
  /** Refresh attempts allowed per family and window; undefined when there is no limit. */
  limit: AttemptLimit | undefined
  /** Consumed rows of the family consumed after this moment may be kept (the grace window). */
  keepConsumedAfter: Date
  /** How many of those, besides the token this rotation consumes, are kept (the latest). */
  keepConsumed: number
}

/** The account behind a successful rotation, and when its session began. */
export type RotatedSession = Pick<RefreshToken, 'userId' | 'sessionStartedAt' | 'amr'> &
  Pick<User, 'username'>

/** What {@link rotateRefreshToken} did. */
export type RotationResult =
  | { outcome: 'rotated'; session: RotatedSession }
  /** The family's refresh limit refused the attempt; nothing was consumed. */
  | { outcome: 'throttled'; userId: number; count: AttemptCount }
  /** Nothing was written but the attempt's count: the token is unknown or not usable. */
  | { outcome: 'refused' }

/**
 * A stored refresh token, as the reuse check sees it: the row of the presented token (`exact`),
 * or, when that row is gone, a row of the family the token names (one not revoked if any is).
 */
export type StoredRefreshToken = { exact: boolean } & Pick<
  RefreshToken,
  'familyId' | 'userId' | 'expiresAt' | 'consumedAt' | 'revokedAt'
>

/** A timestamp parameter typed for Postgres, so every driver sends it the same way. */
const at = (moment: Date): SQL => sql`${moment.toISOString()}::timestamptz`

/** The first moment after the user's cut-off (NULL when there is none; `greatest` skips NULLs). */
const afterCutOff = sql`${users.tokensValidAfter} + interval '1 millisecond'`

/** `key` as a condition on `users`. */
export function accountCondition(key: AccountKey): SQL | undefined {
  return 'id' in key ? eq(users.id, key.id) : eq(users.usernameKey, key.usernameKey)
}

/** Loads what the revocation check needs, or undefined when the account no longer exists. */
export async function findTokenHolder(
  db: Database,
  key: AccountKey,
): Promise<TokenHolder | undefined> {
  const rows = await db
    .select({ id: users.id, username: users.username, tokensValidAfter: users.tokensValidAfter })
    .from(users)
    .where(accountCondition(key))
    .limit(1)
  return rows[0]
}

/**
 * Starts a family, in one statement that also deletes the user's expired and revoked tokens.
 * The row is inserted only if the user still exists (no foreign-key error when the account was
 * deleted meanwhile), and the session starts at least a millisecond after the user's
 * `tokens_valid_after`, so a login in the same millisecond as a logout, or on an instance whose
 * clock lags the one that logged out, is not born dead.
 * The same statement applies `alongside.reset` (the login's throttle reset) and records the login
 * on the account (`last_login_at`, and `alongside.rehash`: a fresh hash of the password just
 * verified, stored only if the verified one is still there; see `recordLoginQuery`), so that they
 * cost no round trip of their own. An account banned since the login read it gets no session, and
 * its row is left as it was.
 * @returns when the session began, or undefined when the user no longer exists or is banned
 * (nothing written).
 */
export async function startSession(
  db: Database,
  s: NewSession,
  alongside: { reset?: AttemptReset | undefined; rehash?: HashReplacement | undefined } = {},
): Promise<Date | undefined> {
  const pruned = db.$with('pruned').as(
    db
      .delete(refreshTokens)
      .where(
        and(
          eq(refreshTokens.userId, s.userId),
          or(lte(refreshTokens.expiresAt, s.now), sql`${refreshTokens.revokedAt} is not null`),
        ),
      )
      .returning({ tokenHash: refreshTokens.tokenHash }),
  )
  const recorded = db
    .$with('login_recorded')
    .as(recordLoginQuery(db, s.userId, s.now, alongside.rehash))
  const queries: WithSubquery[] = [pruned, recorded, ...attemptResetQueries(db, alongside.reset)]
  const rows = await db
    .with(...queries)
    .insert(refreshTokens)
    .select((qb) =>
      qb
        .select({
          tokenHash: sql`${s.tokenHash}`.as('token_hash'),
          familyId: sql`${s.familyId}::uuid`.as('family_id'),
          userId: users.id,
          createdAt: sql`${at(s.now)}`.as('created_at'),
          expiresAt: sql`${at(s.expiresAt)}`.as('expires_at'),
          sessionStartedAt: sql`greatest(${at(s.now)}, ${afterCutOff})`.as('session_started_at'),
          sessionExpiresAt: sql`${at(s.sessionExpiresAt)}`.as('session_expires_at'),
          consumedAt: sql`null`.as('consumed_at'),
          revokedAt: sql`null`.as('revoked_at'),
          amr: sql`${s.amr}::text`.as('amr'),
        })
        .from(users)
        .where(and(eq(users.id, s.userId), notBannedAt(s.now))),
    )
    .returning({ sessionStartedAt: refreshTokens.sessionStartedAt })
  return rows[0]?.sessionStartedAt
}

/** The `auth_throttle` key that counts refresh attempts of a family. */
export const refreshFamilyKey = (familyId: SQL | string): SQL =>
  sql`'refresh-family:' || ${familyId}::text`

/**
 * Consumes a refresh token and stores its successor, in one statement:
 * - it counts the attempt against the family's counter in `auth_throttle` (when the token is
 *   known and there is a limit), with the same atomic upsert as the login limits, so concurrent
 *   attempts on any instance are all counted;
 * - the UPDATE marks the token consumed only if that count did not block it and the token is
 *   unconsumed, unrevoked, unexpired and its session started after the user's
 *   `tokens_valid_after`; the INSERT takes family, user and session bounds from the UPDATE's output;
 * - the DELETE removes the family's older consumed rows, but the `keepConsumed` latest consumed
 *   after `keepConsumedAfter` (the grace window), so a family holds at most `keepConsumed + 2` rows
 *   however often it is refreshed. It cannot see the row this UPDATE consumes (one snapshot), so
 *   that row is kept too.
 * Two concurrent rotations of one token cannot both match the UPDATE (Postgres re-checks the WHERE
 * on the row the winner changed), so exactly one gets a successor. Comparing the session's start,
 * not the token's, also ends a successor written while a logout ran: the logout's revoking UPDATE
 * cannot see it, but its session started before the new `tokens_valid_after`.
 * @returns the account, the refusal of the limit, or `refused` when nothing else was written.
 */
export async function rotateRefreshToken(db: Database, r: Rotation): Promise<RotationResult> {
  const presented = db
    .$with('presented')
    .as(
      db
        .select({ familyId: refreshTokens.familyId, userId: refreshTokens.userId })
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, r.tokenHash)),
    )
  const counted = db
    .$with('counted', {
      attempts: sql<number | null>`attempts`.as('attempts'),
      retryAfterSeconds: sql<number | null>`retry_after_seconds`.as('retry_after_seconds'),
      blockStarted: sql<boolean | null>`block_started`.as('block_started'),
    })
    .as(
      r.limit === undefined
        ? NO_ATTEMPT
        : attemptUpsert(
            sql`(select ${refreshFamilyKey(sql`family_id`)} from presented)`,
            r.limit,
            r.now.getTime(),
            sql`exists (select 1 from presented)`,
          ),
    )
  const consumed = db.$with('consumed').as(
    db
      .update(refreshTokens)
      .set({ consumedAt: r.now })
      .from(users)
      .where(
        and(
          eq(refreshTokens.tokenHash, r.tokenHash),
          eq(users.id, refreshTokens.userId),
          isNull(refreshTokens.consumedAt),
          isNull(refreshTokens.revokedAt),
          gt(refreshTokens.expiresAt, r.now),
          or(
            isNull(users.tokensValidAfter),
            lt(users.tokensValidAfter, refreshTokens.sessionStartedAt),
          ),
          sql`not exists (select 1 from counted where retry_after_seconds > 0)`,
        ),
      )
      .returning({
        familyId: refreshTokens.familyId,
        userId: refreshTokens.userId,
        sessionStartedAt: refreshTokens.sessionStartedAt,
        sessionExpiresAt: refreshTokens.sessionExpiresAt,
        amr: refreshTokens.amr,
        username: users.username,
      }),
  )
  const successor = db.$with('successor').as(
    db
      .insert(refreshTokens)
      .select((qb) =>
        qb
          .select({
            tokenHash: sql`${r.successorHash}`.as('token_hash'),
            familyId: consumed.familyId,
            userId: consumed.userId,
            createdAt: sql`${at(r.now)}`.as('created_at'),
            expiresAt: sql`least(${at(r.expiresAt)}, ${consumed.sessionExpiresAt})`.as(
              'expires_at',
            ),
            sessionStartedAt: consumed.sessionStartedAt,
            sessionExpiresAt: consumed.sessionExpiresAt,
            consumedAt: sql`null`.as('consumed_at'),
            revokedAt: sql`null`.as('revoked_at'),
            amr: consumed.amr,
          })
          .from(consumed),
      )
      .returning({ familyId: refreshTokens.familyId }),
  )
  const family = sql`(select family_id from consumed)`
  const pruned = db.$with('pruned').as(
    db
      .delete(refreshTokens)
      .where(
        and(
          sql`${refreshTokens.familyId} = ${family}`,
          isNotNull(refreshTokens.consumedAt),
          sql`${refreshTokens.tokenHash} not in (
            select kept.token_hash from refresh_tokens kept
            where kept.family_id = ${family} and kept.consumed_at > ${at(r.keepConsumedAfter)}
            order by kept.consumed_at desc limit ${r.keepConsumed}::int)`,
        ),
      )
      .returning({ tokenHash: refreshTokens.tokenHash }),
  )
  const rows = await db
    .with(presented, counted, consumed, successor, pruned)
    .select({
      presentedUserId: presented.userId,
      attempts: counted.attempts,
      retryAfterSeconds: counted.retryAfterSeconds,
      blockStarted: counted.blockStarted,
      userId: consumed.userId,
      username: consumed.username,
      sessionStartedAt: consumed.sessionStartedAt,
      amr: consumed.amr,
      successorFamilyId: successor.familyId,
    })
    .from(presented)
    .leftJoin(counted, sql`true`)
    .leftJoin(consumed, sql`true`)
    .leftJoin(successor, sql`true`)
  const row = rows[0]
  if (row === undefined) return { outcome: 'refused' }
  const { userId, username, sessionStartedAt } = row
  if (userId !== null && username !== null && sessionStartedAt !== null && row.successorFamilyId) {
    return { outcome: 'rotated', session: { userId, username, sessionStartedAt, amr: row.amr } }
  }
  const count = attemptCountOf(row.attempts, row.retryAfterSeconds, row.blockStarted)
  if (count?.retryAfterSeconds != null && count.retryAfterSeconds > 0) {
    return { outcome: 'throttled', userId: row.presentedUserId, count }
  }
  return { outcome: 'refused' }
}

/**
 * Reads the stored refresh token with this hash, to tell why it could not be rotated; when it is
 * gone and the token names its family (`familyId`), a row of that family instead (one that is not
 * revoked when there is one). One query, either way.
 */
export async function findRefreshToken(
  db: Database,
  tokenHash: string,
  familyId: string | undefined,
): Promise<StoredRefreshToken | undefined> {
  const exact = eq(refreshTokens.tokenHash, tokenHash)
  const rows = await db
    .select({
      tokenHash: refreshTokens.tokenHash,
      familyId: refreshTokens.familyId,
      userId: refreshTokens.userId,
      expiresAt: refreshTokens.expiresAt,
      consumedAt: refreshTokens.consumedAt,
      revokedAt: refreshTokens.revokedAt,
    })
    .from(refreshTokens)
    .where(familyId === undefined ? exact : or(exact, eq(refreshTokens.familyId, familyId)))
    .orderBy(sql`${exact} desc`, sql`${refreshTokens.revokedAt} is null desc`)
    .limit(1)
  const row = rows[0]
  if (row === undefined) return undefined
  const { tokenHash: found, ...stored } = row
  return { exact: found === tokenHash, ...stored }
}

/**
 * Revokes the family of a refresh token, in one statement: the family its row belongs to, or the
 * one the token names (`familyId`, the family part of a token whose row is gone).
 * @returns the family's user, or undefined when the token is unknown or its family already revoked.
 */
export async function revokeFamilyOf(
  db: Database,
  token: { tokenHash: string; familyId: string | undefined },
  now: Date,
): Promise<{ userId: number } | undefined> {
  const family =
    token.familyId === undefined
      ? inArray(
          refreshTokens.familyId,
          db
            .select({ familyId: refreshTokens.familyId })
            .from(refreshTokens)
            .where(eq(refreshTokens.tokenHash, token.tokenHash)),
        )
      : eq(refreshTokens.familyId, token.familyId)
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(family, isNull(refreshTokens.revokedAt)))
    .returning({ userId: refreshTokens.userId })
  return rows[0]
}

/**
 * Ends every session of a user, in one statement: moves `tokens_valid_after` forward and revokes
 * all the user's refresh tokens, or does neither if the user is gone. The new cut-off is `now`, but
 * at least a millisecond after the old one: tokens and sessions begun since the old cut-off are
 * dated at least that late (see `TokenSubject` in auth/tokens.ts), and this cut must reach them.
 * `change`, when given, also replaces the password hash, and makes the whole change conditional on
 * the stored hash being its `expectedHash` (compare-and-set). `reset` (the throttle reset of a
 * confirmed password) is applied by the same statement.
 * @returns whether the user row was changed.
 */
export async function endSessions(
  db: Database,
  userId: number,
  now: Date,
  change: HashReplacement | undefined = undefined,
  reset: AttemptReset | undefined = undefined,
): Promise<boolean> {
  const ended = await endSessionsWhere(
    db,
    and(
      eq(users.id, userId),
      change === undefined ? undefined : eq(users.hashedPassword, change.expectedHash),
    ),
    now,
    change === undefined ? {} : { hashedPassword: change.newHash },
    attemptResetQueries(db, reset),
  )
  return ended !== undefined
}

/** Columns of `users` that may change in the statement that ends a user's sessions. */
export type SessionEndingChange = Partial<
  Pick<typeof users.$inferInsert, 'hashedPassword' | 'bannedAt' | 'bannedUntil' | 'banReason'>
>

/**
 * Ends every session of a user as {@link endSessions} does, and makes `change` to the same row in
 * the same statement, unconditionally (an administrator's ban, or new password).
 * @returns the user, or undefined when there is none (nothing written).
 */
export function endSessionsChanging(
  db: Database,
  userId: number,
  now: Date,
  change: SessionEndingChange,
): Promise<UserRef | undefined> {
  return endSessionsWhere(db, eq(users.id, userId), now, change, [])
}

/**
 * Ends every session of the user of a family that is still a session (a row not revoked, begun
 * after the user's `tokens_valid_after`), as {@link endSessions} does, in one statement: what reuse
 * detection does. A family already ended (by a logout, or a concurrent detection) changes nothing,
 * so a login made since is not ended by a late duplicate.
 * @returns the user whose sessions were ended, or undefined when nothing was written.
 */
export function endSessionsOfFamily(
  db: Database,
  familyId: string,
  now: Date,
): Promise<UserRef | undefined> {
  const live = db
    .select({ userId: refreshTokens.userId })
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.familyId, familyId),
        isNull(refreshTokens.revokedAt),
        or(
          isNull(users.tokensValidAfter),
          lt(users.tokensValidAfter, refreshTokens.sessionStartedAt),
        ),
      ),
    )
  return endSessionsWhere(db, inArray(users.id, live), now, {}, [])
}

/**
 * The data-modifying `WITH` queries that end every session of the users `which` selects (db/ only):
 * `changed` moves their `tokens_valid_after` on and makes `extra`'s change, returning each user's
 * id and username; `revoked` revokes their refresh tokens. A statement built on them also cuts
 * off the `mfa_token`s handed out before it (see `consumeChallenge` in db/mfa.ts).
 */
export function sessionEndingQueries(
  db: Database,
  which: SQL | undefined,
  now: Date,
  extra: SessionEndingChange,
) {
  const changed = db.$with('changed').as(
    db
      .update(users)
      .set({
        tokensValidAfter: sql`greatest(${at(now)}, ${afterCutOff})`,
        updatedAt: sql`now()`,
        ...extra,
      })
      .where(which)
      .returning({ id: users.id, username: users.username }),
  )
  const revoked = db.$with('revoked').as(
    db
      .update(refreshTokens)
      .set({ revokedAt: now })
      .where(
        and(
          inArray(refreshTokens.userId, db.select({ id: changed.id }).from(changed)),
          isNull(refreshTokens.revokedAt),
        ),
      )
      .returning({ userId: refreshTokens.userId }),
  )
  return { changed, revoked }
}

/** The statement of {@link endSessions} and {@link endSessionsOfFamily}, for the users `which` selects. */
async function endSessionsWhere(
  db: Database,
  which: SQL | undefined,
  now: Date,
  extra: SessionEndingChange,
  alongside: WithSubquery[],
): Promise<UserRef | undefined> {
  const { changed, revoked } = sessionEndingQueries(db, which, now, extra)
  const rows = await db
    .with(changed, revoked, ...alongside)
    .select({ id: changed.id, username: changed.username })
    .from(changed)
  return rows[0]
}
