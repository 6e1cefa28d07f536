import type { WithSubquery } from 'drizzle-orm'
import type { SecondFactor } from '../auth/mfa'
import type { Account } from '../db/account'
import { ApiError, validationError } from '../errors'
import type { Logger } from '../logger'
import type { AppServices } from '../types'
import { text } from './schemas'

/**
 * The second-factor fields of a request that needs one (the account endpoints and `/token`'s
 * second step): a code of the authenticator app, or a recovery code in its place.
 */
export const secondFactorFields = {
  otp: text()
    .max(16)
    .optional()
    .openapi({ description: 'A code of the authenticator app (6 digits)' }),
  recovery_code: text().max(64).optional().openapi({
    description: 'A recovery code (`abcd-efgh-ijkl-mnop`), in place of `otp`; each works once',
  }),
}

/** The 503 of every second-factor operation while two-factor login is off. */
export const mfaUnavailable = () =>
  new ApiError(503, 'Two-factor authentication is unavailable on this service')

/** The 403 for a second factor that is wrong, already used, or unreadable. */
export const incorrectCode = () => new ApiError(403, 'Incorrect or already used code')

/**
 * The second factor a request carries, for an account with TOTP on; undefined when TOTP is off.
 * Checked before the password, so that a request without one costs no hashing and no attempt.
 * @throws {ApiError} 403 when TOTP is on and neither `otp` nor `recovery_code` is given, 422 when
 * both are, 503 when two-factor login is off.
 */
export function secondFactorOf(
  deps: AppServices,
  account: Pick<Account, 'totpEnabled'>,
  body: { otp?: string | undefined; recovery_code?: string | undefined },
): SecondFactor | undefined {
  if (!account.totpEnabled) return undefined
  if (!deps.mfa.enabled) throw mfaUnavailable()
  return parseSecondFactor(body, 'body')
}

/**
 * `otp` or `recovery_code`, exactly one.
 * @throws {ApiError} 403 when neither is given, 422 when both are.
 */
export function parseSecondFactor(
  body: { otp?: string | undefined; recovery_code?: string | undefined },
  location: string,
): SecondFactor {
  const { otp, recovery_code: recoveryCode } = body
  if (otp !== undefined && recoveryCode !== undefined) {
    throw validationError([
      {
        loc: [location, 'recovery_code'],
        msg: 'Send otp or recovery_code, not both',
        type: 'value_error',
      },
    ])
  }
  if (otp !== undefined) return { otp }
  if (recoveryCode !== undefined) return { recoveryCode }
  throw new ApiError(
    403,
    'Two-factor authentication is on: send otp (a code of the authenticator app) or recovery_code',
  )
}

/**
 * The hook of the account endpoints after the password was confirmed: checks the second factor
 * (when TOTP is on) and uses it up, in one statement with `alongside`. A wrong one is a 403, logged
 * as `failEvent`, and the password attempt stays counted (the caller's resets are not applied), so
 * wrong codes count against the login throttle like wrong passwords.
 */
export async function confirmSecondFactor(
  deps: AppServices,
  { log }: { log: Logger },
  account: Pick<Account, 'id'>,
  factor: SecondFactor | undefined,
  failEvent: string,
  alongside: WithSubquery[] = [],
): Promise<void> {
  if (factor === undefined) return
  const checked = await deps.mfa.check(account.id, factor, alongside)
  if (!checked.ok) {
    log.warn(failEvent, { user_id: account.id, reason: checked.reason })
    throw incorrectCode()
  }
  if (checked.method === 'recovery_code') {
    log.info('mfa_recovery_code_used', {
      user_id: account.id,
      recovery_codes_left: checked.recoveryCodesLeft,
    })
  }
}
