import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS, passwordProblem } from '../auth/credentials'
import { validationError } from '../errors'
import type { AppServices } from '../types'
import { requireAccount, requireJsonBody } from './current-user'
import { accountChanged, confirmPassword, throttledResponse } from './me'
import { createRouter } from './router'
import { ErrorSchema, jsonContent, text, ValidationErrorSchema } from './schemas'
import { confirmSecondFactor, secondFactorFields, secondFactorOf } from './second-factor'

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
      401: jsonContent(ErrorSchema, 'No token, or an invalid, expired or revoked one'),
      403: jsonContent(
        ErrorSchema,
        'The current password is wrong, or TOTP is on and the code is missing or wrong',
      ),
      409: jsonContent(ErrorSchema, 'The password changed during the request'),
      415: jsonContent(ErrorSchema, 'The body is not JSON'),
      422: jsonContent(ValidationErrorSchema, 'A missing field, or a new password breaking a rule'),
      429: throttledResponse,
    },
  })

  return createRouter().openapi(route, async (c) => {
    const account = c.get('account')
    const body = c.req.valid('json')
    const { current_password, new_password } = body
    const problem = passwordProblem(new_password, account.username)
    if (problem !== null) {
      throw validationError([{ loc: ['body', 'new_password'], msg: problem, type: 'value_error' }])
    }
    const factor = secondFactorOf(deps, account, body)
    const request = { log: c.get('logger'), address: deps.limitAddress(c) }
    const resets = await confirmPassword(
      deps,
      request,
      account,
      current_password,
      'password_change_fail',
    )
    await confirmSecondFactor(deps, request, account, factor, 'password_change_fail')
    const newHash = await deps.passwords.hash(new_password)
    const changed = await deps.sessions.endAll(
      account.id,
      { expectedHash: account.hashedPassword, newHash },
      resets,
    )
    if (!changed) throw accountChanged()
    deps.revocation.forget(account)
    deps.logger.info('password_changed', { user_id: account.id })
    return c.body(null, 204)
  })
}
