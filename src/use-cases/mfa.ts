/**
 * The two-factor flows: the second factor a password login of an account with TOTP on must wait
 * for, the mfa-otp grant that completes it, the second factor of account changes, and TOTP
 * enrolment, disabling and new recovery codes. No HTTP, no SQL: outcomes for the routes to answer.
 */
import { amrOf, type SecondFactor } from '../auth/mfa'
import type { AttemptReset } from '../db/throttle'
import type { Account, HashReplacement, LoginUser } from '../db/users'
import type { AppServices } from '../types'
import { type Attempt, checkPassword, type Throttled, throttledAttempt } from './password-check'
import { type Banned, type IssuedTokens, issueTokens } from './sessions'

/** The second-factor fields of a request as sent (each absent or a string). */
export interface SecondFactorInput {
  otp?: string | undefined
  recoveryCode?: string | undefined
}

/** Why the second factor a request had to carry could not be read. */
export type SecondFactorRefusal =
  /** Two-factor login is off on this service (no encryption key): nothing can be checked. */
  | { ok: false; reason: 'mfa_unavailable' }
  /** TOTP is on and neither `otp` nor `recovery_code` was sent. */
  | { ok: false; reason: 'second_factor_missing' }
  /** Both were sent. */
  | { ok: false; reason: 'both_second_factors' }

/** A second factor that was checked and is wrong, already used, or unreadable. */
export interface WrongCode {
  ok: false
  reason: 'wrong_code'
}

const UNAVAILABLE = { ok: false, reason: 'mfa_unavailable' } as const
const WRONG_CODE = { ok: false, reason: 'wrong_code' } as const

/** Exactly one of `otp` and `recovery_code`, or why not. */
export function readSecondFactor(input: SecondFactorInput): SecondFactor | SecondFactorRefusal {
  const { otp, recoveryCode } = input
  if (otp !== undefined && recoveryCode !== undefined) {
    return { ok: false, reason: 'both_second_factors' }
  }
  if (otp !== undefined) return { otp }
  if (recoveryCode !== undefined) return { recoveryCode }
  return { ok: false, reason: 'second_factor_missing' }
}

const isRefusal = (read: SecondFactor | SecondFactorRefusal): read is SecondFactorRefusal =>
  'ok' in read

/**
 * The second factor an account change must carry: none while TOTP is off. Read before the
 * password, so that a request without one costs no hashing and no attempt.
 */
export function requiredSecondFactor(
  deps: Pick<AppServices, 'mfa'>,
  account: Pick<Account, 'totpEnabled'>,
  input: SecondFactorInput,
): { ok: true; factor: SecondFactor | undefined } | SecondFactorRefusal {
  if (!account.totpEnabled) return { ok: true, factor: undefined }
  if (!deps.mfa.enabled) return UNAVAILABLE
  const read = readSecondFactor(input)
  return isRefusal(read) ? read : { ok: true, factor: read }
}

/**
 * Checks the second factor of an account change after its password was confirmed, and uses it up
 * in one statement with `reset` (when given). A wrong one is logged as `failEvent`; the password's
 * attempt then stays counted (the caller applies no reset), so wrong codes count against the login
 * throttle like wrong passwords.
 */
export async function checkSecondFactor(
  deps: Pick<AppServices, 'mfa'>,
  { log }: Attempt,
  account: Pick<Account, 'id'>,
  factor: SecondFactor | undefined,
  failEvent: string,
  reset?: AttemptReset,
): Promise<{ ok: true } | WrongCode> {
  if (factor === undefined) return { ok: true }
  const checked = await deps.mfa.check(account.id, factor, reset)
  if (!checked.ok) {
    log.warn(failEvent, { user_id: account.id, reason: checked.reason })
    return WRONG_CODE
  }
  if (checked.method === 'recovery_code') {
    log.info('mfa_recovery_code_used', {
      user_id: account.id,
      recovery_codes_left: checked.recoveryCodesLeft,
    })
  }
  return { ok: true }
}

/** What a password login of an account with TOTP on is answered instead of a session. */
export type SecondFactorDue =
  /** The password was right: the login goes on with this `mfa_token` and a code. */
  | { ok: false; reason: 'mfa_required'; mfaToken: string }
  | { ok: false; reason: 'mfa_unavailable' }
  /** The account was deleted meanwhile: answered as a wrong password. */
  | { ok: false; reason: 'bad_credentials' }

/**
 * The step of the password grant after the password (and the ban check): for an account with TOTP
 * on, stores a login waiting for its second factor, in one statement with the password's attempt
 * given back and `rehash` (a hash made with old parameters replaced), and returns its `mfa_token`; undefined for an account without TOTP. A password alone
 * never logs into an account with TOTP on: while two-factor login is off, such a login is refused.
 */
export async function requireSecondFactorLogin(
  deps: Pick<AppServices, 'mfa' | 'throttle'>,
  { log, address }: Attempt,
  user: LoginUser,
  rehash: HashReplacement | undefined,
): Promise<SecondFactorDue | undefined> {
  if (!user.totpEnabled) return undefined
  if (!deps.mfa.enabled) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'mfa_unavailable' })
    return UNAVAILABLE
  }
  const release = deps.throttle.passwordAccepted(user.id, address)
  const challenge = await deps.mfa.challenge(user.id, release, rehash)
  if (challenge === undefined) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'deleted' })
    return { ok: false, reason: 'bad_credentials' }
  }
  if (rehash !== undefined) log.info('authn_password_rehashed', { user_id: user.id })
  log.info('authn_mfa_challenge', { user_id: user.id })
  return { ok: false, reason: 'mfa_required', mfaToken: challenge.mfaToken }
}

/** The outcome of {@link secondFactorLogin}. */
export type SecondFactorLoginOutcome =
  | { ok: true; tokens: IssuedTokens }
  | Throttled
  | { ok: false; reason: 'mfa_unavailable' }
  /** The `mfa_token` is unknown, expired or already used (or its account is gone). */
  | { ok: false; reason: 'invalid_mfa_token' }
  | WrongCode
  /** The code was right but the account is banned. */
  | Banned

/**
 * The mfa-otp grant, the second step of a login with TOTP on:
 * 1. one statement consumes the `mfa_token` (single use, whatever follows) and counts the attempt
 *    under the login limits (address, then the token's account); a blocked attempt is refused;
 * 2. the code (or a recovery code) is checked and used up with the reset of the counts;
 * 3. only then is a ban told: `banned`;
 * 4. a session is started whose tokens carry `amr` `["pwd", "otp"]`.
 */
export async function secondFactorLogin(
  deps: Pick<AppServices, 'mfa' | 'sessions' | 'tokens'>,
  { log, address }: Attempt,
  mfaToken: string,
  factor: SecondFactor,
): Promise<SecondFactorLoginOutcome> {
  if (!deps.mfa.enabled) return UNAVAILABLE
  const outcome = await deps.mfa.redeem(mfaToken, factor, address)
  if (!outcome.ok) {
    if (outcome.reason === 'throttled') {
      const { verdict } = outcome
      return throttledAttempt(log, verdict, verdict.userId, 'authn_mfa_fail')
    }
    if (outcome.reason === 'invalid_token') {
      log.warn('authn_mfa_fail', { reason: 'invalid_mfa_token' })
      return { ok: false, reason: 'invalid_mfa_token' }
    }
    log.warn('authn_mfa_fail', { user_id: outcome.userId, reason: outcome.reason })
    return WRONG_CODE
  }
  const { user, method } = outcome
  if (method === 'recovery_code') log.info('mfa_recovery_code_used', { user_id: user.id })
  if (user.ban !== undefined) {
    log.warn('authn_mfa_fail', { user_id: user.id, reason: 'banned' })
    return { ok: false, reason: 'banned', until: user.ban.until }
  }
  const session = await deps.sessions.start(user, { amr: amrOf(method) })
  if (session === null) {
    log.warn('authn_mfa_fail', { user_id: user.id, reason: 'deleted_or_banned' })
    return { ok: false, reason: 'invalid_mfa_token' }
  }
  return { ok: true, tokens: await issueTokens(deps, log, session, 'authn_login_success') }
}

/**
 * What a TOTP change asks for: the current password always, and a second factor while TOTP is on.
 */
export interface StepUpInput extends SecondFactorInput {
  currentPassword: string
}

/** Why a TOTP change was refused before it was made. */
export type StepUpRefusal =
  | SecondFactorRefusal
  | Throttled
  | { ok: false; reason: 'wrong_password' }
  | WrongCode

type StepUpDeps = Pick<AppServices, 'mfa' | 'throttle' | 'passwords'>

/**
 * The one rule of every TOTP change (enrolment, first or again; disabling; new recovery codes): the
 * current password, checked under the login throttle (a wrong one counts as a failed login, and
 * the change is refused while the account or address is blocked), and, while TOTP is on, a second
 * factor too, read before the password (a request without one costs no hashing and no attempt)
 * and used up with the throttle's reset. A bearer token alone, stolen or left in a browser, can
 * then neither turn TOTP on with an attacker's authenticator nor change it.
 * @returns the throttle's reset when no second factor's statement applied it (TOTP off), for the
 * statement that makes the change to apply; undefined when it was applied already.
 */
async function stepUp(
  deps: StepUpDeps,
  attempt: Attempt,
  account: Account,
  input: StepUpInput,
  failEvent: string,
): Promise<{ ok: true; reset: AttemptReset | undefined } | StepUpRefusal> {
  const required = requiredSecondFactor(deps, account, input)
  if (!required.ok) return required
  const check = await checkPassword(deps, attempt, account, input.currentPassword, failEvent)
  if (!check.ok) return check
  if (required.factor === undefined) return { ok: true, reset: check.reset }
  const checked = await checkSecondFactor(
    deps,
    attempt,
    account,
    required.factor,
    failEvent,
    check.reset,
  )
  return checked.ok ? { ok: true, reset: undefined } : checked
}

/** The outcome of {@link startEnrolment}. */
export type EnrolmentStart =
  | { ok: true; secret: string; uri: string; expiresIn: number }
  | StepUpRefusal
  /** The account was deleted since its token was checked. */
  | { ok: false; reason: 'account_gone' }

/**
 * Starts a TOTP enrolment after the step-up of every TOTP change (the current password; while TOTP
 * is on, a second factor too). With TOTP off the password's reset of the throttle rides on the
 * statement that stores the pending secret.
 */
export async function startEnrolment(
  deps: StepUpDeps,
  attempt: Attempt,
  account: Account,
  input: StepUpInput,
): Promise<EnrolmentStart> {
  if (!deps.mfa.enabled) return UNAVAILABLE
  const stepped = await stepUp(deps, attempt, account, input, 'mfa_enrolment_fail')
  if (!stepped.ok) return stepped
  const enrolment = await deps.mfa.startEnrolment(account, stepped.reset)
  if (enrolment === undefined) return { ok: false, reason: 'account_gone' }
  attempt.log.info('mfa_enrolment_started', { user_id: account.id })
  return { ok: true, ...enrolment }
}

/** The outcome of {@link confirmEnrolment}. */
export type EnrolmentConfirmation =
  | { ok: true; recoveryCodes: string[] }
  | { ok: false; reason: 'mfa_unavailable' }
  | Throttled
  /** None started, or it expired. */
  | { ok: false; reason: 'no_enrolment' }
  | WrongCode

/**
 * Completes an enrolment with a code of the pending secret: TOTP is on, with new recovery codes.
 * The attempt counts as a failed login of the account and the address before the code is checked
 * (refused while they are blocked), and a right code gives it back in the statement that turns
 * TOTP on: wrong codes count against the login throttle as everywhere else, so a bearer token
 * alone cannot try a million codes against a pending secret, and a right one wipes no earlier
 * failures (it proves the secret just handed out, not the password).
 */
export async function confirmEnrolment(
  deps: Pick<AppServices, 'mfa' | 'throttle'>,
  { log, address }: Attempt,
  account: Pick<Account, 'id' | 'username'>,
  code: string,
): Promise<EnrolmentConfirmation> {
  if (!deps.mfa.enabled) return UNAVAILABLE
  const { verdict } = await deps.throttle.countLogin(account.username, address)
  if (!verdict.allowed) return throttledAttempt(log, verdict, account.id, 'mfa_enrolment_fail')
  const release = deps.throttle.passwordAccepted(account.id, address)
  const outcome = await deps.mfa.confirmEnrolment(account.id, code, release)
  if (!outcome.ok) {
    log.warn('mfa_enrolment_fail', { user_id: account.id, reason: outcome.reason })
    return outcome.reason === 'no_enrolment' ? { ok: false, reason: 'no_enrolment' } : WRONG_CODE
  }
  log.info('mfa_enabled', { user_id: account.id })
  return { ok: true, recoveryCodes: outcome.recoveryCodes }
}

/** The outcome of {@link disableTotp} and {@link replaceRecoveryCodes}. */
export type TotpChange<T> =
  | ({ ok: true } & T)
  | StepUpRefusal
  /** TOTP is not on. */
  | { ok: false; reason: 'totp_off' }

/** Turns TOTP off, after the password and a second factor. */
export async function disableTotp(
  deps: StepUpDeps,
  attempt: Attempt,
  account: Account,
  input: StepUpInput,
): Promise<TotpChange<object>> {
  if (!deps.mfa.enabled) return UNAVAILABLE
  if (!account.totpEnabled) return { ok: false, reason: 'totp_off' }
  // TOTP is on, so the second factor's statement applies the throttle's reset.
  const stepped = await stepUp(deps, attempt, account, input, 'mfa_disable_fail')
  if (!stepped.ok) return stepped
  await deps.mfa.disable(account.id)
  attempt.log.info('mfa_disabled', { user_id: account.id })
  return { ok: true }
}

/** Replaces the recovery codes, after the password and a second factor. */
export async function replaceRecoveryCodes(
  deps: StepUpDeps,
  attempt: Attempt,
  account: Account,
  input: StepUpInput,
): Promise<TotpChange<{ recoveryCodes: string[] }>> {
  if (!deps.mfa.enabled) return UNAVAILABLE
  if (!account.totpEnabled) return { ok: false, reason: 'totp_off' }
  const stepped = await stepUp(deps, attempt, account, input, 'mfa_recovery_codes_fail')
  if (!stepped.ok) return stepped
  const codes = await deps.mfa.regenerateRecoveryCodes(account.id)
  if (codes === undefined) return { ok: false, reason: 'totp_off' }
  attempt.log.info('mfa_recovery_codes_replaced', { user_id: account.id })
  return { ok: true, recoveryCodes: codes }
}
