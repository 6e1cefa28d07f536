import { and, eq, gt, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm'
import type { Database } from './client'
import { authThrottle as t } from './schema'

/** A counter's state right after an attempt was counted. */
export interface AttemptCount {
  attempts: number
  /** Whole seconds until the block ends, or null when the key is not blocked. */
  retryAfterSeconds: number | null
  /** True when this very attempt started the block. */
  blockStarted: boolean
}

/** The limit {@link countAttempt} applies: `max` attempts per window, then a block. */
export interface AttemptLimit {
  max: number
  windowSeconds: number
  lockoutSeconds: number
}

const at = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`

/**
 * Counts one attempt against `key` and reports whether the key is blocked, in one atomic
 * upsert, so concurrent attempts (on any instance) are all counted and at most `max` pass per
 * window. A blocked key's count stays as it is; the block ends the window, so once a window or
 * a block is over the key starts afresh.
 * `nowMs` is the caller's clock, so windows follow it (and a fake clock in tests).
 */
export async function countAttempt(
  db: Database,
  key: string,
  limit: AttemptLimit,
  nowMs: number,
): Promise<AttemptCount> {
  const now = at(nowMs)
  const lockEnd = at(nowMs + limit.lockoutSeconds * 1000)
  const expired = sql`${t.resetsAt} <= ${now}`
  const blocked = sql`${t.blockedUntil} > ${now}`
  const overLimit = sql`${t.attempts} + 1 > ${limit.max}::int`
  const rows = await db
    .insert(t)
    .values({ key, attempts: 1, resetsAt: new Date(nowMs + limit.windowSeconds * 1000) })
    .onConflictDoUpdate({
      target: t.key,
      set: {
        attempts: sql`case when ${expired} then 1 when ${blocked} then ${t.attempts} else ${t.attempts} + 1 end`,
        blockedUntil: sql`case when ${expired} then null when ${blocked} then ${t.blockedUntil} when ${overLimit} then ${lockEnd} else null end`,
        resetsAt: sql`case when ${expired} then ${at(nowMs + limit.windowSeconds * 1000)} when ${blocked} then ${t.resetsAt} when ${overLimit} then ${lockEnd} else ${t.resetsAt} end`,
      },
    })
    .returning({
      attempts: t.attempts,
      retryAfterSeconds: sql<
        number | null
      >`ceil(extract(epoch from (${t.blockedUntil} - ${now})))::int`,
      blockStarted: sql<boolean>`coalesce(${t.blockedUntil} = ${lockEnd}, false)`,
    })
  const row = rows[0]
  if (row === undefined) throw new Error('auth_throttle upsert returned no row')
  return row
}

/** Forgets a key's attempts (a successful login resets its account). */
export async function clearAttempts(db: Database, key: string): Promise<void> {
  await db.delete(t).where(eq(t.key, key))
}

/**
 * Takes back one attempt counted in the current window of a key that is not blocked, so that
 * successful logins do not use up an address's allowance.
 */
export async function releaseAttempt(db: Database, key: string, nowMs: number): Promise<void> {
  const now = new Date(nowMs)
  await db
    .update(t)
    .set({ attempts: sql`${t.attempts} - 1` })
    .where(
      and(
        eq(t.key, key),
        gt(t.attempts, 0),
        gt(t.resetsAt, now),
        or(isNull(t.blockedUntil), lte(t.blockedUntil, now)),
      ),
    )
}

/**
 * Deletes up to `limit` rows whose window has ended (they would start afresh anyway), so the
 * table stays as small as the set of keys seen recently. Returns how many were deleted.
 */
export async function deleteExpiredAttempts(
  db: Database,
  nowMs: number,
  limit = 1000,
): Promise<number> {
  const stale = db
    .select({ key: t.key })
    .from(t)
    .where(lt(t.resetsAt, new Date(nowMs)))
    .limit(limit)
  const rows = await db.delete(t).where(inArray(t.key, stale)).returning({ key: t.key })
  return rows.length
}
