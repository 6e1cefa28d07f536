import { sql } from 'drizzle-orm'
import { type Database, rowsOf } from './client'
import {
  type AttemptCount,
  type AttemptLimit,
  attemptCountOf,
  attemptUpsert,
  NO_ATTEMPT,
} from './throttle'
import type { PublicUser } from './users'

/** The counter a registration is counted against, and its limit. */
export interface RegistrationCounter {
  key: string
  limit: AttemptLimit
  nowMs: number
}

/** What {@link insertUserCountingAttempt} did. */
export interface CountedRegistration {
  /** The new account; null when the name is taken or the counter refused the attempt. */
  user: PublicUser | null
  /**
   * When no account was created and the counter did not refuse: true if the key was free but an
   * account with the same skeleton (a look-alike) was there as the statement began.
   */
  lookAlike: boolean
  /** The counter after this attempt; undefined when none was given. */
  count: AttemptCount | undefined
}

interface Row {
  id: number | null
  name: string | null
  username: string | null
  attempts: number | null
  retry_after_seconds: number | null
  block_started: boolean | null
  look_alike: boolean
}

/**
 * A registration in one statement: counts the attempt against `counter` (when given) and creates
 * the account unless that count blocks it or the username is taken: its key or its skeleton is
 * already in use (both unique indexes). Both happen atomically, so concurrent registrations from
 * one address cannot slip past the limit, nor two look-alikes both be created.
 */
export async function insertUserCountingAttempt(
  db: Database,
  values: {
    name: string
    username: string
    usernameKey: string
    usernameSkeleton: string
    hashedPassword: string
  },
  counter: RegistrationCounter | undefined,
): Promise<CountedRegistration> {
  const counted = counter
    ? attemptUpsert(sql`${counter.key}`, counter.limit, counter.nowMs)
    : NO_ATTEMPT
  const result = await db.execute(sql`
    with counted as (${counted}),
    created as (
      insert into users (name, username, username_key, username_skeleton, hashed_password)
      select ${values.name}, ${values.username}, ${values.usernameKey}, ${values.usernameSkeleton},
        ${values.hashedPassword}
      where not exists (select 1 from counted where retry_after_seconds > 0)
      on conflict do nothing
      returning id, name, username
    )
    select created.id, created.name, created.username,
      counted.attempts, counted.retry_after_seconds, counted.block_started,
      not exists (select 1 from users where username_key = ${values.usernameKey})
        and exists (select 1 from users where username_skeleton = ${values.usernameSkeleton})
        as look_alike
    from (select 1) as one left join counted on true left join created on true`)
  const [row] = rowsOf<Row>(result)
  if (row === undefined) throw new Error('registration statement returned no row')
  return {
    user:
      row.id === null
        ? null
        : { id: row.id, name: row.name as string, username: row.username as string },
    lookAlike: row.id === null && row.look_alike === true,
    count: attemptCountOf(row.attempts, row.retry_after_seconds, row.block_started),
  }
}
