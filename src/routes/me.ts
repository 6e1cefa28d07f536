import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS } from '../auth/credentials'
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
import { jsonContent, secondFactorFields, text } from '../http/schemas'
import type { AppServices } from '../types'
import { deleteAccount } from '../use-cases/account'

const MeSchema = z
  .object({
    id: z.number().int().openapi({ example: 1 }),
    name: z.string().openapi({ example: 'Alice Liddell' }),
    username: z.string().openapi({ example: 'alice' }),
    created_at: z.string().openapi({ example: '2025-01-31T12:00:00.000Z', format: 'date-time' }),
    totp_enabled: z
      .boolean()
      .openapi({ description: 'Whether logins need a code of the authenticator app (TOTP)' }),
  })
  .openapi('Me')

const DeleteMeSchema = z
  .object({
    current_password: text()
      .max(LOGIN_LIMITS.password)
      .openapi({ description: 'The account password, to confirm' }),
    ...secondFactorFields,
  })
  .openapi('DeleteMeRequest')

const unauthorized = bearerRefusals('No token, or an invalid, expired or revoked one')

/** `GET /me` and `DELETE /me`: the token's own account. */
export function meRoutes(deps: AppServices) {
  const get = createRoute({
    method: 'get',
    path: '/me',
    tags: ['accounts'],
    summary: 'The current account',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps)] as const,
    responses: { 200: jsonContent(MeSchema, 'The account'), 401: unauthorized },
  })
  const remove = createRoute({
    method: 'delete',
    path: '/me',
    tags: ['accounts'],
    summary: 'Delete the current account',
    description:
      'Needs the current password (and, with TOTP on, `otp` or `recovery_code`). Deletes the account and all its sessions; its tokens stop working. The username can be registered again afterwards, as a new account with a new id.',
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps), requireJsonBody()] as const,
    request: {
      body: { content: { 'application/json': { schema: DeleteMeSchema } }, required: true },
    },
    responses: {
      204: { description: 'Deleted' },
      401: unauthorized,
      403: documented(
        'The current password is wrong, or TOTP is on and the code is missing or wrong',
        incorrectPassword(),
        secondFactorMissing(),
        incorrectCode(),
      ),
      409: documented('The password changed during the request', accountChanged()),
      ...jsonBodyRefusals(),
      422: documentedValidation(
        'No current_password',
        validationError([
          { loc: ['body', 'current_password'], msg: 'Field required', type: 'missing' },
        ]),
      ),
      429: documented(
        'Too many failed password attempts for this account or from this address; see Retry-After',
        tooManyRequests('password', 900),
      ),
      503: documented('TOTP is on and two-factor login is off on this service', mfaUnavailable()),
    },
  })

  return createRouter()
    .openapi(get, (c) => {
      const { id, name, username, createdAt, totpEnabled } = c.get('account')
      return c.json(
        { id, name, username, created_at: createdAt.toISOString(), totp_enabled: totpEnabled },
        200,
      )
    })
    .openapi(remove, async (c) => {
      const { current_password, otp, recovery_code } = c.req.valid('json')
      const attempt = { log: c.get('logger'), address: deps.limitAddress(c) }
      const outcome = await deleteAccount(deps, attempt, c.get('account'), current_password, {
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
