import { z } from '@hono/zod-openapi'
import type { WithSubquery } from 'drizzle-orm'
import { amrOf, MFA_OTP_GRANT } from '../auth/mfa'
import type { LoginUser } from '../db/users'
import { ApiError } from '../errors'
import type { Logger } from '../logger'
import type { AppServices } from '../types'
import { NO_STORE, oauthError, throttled, tokenBody } from './oauth'
import { parseSecondFactor } from './second-factor'

/** The body of the `403 mfa_required` answer of the password grant. */
export const MfaRequiredSchema = z
  .object({
    error: z.literal('mfa_required'),
    error_description: z.string(),
    detail: z.string(),
    mfa_token: z.string().openapi({
      description: `Single-use, valid for 5 minutes: send it with \`grant_type=${MFA_OTP_GRANT}\` and \`otp\` (or \`recovery_code\`)`,
    }),
  })
  .openapi('MfaRequired')

/** What the grants need of their request: the request's logger and the client's address. */
interface GrantRequest {
  log: Logger
  address: string | undefined
}

/**
 * The hook of the password grant after the password was verified: for an account with TOTP on,
 * stores a login waiting for its second factor (in one statement with the password attempt given
 * back and `alongside`, a rehash) and throws the `403 mfa_required` answer carrying its
 * `mfa_token`. Returns for an account without TOTP. Never lets a password alone through an account
 * with TOTP on: while two-factor login is off (no key) such a login is a 503.
 */
export async function requireSecondFactorLogin(
  deps: AppServices,
  { log, address }: GrantRequest,
  user: LoginUser,
  alongside: WithSubquery[],
): Promise<void> {
  if (!user.totpEnabled) return
  if (!deps.mfa.enabled) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'mfa_unavailable' })
    throw new ApiError(503, 'Two-factor authentication is unavailable on this service')
  }
  const released = deps.throttle.passwordAcceptedQueries(user.id, address)
  const challenge = await deps.mfa.challenge(user.id, [...released, ...alongside])
  if (challenge === undefined) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'deleted' })
    throw new ApiError(401, 'Incorrect username or password')
  }
  log.info('authn_mfa_challenge', { user_id: user.id })
  const description = 'A second factor is required: send the mfa_token with a code'
  throw new ApiError(403, description, NO_STORE, {
    error: 'mfa_required',
    error_description: description,
    mfa_token: challenge.mfaToken,
  })
}

/** The `/token` parameters of the second step. */
export interface MfaGrantForm {
  mfa_token?: string | undefined
  otp?: string | undefined
  recovery_code?: string | undefined
}

/**
 * `/token` with {@link MFA_OTP_GRANT}: the `mfa_token` is consumed by this attempt whatever its
 * outcome, the attempt counts under the login limits, and a right code (or an unused recovery
 * code) starts a session whose tokens carry `amr`.
 */
export async function mfaOtpGrant(
  deps: AppServices,
  { log, address }: GrantRequest,
  form: MfaGrantForm,
) {
  if (!deps.mfa.enabled)
    throw new ApiError(503, 'Two-factor authentication is unavailable on this service')
  const token = form.mfa_token
  if (!token) throw oauthError('invalid_request', 'mfa_token is required')
  // An empty parameter is an absent one, as forms send fields left blank.
  const fields = { otp: form.otp || undefined, recovery_code: form.recovery_code || undefined }
  if (fields.otp === undefined && fields.recovery_code === undefined) {
    throw oauthError('invalid_request', 'otp or recovery_code is required')
  }
  if (fields.otp !== undefined && fields.recovery_code !== undefined) {
    throw oauthError('invalid_request', 'send otp or recovery_code, not both')
  }
  const factor = parseSecondFactor(fields, 'body')
  const outcome = await deps.mfa.redeem(token, factor, address)
  if (!outcome.ok) {
    if (outcome.reason === 'throttled') {
      const { verdict } = outcome
      throw throttled(
        log,
        verdict,
        verdict.userId,
        'authn_mfa_fail',
        'Too many failed login attempts',
      )
    }
    if (outcome.reason === 'invalid_token') {
      log.warn('authn_mfa_fail', { reason: 'invalid_mfa_token' })
      throw oauthError('invalid_grant', 'The mfa_token is invalid, expired or already used')
    }
    log.warn('authn_mfa_fail', { user_id: outcome.userId, reason: outcome.reason })
    throw oauthError('invalid_grant', 'The code is wrong or already used; log in again')
  }
  const { user, method } = outcome
  if (method === 'recovery_code') log.info('mfa_recovery_code_used', { user_id: user.id })
  const session = await deps.sessions.start(user, [], amrOf(method))
  if (session === null) {
    log.warn('authn_mfa_fail', { user_id: user.id, reason: 'deleted' })
    throw oauthError('invalid_grant', 'The mfa_token is invalid, expired or already used')
  }
  const issued = await deps.tokens.issueAccessToken(session.user)
  log.info('authn_login_success', { user_id: user.id, amr: session.user.amr.join(' ') })
  log.info('authn_token_created', {
    user_id: user.id,
    jti: issued.claims.jti,
    exp: issued.claims.exp,
  })
  return tokenBody(issued, session.refreshToken)
}
