/** The password grant: one place for what a login checks, in which order, writes and logs. */
import type { HashReplacement, LoginUser } from '../db/users'
import type { Logger } from '../logger'
import type { AppServices } from '../types'
import { requireSecondFactorLogin, type SecondFactorDue } from './mfa'
import { type Attempt, type Throttled, throttledAttempt } from './password-check'
import { type Banned, type IssuedTokens, issueTokens } from './sessions'

/** The outcome of {@link passwordLogin}. */
export type LoginOutcome =
  | { ok: true; tokens: IssuedTokens }
  | Throttled
  /** An unknown user and a wrong password alike (the logs tell them apart). */
  | { ok: false; reason: 'bad_credentials' }
  /** The password was right but the account is banned (`until` null: no end). */
  | Banned
  /** The password was right and the account has TOTP on: a second factor is due first. */
  | SecondFactorDue

const BAD_CREDENTIALS = { ok: false, reason: 'bad_credentials' } as const

/**
 * Logs a user in with a password:
 * 1. one statement finds the account and counts the attempt (address, then account or name), before
 *    any hashing; a blocked attempt is refused there;
 * 2. the password is verified (a dummy hash for an unknown name, so both cost the same);
 * 3. only then is a ban (read by the first statement) told: `banned`;
 * 4. an account with TOTP on gets no session yet: one statement stores a login waiting for its
 *    second factor (the password's attempt given back, a rehash stored) and `mfa_required` hands out its
 *    `mfa_token` (use-cases/mfa.ts; the mfa-otp grant completes the login);
 * 5. one statement starts the session (none for an account banned meanwhile), resets the counts,
 *    records the login (`last_login_at`) and, when the hash was made with older parameters,
 *    stores a fresh one (only if the verified hash is still there);
 * 6. an access token is issued for the session.
 */
export async function passwordLogin(
  deps: Pick<AppServices, 'throttle' | 'passwords' | 'sessions' | 'tokens' | 'mfa' | 'metrics'>,
  attempt: Attempt,
  username: string,
  password: string,
): Promise<LoginOutcome> {
  const outcome = await checkAndStart(deps, attempt, username, password)
  deps.metrics.login(outcome.ok ? 'success' : outcome.reason)
  return outcome
}

/** The steps of {@link passwordLogin}, without the count of its outcome. */
async function checkAndStart(
  deps: Pick<AppServices, 'throttle' | 'passwords' | 'sessions' | 'tokens' | 'mfa'>,
  { log, address }: Attempt,
  username: string,
  password: string,
): Promise<LoginOutcome> {
  const { user, verdict } = await deps.throttle.countLogin(username, address)
  if (!verdict.allowed) return throttledAttempt(log, verdict, verdict.userId, 'authn_login_fail')
  if (user === undefined) {
    await deps.passwords.verifyDummy(password)
    log.warn('authn_login_fail', { reason: 'unknown_user' })
    return BAD_CREDENTIALS
  }
  if (!(await deps.passwords.verify(password, user.hashedPassword))) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'wrong_password' })
    return BAD_CREDENTIALS
  }
  // Only now, with the password right, may the answer tell of a ban.
  if (user.ban !== undefined) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'banned' })
    return { ok: false, reason: 'banned', until: user.ban.until }
  }
  const rehash = deps.passwords.needsRehash(user.hashedPassword)
    ? await freshHash(deps, log, user, password)
    : undefined
  const due = await requireSecondFactorLogin(deps, { log, address }, user, rehash)
  if (due !== undefined) return due
  const reset = deps.throttle.loginSucceeded(user.id, address)
  const session = await deps.sessions.start(user, { reset, rehash })
  if (session === null) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'deleted_or_banned' })
    return BAD_CREDENTIALS
  }
  if (rehash !== undefined) log.info('authn_password_rehashed', { user_id: user.id })
  return { ok: true, tokens: await issueTokens(deps, log, session, 'authn_login_success') }
}

/**
 * A fresh hash of `password` to replace one made with old parameters, or undefined when hashing
 * failed: the login goes on with the old hash.
 */
async function freshHash(
  deps: Pick<AppServices, 'passwords'>,
  log: Logger,
  user: LoginUser,
  password: string,
): Promise<HashReplacement | undefined> {
  try {
    return { expectedHash: user.hashedPassword, newHash: await deps.passwords.hash(password) }
  } catch {
    log.warn('authn_password_rehash_failed', { user_id: user.id })
    return undefined
  }
}
