/**
 * The check of a password someone types for an existing account, and how a refusal of the login
 * throttle is logged: shared by the password grant (use-cases/login.ts) and the account changes
 * that ask for the current password (use-cases/account.ts).
 */
import type { ThrottleVerdict } from '../auth/throttle'
import type { AttemptReset } from '../db/throttle'
import type { LoginUser } from '../db/users'
import type { Logger } from '../logger'
import type { AppServices } from '../types'

/**
 * Who makes an attempt (a login, a password check, a registration): the request's logger and the
 * address the limits count (if any).
 */
export interface Attempt {
  log: Logger
  address: string | undefined
}

/** A flow refused by a limit until its block ends (answered 429 with `Retry-After`). */
export interface Throttled {
  ok: false
  reason: 'throttled'
  retryAfterSeconds: number
}

/** The outcome of {@link checkPassword}. */
export type PasswordCheck =
  | { ok: true; reset: AttemptReset }
  | Throttled
  | { ok: false; reason: 'wrong_password' }

/**
 * Checks the current password of `account` under the same throttle as the password grant (the
 * account's and the address's failed-login counts): counted in one statement before any hashing,
 * refused while blocked. A wrong password is logged as `failEvent`. On success it returns the
 * counter reset, for the statement that makes the change to apply, so that a success costs no
 * round trip of its own.
 */
export async function checkPassword(
  deps: Pick<AppServices, 'throttle' | 'passwords'>,
  { log, address }: Attempt,
  account: LoginUser,
  password: string,
  failEvent: string,
): Promise<PasswordCheck> {
  const { verdict } = await deps.throttle.countLogin(account.username, address)
  if (!verdict.allowed) return throttledAttempt(log, verdict, account.id, failEvent)
  if (!(await deps.passwords.verify(password, account.hashedPassword))) {
    log.warn(failEvent, { user_id: account.id, reason: 'wrong_password' })
    return { ok: false, reason: 'wrong_password' }
  }
  return { ok: true, reset: deps.throttle.loginSucceeded(account.id, address) }
}

/**
 * A password attempt the throttle refused, logged: the block's start once (`authn_login_lock` for
 * an account, `excess_rate_limit_exceeded` for an address), then `failEvent` with reason `throttled`.
 */
export function throttledAttempt(
  log: Logger,
  verdict: Extract<ThrottleVerdict, { allowed: false }>,
  userId: number | undefined,
  failEvent: string,
): Throttled {
  const fields = { user_id: userId, scope: verdict.scope }
  if (verdict.blockStarted) {
    const event =
      verdict.scope === 'loginAccount' ? 'authn_login_lock' : 'excess_rate_limit_exceeded'
    log.warn(event, { ...fields, retry_after: verdict.retryAfterSeconds })
  }
  log.warn(failEvent, { ...fields, reason: 'throttled' })
  return { ok: false, reason: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds }
}
