/** The account endpoints' flows: whose token it is, change the password, delete the account. */
import { accountKeyOf, holderKeyOf, isCutOff } from '../auth/revocation'
import { type AccessClaims, InvalidTokenError } from '../auth/tokens'
import { deleteAccount as deleteAccountRow, findAccount } from '../db/account'
import type { Account } from '../db/users'
import type { AppServices } from '../types'
import {
  checkSecondFactor,
  requiredSecondFactor,
  type SecondFactorInput,
  type SecondFactorRefusal,
  type WrongCode,
} from './mfa'
import { type Attempt, checkPassword, type Throttled } from './password-check'

/**
 * The account a bearer token names, read fresh from the database (never from the revocation cache,
 * also with `statelessValidation`: these endpoints read the account anyway), with its claims.
 * A ban ends every session of its account (use-cases/admin.ts), so the tokens of a banned account
 * are refused here as cut off, with no read of the ban.
 * @returns undefined when the token is invalid, its account gone, or its session cut off.
 */
export async function accountOfToken(
  deps: Pick<AppServices, 'tokens' | 'db'>,
  token: string,
): Promise<{ account: Account; claims: AccessClaims } | undefined> {
  let claims: AccessClaims
  try {
    claims = await deps.tokens.verifyAccessToken(token)
  } catch (error) {
    if (error instanceof InvalidTokenError) return undefined
    throw error
  }
  const key = holderKeyOf(claims)
  const account = key === undefined ? undefined : await findAccount(deps.db, accountKeyOf(key))
  if (account === undefined || isCutOff(claims, account)) return undefined
  return { account, claims }
}

/**
 * The outcome of an account change confirmed by the current password (and, with TOTP on, a second
 * factor).
 */
export type ConfirmedChange =
  | { ok: true }
  | Throttled
  | { ok: false; reason: 'wrong_password' }
  | SecondFactorRefusal
  | WrongCode
  /** The password changed between reading the account and writing it; nothing was written. */
  | { ok: false; reason: 'account_changed' }

type ChangeDeps = Pick<
  AppServices,
  'throttle' | 'passwords' | 'sessions' | 'revocation' | 'logger' | 'db' | 'mfa'
>

/**
 * The current password, then (with TOTP on) the second factor, whose absence is told before any
 * hashing. @returns the throttle reset for the statement that makes the change, or the refusal.
 */
async function confirmed(
  deps: ChangeDeps,
  attempt: Attempt,
  account: Account,
  currentPassword: string,
  secondFactor: SecondFactorInput,
  failEvent: string,
) {
  const required = requiredSecondFactor(deps, account, secondFactor)
  if (!required.ok) return required
  const check = await checkPassword(deps, attempt, account, currentPassword, failEvent)
  if (!check.ok) return check
  const checked = await checkSecondFactor(deps, attempt, account, required.factor, failEvent)
  return checked.ok ? check : checked
}

/**
 * Replaces the password (the new one already passed the registration rules) and ends every
 * session, after checking the current one (and the second factor); the hash, the cut-off, the revoked refresh tokens and
 * the counter reset are one statement, applied only if the hash is still the one checked.
 */
export async function changePassword(
  deps: ChangeDeps,
  attempt: Attempt,
  account: Account,
  currentPassword: string,
  newPassword: string,
  secondFactor: SecondFactorInput = {},
): Promise<ConfirmedChange> {
  const check = await confirmed(
    deps,
    attempt,
    account,
    currentPassword,
    secondFactor,
    'password_change_fail',
  )
  if (!check.ok) return check
  const newHash = await deps.passwords.hash(newPassword)
  const replacement = { expectedHash: account.hashedPassword, newHash }
  if (!(await deps.sessions.endAll(account.id, replacement, check.reset))) {
    return { ok: false, reason: 'account_changed' }
  }
  deps.revocation.forget(account)
  deps.logger.info('password_changed', { user_id: account.id })
  return { ok: true }
}

/**
 * Deletes the account (its sessions go with it) after checking the current password (and the
 * second factor); one
 * statement with the counter reset, applied only if the hash is still the one checked.
 */
export async function deleteAccount(
  deps: ChangeDeps,
  attempt: Attempt,
  account: Account,
  currentPassword: string,
  secondFactor: SecondFactorInput = {},
): Promise<ConfirmedChange> {
  const check = await confirmed(
    deps,
    attempt,
    account,
    currentPassword,
    secondFactor,
    'account_delete_fail',
  )
  if (!check.ok) return check
  if (!(await deleteAccountRow(deps.db, account.id, account.hashedPassword, check.reset))) {
    return { ok: false, reason: 'account_changed' }
  }
  deps.revocation.forget(account)
  deps.logger.info('user_deleted', { user_id: account.id })
  return { ok: true }
}
