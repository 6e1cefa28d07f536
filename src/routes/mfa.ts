import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS } from '../auth/credentials'
import type { Account } from '../db/account'
import { ApiError, bearerChallenge } from '../errors'
import type { AppServices } from '../types'
import { requireAccount, requireJsonBody } from './current-user'
import { confirmPassword, type PasswordCheckRequest, throttledResponse } from './me'
import { createRouter } from './router'
import { ErrorSchema, jsonContent, text, ValidationErrorSchema } from './schemas'
import {
  confirmSecondFactor,
  incorrectCode,
  mfaUnavailable,
  secondFactorFields,
  secondFactorOf,
} from './second-factor'

const StepUpSchema = z
  .object({
    current_password: text()
      .max(LOGIN_LIMITS.password)
      .optional()
      .openapi({ description: 'Required when TOTP is on' }),
    ...secondFactorFields,
  })
  .openapi('MfaStepUpRequest')

const ConfirmSchema = z
  .object({ otp: text().max(16).openapi({ example: '123456' }) })
  .openapi('TotpConfirmRequest')

const EnrolmentSchema = z
  .object({
    secret: z.string().openapi({
      example: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
      description: 'The shared secret in base32, for typing into an authenticator app',
    }),
    otpauth_uri: z.string().openapi({
      example:
        'otpauth://totp/edge-auth:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=edge-auth&algorithm=SHA1&digits=6&period=30',
      description: 'The same as a key URI, for a QR code',
    }),
    expires_in: z
      .number()
      .int()
      .openapi({ example: 600, description: 'Seconds left to confirm with a code' }),
  })
  .openapi('TotpEnrolment')

const RecoveryCodesSchema = z
  .object({
    recovery_codes: z.array(z.string()).openapi({
      example: ['abcd-efgh-ijkl-mnop'],
      description: 'Ten one-time codes, shown this once: each logs in once in place of a code',
    }),
  })
  .openapi('RecoveryCodes')

const unauthorized = jsonContent(ErrorSchema, 'No token, or an invalid, expired or revoked one')
const unavailable = jsonContent(
  ErrorSchema,
  'Two-factor login is off on this service (no MFA_ENCRYPTION_KEY in production)',
)
const stepUpForbidden = jsonContent(
  ErrorSchema,
  'The current password or the second factor is missing or wrong',
)

/**
 * The current password and the second factor of an account with TOTP on (re-enrolment, disabling,
 * new recovery codes), under the login throttle; the factor is used up with the throttle's reset.
 * Nothing is asked while TOTP is off.
 */
async function stepUp(
  deps: AppServices,
  request: PasswordCheckRequest,
  account: Account,
  body: z.infer<typeof StepUpSchema>,
  failEvent: string,
): Promise<void> {
  if (!account.totpEnabled) return
  const factor = secondFactorOf(deps, account, body)
  if (body.current_password === undefined) {
    throw new ApiError(403, 'Two-factor authentication is on: send current_password too')
  }
  const resets = await confirmPassword(deps, request, account, body.current_password, failEvent)
  await confirmSecondFactor(deps, request, account, factor, failEvent, resets)
}

/** The TOTP endpoints: enrolment, confirmation, disabling, recovery codes. */
export function mfaRoutes(deps: AppServices) {
  const stepUpBody = {
    body: { content: { 'application/json': { schema: StepUpSchema } }, required: true },
  }
  const start = createRoute({
    method: 'post',
    path: '/me/mfa/totp',
    tags: ['mfa'],
    summary: 'Start TOTP enrolment',
    description:
      'Returns a new secret and its otpauth:// URI for an authenticator app; TOTP is on once `POST /me/mfa/totp/confirm` receives a code of it (within 10 minutes). Send `{}` for a first enrolment; while TOTP is on (re-enrolment), `current_password` and a code (`otp`, or a `recovery_code`) are required, and the old secret stays in force until the new one is confirmed.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: stepUpBody,
    responses: {
      200: jsonContent(EnrolmentSchema, 'The new secret, pending confirmation'),
      401: unauthorized,
      403: stepUpForbidden,
      415: jsonContent(ErrorSchema, 'The body is not JSON'),
      422: jsonContent(ValidationErrorSchema, 'A malformed field'),
      429: throttledResponse,
      503: unavailable,
    },
  })
  const confirm = createRoute({
    method: 'post',
    path: '/me/mfa/totp/confirm',
    tags: ['mfa'],
    summary: 'Confirm TOTP enrolment with a code',
    description:
      'Checks a code of the pending secret; if right, TOTP is on (or the new secret replaces the old one) and ten recovery codes are returned, this once. From now on `/token` asks for a code after the password.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: {
      body: { content: { 'application/json': { schema: ConfirmSchema } }, required: true },
    },
    responses: {
      200: jsonContent(RecoveryCodesSchema, 'TOTP is on; the recovery codes, shown once'),
      401: unauthorized,
      403: jsonContent(ErrorSchema, 'The code is wrong'),
      409: jsonContent(ErrorSchema, 'No enrolment in progress (none started, or it expired)'),
      415: jsonContent(ErrorSchema, 'The body is not JSON'),
      422: jsonContent(ValidationErrorSchema, 'No otp'),
      503: unavailable,
    },
  })
  const disable = createRoute({
    method: 'delete',
    path: '/me/mfa/totp',
    tags: ['mfa'],
    summary: 'Turn TOTP off',
    description:
      'Needs `current_password` and a code (`otp`, or a `recovery_code`). Deletes the secret and the recovery codes; the password alone logs in again.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: stepUpBody,
    responses: {
      204: { description: 'TOTP is off' },
      401: unauthorized,
      403: stepUpForbidden,
      409: jsonContent(ErrorSchema, 'TOTP is not on'),
      415: jsonContent(ErrorSchema, 'The body is not JSON'),
      422: jsonContent(ValidationErrorSchema, 'A malformed field'),
      429: throttledResponse,
      503: unavailable,
    },
  })
  const regenerate = createRoute({
    method: 'post',
    path: '/me/mfa/recovery-codes',
    tags: ['mfa'],
    summary: 'Replace the recovery codes',
    description:
      'Needs `current_password` and a code (`otp`, or a `recovery_code`). Returns ten new recovery codes, shown this once; the old ones stop working.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: stepUpBody,
    responses: {
      200: jsonContent(RecoveryCodesSchema, 'The new recovery codes, shown once'),
      401: unauthorized,
      403: stepUpForbidden,
      409: jsonContent(ErrorSchema, 'TOTP is not on'),
      415: jsonContent(ErrorSchema, 'The body is not JSON'),
      422: jsonContent(ValidationErrorSchema, 'A malformed field'),
      429: throttledResponse,
      503: unavailable,
    },
  })
  const totpOff = () => new ApiError(409, 'Two-factor authentication is not on')

  return createRouter()
    .openapi(start, async (c) => {
      if (!deps.mfa.enabled) throw mfaUnavailable()
      const account = c.get('account')
      const request = { log: c.get('logger'), address: deps.limitAddress(c) }
      await stepUp(deps, request, account, c.req.valid('json'), 'mfa_enrolment_fail')
      const enrolment = await deps.mfa.startEnrolment(account)
      // The account was deleted since its token was checked.
      if (enrolment === undefined) {
        throw new ApiError(401, 'Invalid token', {
          'WWW-Authenticate': bearerChallenge('invalid_token'),
        })
      }
      c.get('logger').info('mfa_enrolment_started', { user_id: account.id })
      const { secret, uri, expiresIn } = enrolment
      return c.json({ secret, otpauth_uri: uri, expires_in: expiresIn }, 200)
    })
    .openapi(confirm, async (c) => {
      if (!deps.mfa.enabled) throw mfaUnavailable()
      const account = c.get('account')
      const log = c.get('logger')
      const outcome = await deps.mfa.confirmEnrolment(account.id, c.req.valid('json').otp)
      if (!outcome.ok) {
        log.warn('mfa_enrolment_fail', { user_id: account.id, reason: outcome.reason })
        if (outcome.reason === 'no_enrolment') {
          throw new ApiError(409, 'No enrolment in progress: start one with POST /me/mfa/totp')
        }
        throw incorrectCode()
      }
      log.info('mfa_enabled', { user_id: account.id })
      return c.json({ recovery_codes: outcome.recoveryCodes }, 200)
    })
    .openapi(disable, async (c) => {
      if (!deps.mfa.enabled) throw mfaUnavailable()
      const account = c.get('account')
      if (!account.totpEnabled) throw totpOff()
      const request = { log: c.get('logger'), address: deps.limitAddress(c) }
      await stepUp(deps, request, account, c.req.valid('json'), 'mfa_disable_fail')
      await deps.mfa.disable(account.id)
      request.log.info('mfa_disabled', { user_id: account.id })
      return c.body(null, 204)
    })
    .openapi(regenerate, async (c) => {
      if (!deps.mfa.enabled) throw mfaUnavailable()
      const account = c.get('account')
      if (!account.totpEnabled) throw totpOff()
      const request = { log: c.get('logger'), address: deps.limitAddress(c) }
      await stepUp(deps, request, account, c.req.valid('json'), 'mfa_recovery_codes_fail')
      const codes = await deps.mfa.regenerateRecoveryCodes(account.id)
      if (codes === undefined) throw totpOff()
      request.log.info('mfa_recovery_codes_replaced', { user_id: account.id })
      return c.json({ recovery_codes: codes }, 200)
    })
}
