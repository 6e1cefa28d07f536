import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS } from '../auth/credentials'
import type { ApiError } from '../errors'
import {
  bearerRefusals,
  bothSecondFactors,
  documented,
  documentedValidation,
  incorrectCode,
  incorrectPassword,
  invalidToken,
  jsonBodyRefusals,
  mfaUnavailable,
  noEnrolment,
  secondFactorMissing,
  secondFactorRefused,
  tooManyRequests,
  totpOff,
  validationError,
} from '../http/answers'
import { requireAccount, requireJsonBody } from '../http/current-user'
import { createRouter } from '../http/router'
import { jsonContent, secondFactorFields, text } from '../http/schemas'
import type { AppServices } from '../types'
import {
  confirmEnrolment,
  disableTotp,
  replaceRecoveryCodes,
  type StepUpRefusal,
  startEnrolment,
} from '../use-cases/mfa'

const StepUpSchema = z
  .object({
    current_password: text().max(LOGIN_LIMITS.password).openapi({
      description:
        'The current password of the account: every TOTP change asks for it, the first enrolment included',
      example: 'correct horse battery staple',
    }),
    ...secondFactorFields,
  })
  .openapi('MfaStepUpRequest')

/** The request bodies /docs offers (Swagger UI fills in the first), each one the route accepts. */
const stepUpExamples = (first?: { summary: string; value: object }) => ({
  ...(first === undefined ? {} : { first }),
  totpOn: {
    summary: 'With TOTP on: the password and a code of the authenticator app',
    value: { current_password: 'correct horse battery staple', otp: '123456' },
  },
  recoveryCode: {
    summary: 'With TOTP on: the password and a recovery code in place of the code',
    value: {
      current_password: 'correct horse battery staple',
      recovery_code: 'abcd-efgh-ijkl-mnop',
    },
  },
})

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

const unauthorized = bearerRefusals('No token, or an invalid, expired or revoked one')
const unavailable = documented(
  'Two-factor login is off on this service (no MFA_ENCRYPTION_KEY in production)',
  mfaUnavailable(),
)
const stepUpForbidden = documented(
  'The current password is wrong (counted as a failed login), or TOTP is on and the second factor is missing or wrong',
  incorrectPassword(),
  secondFactorMissing(),
  incorrectCode(),
)
const bodyRefusals = jsonBodyRefusals()
const malformed = documentedValidation(
  'A missing or malformed field',
  validationError([{ loc: ['body', 'current_password'], msg: 'Field required', type: 'missing' }]),
  bothSecondFactors('body'),
)
const throttledResponse = documented(
  'Too many failed password attempts for this account or from this address; see Retry-After',
  tooManyRequests('password', 900),
)
const notOn = documented('TOTP is not on', totpOff())

/** The answer to a TOTP change refused before it was made. */
function stepUpRefused(outcome: StepUpRefusal): ApiError {
  if (outcome.reason === 'throttled') return tooManyRequests('password', outcome.retryAfterSeconds)
  if (outcome.reason === 'wrong_password') return incorrectPassword()
  return secondFactorRefused(outcome.reason)
}

/** The step-up fields of a request, as the use cases read them. */
const stepUpInput = (body: z.infer<typeof StepUpSchema>) => ({
  currentPassword: body.current_password,
  otp: body.otp,
  recoveryCode: body.recovery_code,
})

/** The TOTP endpoints: enrolment, confirmation, disabling, recovery codes. */
export function mfaRoutes(deps: AppServices) {
  const stepUpBody = (examples: ReturnType<typeof stepUpExamples>) => ({
    body: {
      content: { 'application/json': { schema: StepUpSchema, examples } },
      required: true,
    },
  })
  const start = createRoute({
    method: 'post',
    path: '/me/mfa/totp',
    tags: ['mfa'],
    summary: 'Start TOTP enrolment',
    description:
      'Returns a new secret and its otpauth:// URI for an authenticator app; TOTP is on once `POST /me/mfa/totp/confirm` receives a code of it (within 10 minutes). Needs `current_password`, the first enrolment too, so that a stolen access token alone cannot turn TOTP on with another authenticator and lock the owner out; a wrong password is a 403 and counts as a failed login (429 while the account is blocked). While TOTP is on (re-enrolment) a code (`otp`, or a `recovery_code`) is needed as well, and the old secret stays in force until the new one is confirmed.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: stepUpBody(
      stepUpExamples({
        summary: 'First enrolment (TOTP off): the current password',
        value: { current_password: 'correct horse battery staple' },
      }),
    ),
    responses: {
      200: jsonContent(EnrolmentSchema, 'The new secret, pending confirmation'),
      401: unauthorized,
      403: stepUpForbidden,
      ...bodyRefusals,
      422: malformed,
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
      'Checks a code of the pending secret; if right, TOTP is on (or the new secret replaces the old one) and ten recovery codes are returned, this once. From now on `/token` asks for a code after the password. Each attempt counts as a failed login of the account until its code is found right, so wrong codes count against the login throttle (429 while it is blocked).',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: {
      body: { content: { 'application/json': { schema: ConfirmSchema } }, required: true },
    },
    responses: {
      200: jsonContent(RecoveryCodesSchema, 'TOTP is on; the recovery codes, shown once'),
      401: unauthorized,
      403: documented('The code is wrong', incorrectCode()),
      409: documented('No enrolment in progress (none started, or it expired)', noEnrolment()),
      ...bodyRefusals,
      422: documentedValidation(
        'No otp',
        validationError([{ loc: ['body', 'otp'], msg: 'Field required', type: 'missing' }]),
      ),
      429: documented(
        'Too many failed logins (wrong passwords and codes, confirmation codes included) for this account or from this address; see Retry-After',
        tooManyRequests('login', 900),
      ),
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
    request: stepUpBody(stepUpExamples()),
    responses: {
      204: { description: 'TOTP is off' },
      401: unauthorized,
      403: stepUpForbidden,
      409: notOn,
      ...bodyRefusals,
      422: malformed,
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
    request: stepUpBody(stepUpExamples()),
    responses: {
      200: jsonContent(RecoveryCodesSchema, 'The new recovery codes, shown once'),
      401: unauthorized,
      403: stepUpForbidden,
      409: notOn,
      ...bodyRefusals,
      422: malformed,
      429: throttledResponse,
      503: unavailable,
    },
  })

  return createRouter()
    .openapi(start, async (c) => {
      const input = stepUpInput(c.req.valid('json'))
      const outcome = await startEnrolment(
        deps,
        { log: c.get('logger'), address: deps.limitAddress(c) },
        c.get('account'),
        input,
      )
      if (!outcome.ok) {
        // The account was deleted since its token was checked.
        if (outcome.reason === 'account_gone') throw invalidToken()
        throw stepUpRefused(outcome)
      }
      const { secret, uri, expiresIn } = outcome
      return c.json({ secret, otpauth_uri: uri, expires_in: expiresIn }, 200)
    })
    .openapi(confirm, async (c) => {
      const { otp } = c.req.valid('json')
      const outcome = await confirmEnrolment(
        deps,
        { log: c.get('logger'), address: deps.limitAddress(c) },
        c.get('account'),
        otp,
      )
      if (!outcome.ok) {
        if (outcome.reason === 'no_enrolment') throw noEnrolment()
        if (outcome.reason === 'throttled') {
          throw tooManyRequests('login', outcome.retryAfterSeconds)
        }
        throw secondFactorRefused(outcome.reason)
      }
      return c.json({ recovery_codes: outcome.recoveryCodes }, 200)
    })
    .openapi(disable, async (c) => {
      const input = stepUpInput(c.req.valid('json'))
      const outcome = await disableTotp(
        deps,
        { log: c.get('logger'), address: deps.limitAddress(c) },
        c.get('account'),
        input,
      )
      if (!outcome.ok) throw outcome.reason === 'totp_off' ? totpOff() : stepUpRefused(outcome)
      return c.body(null, 204)
    })
    .openapi(regenerate, async (c) => {
      const input = stepUpInput(c.req.valid('json'))
      const outcome = await replaceRecoveryCodes(
        deps,
        { log: c.get('logger'), address: deps.limitAddress(c) },
        c.get('account'),
        input,
      )
      if (!outcome.ok) throw outcome.reason === 'totp_off' ? totpOff() : stepUpRefused(outcome)
      return c.json({ recovery_codes: outcome.recoveryCodes }, 200)
    })
}
