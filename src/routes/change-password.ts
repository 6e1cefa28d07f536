import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS, passwordProblem } from '../auth/credentials'
import {
  accountChanged,
  bearerRefusals,
  documented,
  documentedValidation,
  incorrectCode,
  incorrectPassword,
  jsonBodyRefusals,
  mfaUnavailable,
  secondFactorMissing,
  secondFactorRefused,
  tooManyRequests,
  validationError,
} from '../http/answers'
import { requireAccount, requireJsonBody } from '../http/current-user'
import { createRouter } from '../http/router'
import { secondFactorFields, text } from '../http/schemas'
import type { AppServices } from '../types'
import { changePassword } from '../use-cases/account'

const INPUT_BOUND = 4096

const ChangePasswordSchema = z
  .object({
    current_password: text().max(LOGIN_LIMITS.password).openapi({ example: 'old password' }),
    new_password: text().max(INPUT_BOUND).openapi({
      example: 'correct horse battery staple',
      description: 'The registration rules apply: 8-128 characters, not the username',
    }),
    ...secondFactorFields,
  })
  .openapi('ChangePasswordRequest')

/** The 422 of a new password that breaks a registration rule. */
const newPasswordRefused = (problem: string) =>
  validationError([{ loc: ['body', 'new_password'], msg: problem, type: 'value_error' }])

/** `PUT /me/password`: replaces the password and ends every session. */
export function changePasswordRoutes(deps: AppServices) {
  const route = createRoute({
    method: 'put',
    path: '/me/password',
    tags: ['accounts'],
    summary: 'Change the password',
    description:
      'Checks the current password (and, with TOTP on, `otp` or `recovery_code`) and applies the registration rules to the new one, then replaces the hash and ends every session (refresh tokens revoked, access tokens cut off). Log in again afterwards.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: {
      body: { content: { 'application/json': { schema: ChangePasswordSchema } }, required: true },
    },
    responses: {
      204: { description: 'Changed; every session ended' },
      401: bearerRefusals('No token, or an invalid, expired or revoked one'),
      403: documented(
        'The current password is wrong, or TOTP is on and the code is missing or wrong',
        incorrectPassword(),
        secondFactorMissing(),
        incorrectCode(),
      ),
      409: documented('The password changed during the request', accountChanged()),
      ...jsonBodyRefusals(),
      422: documentedValidation(
        'A missing field, or a new password breaking a rule',
        validationError([
          { loc: ['body', 'current_password'], msg: 'Field required', type: 'missing' },
        ]),
        newPasswordRefused(passwordProblem('short', 'alice') ?? ''),
      ),
      429: documented(
        'Too many failed password attempts for this account or from this address; see Retry-After',
        tooManyRequests('password', 900),
      ),
      503: documented('TOTP is on and two-factor login is off on this service', mfaUnavailable()),
    },
  })

  return createRouter().openapi(route, async (c) => {
    const account = c.get('account')
    const { current_password, new_password, otp, recovery_code } = c.req.valid('json')
    const problem = passwordProblem(new_password, account.username)
    if (problem !== null) throw newPasswordRefused(problem)
    const attempt = { log: c.get('logger'), address: deps.limitAddress(c) }
    const outcome = await changePassword(deps, attempt, account, current_password, new_password, {
      otp,
      recoveryCode: recovery_code,
    })
    if (!outcome.ok) {
      if (outcome.reason === 'throttled') {
        throw tooManyRequests('password', outcome.retryAfterSeconds)
      }
      if (outcome.reason === 'wrong_password') throw incorrectPassword()
      if (outcome.reason === 'account_changed') throw accountChanged()
      throw secondFactorRefused(outcome.reason)
    }
    return c.body(null, 204)
  })
}
