import { createRoute, z } from '@hono/zod-openapi'
import type { WithSubquery } from 'drizzle-orm'
import { LOGIN_LIMITS } from '../auth/credentials'
import { type Account, deleteAccount } from '../db/account'
import { ApiError } from '../errors'
import type { Logger } from '../logger'
import type { AppServices } from '../types'
import { requireAccount, requireJsonBody } from './current-user'
import { throttled } from './oauth'
import { createRouter } from './router'
import { ErrorSchema, jsonContent, text, ValidationErrorSchema } from './schemas'
import { confirmSecondFactor, secondFactorFields, secondFactorOf } from './second-factor'

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

const unauthorized = jsonContent(ErrorSchema, 'No token, or an invalid, expired or revoked one')

/** The 403 for a wrong current password, shared with `PUT /me/password`. */
export const incorrectPassword = () => new ApiError(403, 'Incorrect password')

/** The 429 of `PUT /me/password` and `DELETE /me`, shared with their OpenAPI documents. */
export const throttledResponse = jsonContent(
  ErrorSchema,
  'Too many failed password attempts for this account or from this address; see Retry-After',
)

/** What {@link confirmPassword} needs of its request: the request's logger and the client's address. */
export interface PasswordCheckRequest {
  log: Logger
  address: string | undefined
}

/**
 * Checks `current_password` for `PUT /me/password` and `DELETE /me` under the same throttle as the
 * password grant of `/token` (the account's and the address's failed-login counts): counted in one
 * statement before any hashing, a 429 with `Retry-After` while blocked. A wrong password is a 403,
 * logged as `failEvent`. On success it returns the `WITH` queries that reset the counts, for the
 * statement that makes the change, so that a success costs no round trip of its own.
 */
export async function confirmPassword(
  deps: AppServices,
  { log, address }: PasswordCheckRequest,
  account: Account,
  password: string,
  failEvent: string,
): Promise<WithSubquery[]> {
  const { verdict } = await deps.throttle.countLogin(account.username, address)
  if (!verdict.allowed) {
    throw throttled(log, verdict, account.id, failEvent, 'Too many failed password attempts')
  }
  if (!(await deps.passwords.verify(password, account.hashedPassword))) {
    log.warn(failEvent, { user_id: account.id, reason: 'wrong_password' })
    throw incorrectPassword()
  }
  return deps.throttle.loginSucceededQueries(account.id, address)
}

/** The 409 when the account changed between reading and writing it (a concurrent password change). */
export const accountChanged = () =>
  new ApiError(409, 'The account changed during the request; try again')

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
      403: jsonContent(
        ErrorSchema,
        'The current password is wrong, or TOTP is on and the code is missing or wrong',
      ),
      409: jsonContent(ErrorSchema, 'The password changed during the request'),
      415: jsonContent(ErrorSchema, 'The body is not JSON'),
      422: jsonContent(ValidationErrorSchema, 'No current_password'),
      429: throttledResponse,
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
      const account = c.get('account')
      const body = c.req.valid('json')
      const { current_password } = body
      const factor = secondFactorOf(deps, account, body)
      const request = { log: c.get('logger'), address: deps.limitAddress(c) }
      const resets = await confirmPassword(
        deps,
        request,
        account,
        current_password,
        'account_delete_fail',
      )
      await confirmSecondFactor(deps, request, account, factor, 'account_delete_fail')
      if (!(await deleteAccount(deps.db, account.id, account.hashedPassword, resets))) {
        throw accountChanged()
      }
      deps.revocation.forget(account)
      deps.logger.info('user_deleted', { user_id: account.id })
      return c.body(null, 204)
    })
}
