import {
  and,
  eq,
  gt,
  inArray,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
  type WithSubquery,
} from 'drizzle-orm'
import { usernameKey } from '../auth/credentials'
import type { Database } from './client'
import { refreshTokens, users } from './schema'

/** Which account a token names: by id (our tokens' `uid`) or by username (the Python service's tokens). */
export type HolderKey = { id: number } | { username: string }

/** What the revocation check needs to know about an account. */
export interface TokenHolder {
  id: number
  username: string
  tokensValidAfter: Date | null
}

/** The first token of a new family (a login). */
export interface NewSession {
  tokenHash: string
  familyId: string
  userId: number
  now: Date
  expiresAt: Date
  sessionExpiresAt: Date
}

/** A rotation: the presented token's hash, its successor's, and when the successor would expire. */
export interface Rotation {
  tokenHash: string
  successorHash: string
  now: Date
  expiresAt: Date
}

/** The account behind a successful rotation, and when its session began. */
export interface RotatedSession {
  userId: number
  username: string
  sessionStartedAt: Date
}

/** A stored refresh token, as the reuse check sees it. */
export interface StoredRefreshToken {
  familyId: string
  userId: number
  expiresAt: Date
  consumedAt: Date | null
  revokedAt: Date | null
}

/** A timestamp parameter typed for Postgres, so every driver sends it the same way. */
const at = (moment: Date): SQL => sql`${moment.toISOString()}::timestamptz`

/** The first moment after the user's cut-off (NULL when there is none; `greatest` skips NULLs). */
const afterCutOff = sql`${users.tokensValidAfter} + interval '1 millisecond'`

/** `key` as a condition on `users` (a username is compared by its key). */
export function holderCondition(key: HolderKey): SQL | undefined {
  return 'id' in key ? eq(users.id, key.id) : eq(users.usernameKey, usernameKey(key.username))
}

/** Loads what the revocation check needs, or undefined when the account no longer exists. */
export async function findTokenHolder(
  db: Database,
  key: HolderKey,
): Promise<TokenHolder | undefined> {
  const rows = await db
    .select({ id: users.id, username: users.username, tokensValidAfter: users.tokensValidAfter })
    .from(users)
    .where(holderCondition(key))
    .limit(1)
  return rows[0]
}

/**
 * Starts a family, in one statement that also deletes the user's expired and revoked tokens.
 * The row is inserted only if the user still exists (no foreign-key error when the account was
 * deleted meanwhile), and the session starts at least a millisecond after the user's
 * `tokens_valid_after`, so a login in the same millisecond as a logout, or on an instance whose
 * clock lags the one that logged out, is not born dead.
 * `alongside` are data-modifying `WITH` queries run in the same statement (a login's throttle
 * reset, a rehash), so that they cost no round trip of their own.
 * @returns when the session began, or undefined when the user no longer exists (nothing written).
 */
export async function insertSession(
  db: Database,
  s: NewSession,
  alongside: WithSubquery[] = [],
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
  const rows = await db
    .with(pruned, ...alongside)
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
        })
        .from(users)
        .where(eq(users.id, s.userId)),
    )
    .returning({ sessionStartedAt: refreshTokens.sessionStartedAt })
  return rows[0]?.sessionStartedAt
}

/**
 * Consumes a refresh token and stores its successor, in one statement: the UPDATE marks the token
 * consumed only if it is unconsumed, unrevoked, unexpired and its session started after the
 * user's `tokens_valid_after`; the INSERT takes family, user and session bounds from the UPDATE's
 * output. Two concurrent rotations of one token cannot both match the UPDATE (Postgres re-checks
 * the WHERE on the row the winner changed), so exactly one gets a successor. Comparing the
 * session's start, not the token's, also ends a successor written while a logout ran: the logout's
 * revoking UPDATE cannot see it, but its session started before the new `tokens_valid_after`.
 * @returns the account, or undefined when the token was not usable (nothing was written).
 */
export async function rotateRefreshToken(
  db: Database,
  r: Rotation,
): Promise<RotatedSession | undefined> {
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
        ),
      )
      .returning({
        familyId: refreshTokens.familyId,
        userId: refreshTokens.userId,
        sessionStartedAt: refreshTokens.sessionStartedAt,
        sessionExpiresAt: refreshTokens.sessionExpiresAt,
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
          })
          .from(consumed),
      )
      .returning({ familyId: refreshTokens.familyId }),
  )
  const rows = await db
    .with(consumed, successor)
    .select({
      userId: consumed.userId,
      username: consumed.username,
      sessionStartedAt: consumed.sessionStartedAt,
    })
    .from(successor)
    .innerJoin(consumed, eq(consumed.familyId, successor.familyId))
  return rows[0]
}

/** Reads a stored refresh token by hash, to tell why it could not be rotated. */
export async function findRefreshToken(
  db: Database,
  tokenHash: string,
): Promise<StoredRefreshToken | undefined> {
  const rows = await db
    .select({
      familyId: refreshTokens.familyId,
      userId: refreshTokens.userId,
      expiresAt: refreshTokens.expiresAt,
      consumedAt: refreshTokens.consumedAt,
      revokedAt: refreshTokens.revokedAt,
    })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .limit(1)
  return rows[0]
}

/** Revokes every token of a family that is not revoked yet. @returns how many were revoked. */
export async function revokeFamily(db: Database, familyId: string, now: Date): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    .returning({ userId: refreshTokens.userId })
  return rows.length
}

/**
 * Revokes the family of the token with this hash, in one statement.
 * @returns the family's user, or undefined when the token is unknown or its family already revoked.
 */
export async function revokeFamilyOf(
  db: Database,
  tokenHash: string,
  now: Date,
): Promise<{ userId: number } | undefined> {
  const family = db
    .select({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(inArray(refreshTokens.familyId, family), isNull(refreshTokens.revokedAt)))
    .returning({ userId: refreshTokens.userId })
  return rows[0]
}

/**
 * Ends every session of a user, in one statement: moves `tokens_valid_after` forward and revokes
 * all the user's refresh tokens, or does neither if the user is gone. The new cut-off is `now`, but
 * at least a millisecond after the old one: tokens and sessions begun since the old cut-off are
 * dated at least that late (see `TokenSubject` in auth/tokens.ts), and this cut must reach them.
 * `extra` may change other columns of the same row in the same statement (a new password hash);
 * `expectedHash`, when given, makes the whole change conditional on the stored hash (compare-and-set).
 * `alongside` are data-modifying `WITH` queries run in the same statement (the throttle reset of a
 * confirmed password).
 * @returns whether the user row was changed.
 */
export async function endSessions(
  db: Database,
  userId: number,
  now: Date,
  change: { newHash: string; expectedHash: string } | undefined = undefined,
  alongside: WithSubquery[] = [],
): Promise<boolean> {
  const changed = db.$with('changed').as(
    db
      .update(users)
      .set({
        tokensValidAfter: sql`greatest(${at(now)}, ${afterCutOff})`,
        updatedAt: sql`now()`,
        ...(change === undefined ? {} : { hashedPassword: change.newHash }),
      })
      .where(
        and(
          eq(users.id, userId),
          change === undefined ? undefined : eq(users.hashedPassword, change.expectedHash),
        ),
      )
      .returning({ id: users.id }),
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
  const rows = await db
    .with(changed, revoked, ...alongside)
    .select({ id: changed.id })
    .from(changed)
  return rows.length === 1
}
