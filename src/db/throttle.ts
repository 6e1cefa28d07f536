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
import { type Database, rowsOf } from './client'
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

/** A row as {@link attemptUpsert} returns it. */
export interface AttemptRow {
  attempts: number
  retry_after_seconds: number | null
  block_started: boolean
}

/** A `WITH` query in place of {@link attemptUpsert} when nothing is counted: the same columns, no row. */
export const NO_ATTEMPT = sql`select null::int as attempts, null::int as retry_after_seconds, false as block_started where false`

/** An {@link AttemptCount} from a statement's columns (all null when nothing was counted). */
export function attemptCountOf(
  attempts: number | null,
  retryAfterSeconds: number | null,
  blockStarted: boolean | null,
): AttemptCount | undefined {
  return attempts === null
    ? undefined
    : { attempts, retryAfterSeconds, blockStarted: !!blockStarted }
}

/**
 * The upsert that counts one attempt against `key` (an SQL expression) when `when` holds, and
 * returns an {@link AttemptRow}, as a `WITH` query of a larger statement. It is atomic, so
 * concurrent attempts (on any instance) are all counted and at most `max` pass per window. A blocked key's count stays as it is; the block ends the window, so once a window or a
 * block is over the key starts afresh.
 * `nowMs` is the caller's clock, so windows follow it (and a fake clock in tests).
 */
export function attemptUpsert(
  key: SQL,
  limit: AttemptLimit,
  nowMs: number,
  when: SQL = sql`true`,
): SQL {
  const now = at(nowMs)
  const windowEnd = at(nowMs + limit.windowSeconds * 1000)
  const lockEnd = at(nowMs + limit.lockoutSeconds * 1000)
  const expired = sql`auth_throttle.resets_at <= ${now}`
  const blocked = sql`auth_throttle.blocked_until > ${now}`
  const overLimit = sql`auth_throttle.attempts + 1 > ${limit.max}::int`
  return sql`insert into auth_throttle (key, attempts, resets_at)
    select ${key}, 1, ${windowEnd} where ${when}
    on conflict (key) do update set
      attempts = case when ${expired} then 1 when ${blocked} then auth_throttle.attempts else auth_throttle.attempts + 1 end,
      blocked_until = case when ${expired} then null when ${blocked} then auth_throttle.blocked_until when ${overLimit} then ${lockEnd} else null end,
      resets_at = case when ${expired} then ${windowEnd} when ${blocked} then auth_throttle.resets_at when ${overLimit} then ${lockEnd} else auth_throttle.resets_at end
    returning auth_throttle.attempts,
      ceil(extract(epoch from (auth_throttle.blocked_until - ${now})))::int as retry_after_seconds,
      coalesce(auth_throttle.blocked_until = ${lockEnd}, false) as block_started`
}

/** Counts one attempt against `key` on its own (one statement); see {@link attemptUpsert}. */
export async function countAttempt(
  db: Database,
  key: string,
  limit: AttemptLimit,
  nowMs: number,
): Promise<AttemptCount | undefined> {
  const [row] = rowsOf<AttemptRow>(await db.execute(attemptUpsert(sql`${key}`, limit, nowMs)))
  return row && attemptCountOf(row.attempts, row.retry_after_seconds, row.block_started)
}

/**
 * What a confirmed password undoes in the counters: the account's count is forgotten and the
 * attempt counted against the address is given back. It rides on the statement that acts on the
 * success (starting the session, changing the password, deleting the account), so a success costs
 * no round trip of its own.
 */
export interface AttemptReset {
  /** The key whose count is forgotten (the account's). */
  clear: string
  /** The key that gets its attempt back (the address's); none when the address is unknown. */
  release: string | undefined
  nowMs: number
}

/** The DELETE that forgets a key's attempts (a successful login resets its account), as a `WITH` query. */
const clearAttemptsQuery = (db: Database, key: string) => db.delete(t).where(eq(t.key, key))

/**
 * The UPDATE that takes back one attempt counted in the current window of a key that is not
 * blocked, so that successful logins do not use up an address's allowance.
 */
function releaseAttemptQuery(db: Database, key: string, nowMs: number) {
  const now = new Date(nowMs)
  return db
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
 * The data-modifying `WITH` queries of a reset, for the statement that carries it (used by the
 * statements of db/ only; callers hand an {@link AttemptReset} in).
 */
export function attemptResetQueries(db: Database, reset: AttemptReset | undefined): WithSubquery[] {
  if (reset === undefined) return []
  const queries: WithSubquery[] = [
    db.$with('throttle_reset').as(clearAttemptsQuery(db, reset.clear).returning()),
  ]
  if (reset.release !== undefined) {
    queries.push(
      db
        .$with('throttle_release')
        .as(releaseAttemptQuery(db, reset.release, reset.nowMs).returning()),
    )
  }
  return queries
}

/**
 * What a correct password gives back while a second factor is still due: one attempt off each key
 * (the account's, the address's), as a success would, but without forgetting the account's count.
 * The statement that stores the login waiting for its second factor applies it.
 */
export interface AttemptRelease {
  keys: string[]
  nowMs: number
}

/** The data-modifying `WITH` queries of a release, for the statement that carries it (db/ only). */
export function attemptReleaseQueries(
  db: Database,
  release: AttemptRelease | undefined,
): WithSubquery[] {
  if (release === undefined) return []
  return release.keys.map((key, i) =>
    db.$with(`throttle_release_${i}`).as(releaseAttemptQuery(db, key, release.nowMs).returning()),
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
