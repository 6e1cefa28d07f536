import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { LOGIN_LIMITS } from '../auth/credentials'
import {
  adminKeyRefused,
  documented,
  documentedValidation,
  jsonBodyRefusals,
  notAdministrator,
  notFound,
  tooManyRequests,
  userNotFound,
  validationError,
} from '../http/answers'
import { createRouter } from '../http/router'
import { jsonContent, text } from '../http/schemas'
import { type AdminEnv, requireAdmin } from '../middleware/admin-auth'
import { requireJson } from '../middleware/body'
import type { AppServices } from '../types'
import {
  type AdminAccount,
  type Administrator,
  ban as banFlow,
  deleteAccount,
  endSessions as endSessionsFlow,
  findAccounts,
  type ListPosition,
  readAccount,
  resetMfa as resetMfaFlow,
  setPassword as setPasswordFlow,
  unban as unbanFlow,
} from '../use-cases/admin'

/** The largest id a `serial` column holds. */
const MAX_ID = 2_147_483_647

/** Most accounts one page lists, and how many when the request does not say. */
const PAGE = { max: 100, default: 50 } as const

/** The longest ban reason kept. */
const MAX_REASON = 500

const AdminAccountSchema = z
  .object({
    id: z.number().int().openapi({ example: 42 }),
    name: z.string().openapi({ example: 'Alice Liddell' }),
    username: z.string().openapi({ example: 'alice' }),
    created_at: z.string().openapi({ format: 'date-time', example: '2025-01-31T12:00:00.000Z' }),
    last_login_at: z
      .string()
      .nullable()
      .openapi({ format: 'date-time', description: 'null: no login since the column existed' }),
    banned: z.boolean(),
    ban: z
      .object({
        reason: z.string().openapi({ example: 'spam' }),
        since: z.string().openapi({ format: 'date-time' }),
        until: z
          .string()
          .nullable()
          .openapi({ format: 'date-time', description: 'null: until lifted' }),
      })
      .nullable()
      .openapi({ description: 'The ban in force, or null (an expired ban is no longer shown)' }),
    active_sessions: z
      .number()
      .int()
      .openapi({ example: 2, description: 'Sessions that can still be refreshed' }),
    totp_enabled: z.boolean().openapi({
      description:
        'Whether logins need a code of an authenticator app (TOTP on); `DELETE /admin/users/{id}/mfa` turns it off',
    }),
  })
  .openapi('AdminAccount')

const AccountPageSchema = z
  .object({
    users: z.array(AdminAccountSchema),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .openapi('AdminAccountPage')

/**
 * A whole number from 1 to `max`, in decimal digits only: `Number()` (and `z.coerce`) would also
 * take `0x10`, `1e2`, `+5` or blanks, so `/admin/users/0x1` would name account 1.
 */
const wholeNumber = (max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'Input should be a whole number in decimal digits' })
    .pipe(z.coerce.number<string>().int().min(1).max(max))

/** Text an administrator types that is stored or compared in SQL: Unicode without NUL. */
const storedText = () =>
  text().refine((s) => !s.includes('\0'), { message: 'Input should not contain NUL' })

// Strict: an unknown parameter is a 422, not ignored (a misspelt filter would list every account).
const ListQuerySchema = z.strictObject({
  username: storedText()
    .min(1)
    .max(LOGIN_LIMITS.username)
    .optional()
    .openapi({ description: 'Usernames starting with this, compared case-insensitively (by key)' }),
  id: wholeNumber(MAX_ID)
    .optional()
    .openapi({ type: 'integer', minimum: 1, maximum: MAX_ID, example: 42 }),
  limit: wholeNumber(PAGE.max)
    .optional()
    .openapi({
      type: 'integer',
      minimum: 1,
      maximum: PAGE.max,
      description: `1 to ${PAGE.max}; ${PAGE.default} when absent`,
    }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: '`next_cursor` of the previous page' }),
})

const UserParamSchema = z.object({
  id: wholeNumber(MAX_ID).openapi({
    param: { name: 'id', in: 'path' },
    type: 'integer',
    minimum: 1,
    maximum: MAX_ID,
    example: 42,
  }),
})

// Strict bodies: a misspelt `until` must not make a ban without end.
const BanSchema = z
  .strictObject({
    reason: storedText()
      .trim()
      .min(1)
      .max(MAX_REASON)
      .openapi({ example: 'spam', description: 'Shown to administrators and logged' }),
    until: z.iso.datetime({ offset: true }).nullable().optional().openapi({
      example: '2026-12-31T00:00:00Z',
      description: 'When the ban ends by itself (in the future); absent or null: until lifted',
    }),
  })
  .openapi('BanRequest')

const SetPasswordSchema = z
  .strictObject({
    new_password: text().max(4096).openapi({
      description: 'The registration rules apply: 8-128 characters, not the username',
    }),
  })
  .openapi('SetPasswordRequest')

const RETRY_EXAMPLE = 900

const errors = {
  401: documented(
    'No admin API key, or a wrong one',
    adminKeyRefused(true),
    adminKeyRefused(false),
  ),
  403: documented("A user's access token: users are not administrators", notAdministrator()),
  404: documented(
    'No such account, or the admin API is off (no ADMIN_API_KEYS)',
    userNotFound(),
    notFound(),
  ),
  422: documentedValidation(
    'A parameter or field breaks its rule',
    validationError([
      { loc: ['path', 'id'], msg: 'Input should be a valid number', type: 'value_error' },
    ]),
  ),
  429: documented(
    'Too many failed logins or admin key checks from this address; see Retry-After',
    tooManyRequests('admin', RETRY_EXAMPLE),
  ),
}

const bodyErrors = jsonBodyRefusals()

/** The opaque cursor of a place in the listing: base64url of `<created_at>|<id>`. */
function encodeCursor(position: ListPosition): string {
  return btoa(`${position.createdAt}|${position.id}`)
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|([1-9]\d{0,9})$/

/**
 * Whether a cursor's `YYYY-MM-DDTHH:MM:SS.ffffffZ` names a moment Postgres can hold: a real date
 * and time (Date would roll February 30 over into March) from year 1 on.
 */
function isTimestamp(value: string): boolean {
  const seconds = value.slice(0, 19)
  const parsed = new Date(`${seconds}Z`)
  return (
    value.slice(0, 4) !== '0000' &&
    !Number.isNaN(parsed.getTime()) &&
    parsed.toISOString().slice(0, 19) === seconds
  )
}

/** @throws {ApiError} 422 when `cursor` is not one this service made. */
function decodeCursor(cursor: string): ListPosition {
  let decoded = ''
  try {
    decoded = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'))
  } catch {
    // Not base64: refused below like any other foreign cursor.
  }
  const match = CURSOR.exec(decoded)
  const id = Number(match?.[2])
  if (match?.[1] === undefined || !(id <= MAX_ID) || !isTimestamp(match[1])) {
    throw validationError([
      { loc: ['query', 'cursor'], msg: 'Input should be a next_cursor', type: 'value_error' },
    ])
  }
  return { createdAt: match[1], id }
}

function accountBody(account: AdminAccount) {
  const { ban } = account
  return {
    id: account.id,
    name: account.name,
    username: account.username,
    created_at: account.createdAt.toISOString(),
    last_login_at: account.lastLoginAt?.toISOString() ?? null,
    banned: ban !== undefined,
    ban:
      ban === undefined
        ? null
        : {
            reason: ban.reason,
            since: ban.since.toISOString(),
            until: ban.until?.toISOString() ?? null,
          },
    active_sessions: account.activeSessions,
    totp_enabled: account.totpEnabled,
  }
}

/** The administrator of a request: its logger and the name of the key it presented. */
const administrator = (c: Context<AdminEnv>): Administrator => ({
  log: c.get('logger'),
  name: c.get('admin').name,
})

/**
 * The admin API under `/admin/users`: list and search accounts, read one, ban and unban, end its
 * sessions, set its password, remove its second factor, delete it. Authenticated by an admin API key ({@link requireAdmin});
 * every action is logged as `authz_admin`.
 */
export function adminRoutes(deps: AppServices) {
  const admin = requireAdmin(deps)
  const security = [{ adminKey: [] }]
  const tags = ['admin']
  const route = <M extends 'get' | 'post' | 'put' | 'delete', P extends string>(
    method: M,
    path: P,
  ) => ({
    method,
    path,
    tags,
    security,
  })

  const list = createRoute({
    ...route('get', '/admin/users'),
    summary: 'List or search accounts',
    description: `Accounts in creation order, ${PAGE.default} per page (\`limit\` up to ${PAGE.max}); \`username\` keeps those whose username starts with it (case-insensitively), \`id\` the one with that id. Follow \`next_cursor\` for the next page.`,
    middleware: [admin] as const,
    request: { query: ListQuerySchema },
    responses: { 200: jsonContent(AccountPageSchema, 'A page of accounts'), ...errors },
  })
  const read = createRoute({
    ...route('get', '/admin/users/{id}'),
    summary: 'Read an account',
    middleware: [admin] as const,
    request: { params: UserParamSchema },
    responses: { 200: jsonContent(AdminAccountSchema, 'The account'), ...errors },
  })
  const ban = createRoute({
    ...route('post', '/admin/users/{id}/ban'),
    summary: 'Ban an account',
    description:
      'From now on the account cannot log in or refresh (403 on `/token`, once its password or refresh token was right), and every session of it ends as with its own logout: its access tokens are refused by `/validate` at once on this instance, within TOKEN_REVOCATION_CACHE_SECONDS on the others, and by the account endpoints at once. A ban with `until` ends by itself then. Banning again replaces the ban.',
    middleware: [admin, requireJson<AdminEnv>()] as const,
    request: {
      params: UserParamSchema,
      body: { content: { 'application/json': { schema: BanSchema } }, required: true },
    },
    responses: {
      200: jsonContent(AdminAccountSchema, 'The account, banned'),
      ...errors,
      ...bodyErrors,
    },
  })
  const unban = createRoute({
    ...route('delete', '/admin/users/{id}/ban'),
    summary: 'Lift the ban of an account',
    description: 'The account may log in again; the sessions the ban ended stay ended.',
    middleware: [admin] as const,
    request: { params: UserParamSchema },
    responses: { 200: jsonContent(AdminAccountSchema, 'The account, not banned'), ...errors },
  })
  const endSessions = createRoute({
    ...route('delete', '/admin/users/{id}/sessions'),
    summary: 'End every session of an account',
    description: 'As its own `POST /logout` does: refresh tokens revoked, access tokens cut off.',
    middleware: [admin] as const,
    request: { params: UserParamSchema },
    responses: { 204: { description: 'Every session ended' }, ...errors },
  })
  const setPassword = createRoute({
    ...route('put', '/admin/users/{id}/password'),
    summary: 'Set the password of an account',
    description:
      'The registration rules apply. Every session of the account ends, in the same statement.',
    middleware: [admin, requireJson<AdminEnv>()] as const,
    request: {
      params: UserParamSchema,
      body: { content: { 'application/json': { schema: SetPasswordSchema } }, required: true },
    },
    responses: { 204: { description: 'Set; every session ended' }, ...errors, ...bodyErrors },
  })
  const resetMfa = createRoute({
    ...route('delete', '/admin/users/{id}/mfa'),
    summary: 'Remove the second factor of an account',
    description:
      'For a user who lost the authenticator app and the recovery codes. In one statement: TOTP is turned off (the secret, an enrolment still pending and the recovery codes are deleted), logins still waiting for a code (their `mfa_token`s) are dropped, and every session ends as with its own `POST /logout`, since the security of the account changed and a session may live on the lost phone. The password alone logs in again; the user may enrol again. Answered for an account without TOTP too (nothing to remove; its sessions still end).',
    middleware: [admin] as const,
    request: { params: UserParamSchema },
    responses: {
      200: jsonContent(AdminAccountSchema, 'The account, TOTP off, no active session'),
      ...errors,
    },
  })
  const remove = createRoute({
    ...route('delete', '/admin/users/{id}'),
    summary: 'Delete an account',
    description:
      'Deletes the account and its sessions; its tokens stop working. The username can be registered again.',
    middleware: [admin] as const,
    request: { params: UserParamSchema },
    responses: { 204: { description: 'Deleted' }, ...errors },
  })

  return createRouter()
    .openapi(list, async (c) => {
      const query = c.req.valid('query')
      const limit = query.limit ?? PAGE.default
      const rows = await findAccounts(deps, administrator(c), {
        username: query.username,
        id: query.id,
        after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
        limit: limit + 1,
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return c.json(
        {
          users: page.map(accountBody),
          next_cursor:
            rows.length > limit && last !== undefined ? encodeCursor(last.position) : null,
        },
        200,
      )
    })
    .openapi(read, async (c) => {
      const found = await readAccount(deps, administrator(c), c.req.valid('param').id)
      if (!found.ok) throw userNotFound()
      return c.json(accountBody(found.account), 200)
    })
    .openapi(ban, async (c) => {
      const { id } = c.req.valid('param')
      const { reason, until } = c.req.valid('json')
      const end = until === undefined || until === null ? null : new Date(until)
      const banned = await banFlow(deps, administrator(c), id, reason, end)
      if (!banned.ok) {
        if (banned.reason === 'not_found') throw userNotFound()
        throw validationError([
          { loc: ['body', 'until'], msg: 'Input should be in the future', type: 'value_error' },
        ])
      }
      return c.json(accountBody(banned.account), 200)
    })
    .openapi(unban, async (c) => {
      const unbanned = await unbanFlow(deps, administrator(c), c.req.valid('param').id)
      if (!unbanned.ok) throw userNotFound()
      return c.json(accountBody(unbanned.account), 200)
    })
    .openapi(endSessions, async (c) => {
      const ended = await endSessionsFlow(deps, administrator(c), c.req.valid('param').id)
      if (!ended.ok) throw userNotFound()
      return c.body(null, 204)
    })
    .openapi(setPassword, async (c) => {
      const { id } = c.req.valid('param')
      const { new_password } = c.req.valid('json')
      const set = await setPasswordFlow(deps, administrator(c), id, new_password)
      if (!set.ok) {
        if (set.reason === 'not_found') throw userNotFound()
        throw validationError([
          { loc: ['body', 'new_password'], msg: set.problem, type: 'value_error' },
        ])
      }
      return c.body(null, 204)
    })
    .openapi(resetMfa, async (c) => {
      const reset = await resetMfaFlow(deps, administrator(c), c.req.valid('param').id)
      if (!reset.ok) throw userNotFound()
      return c.json(accountBody(reset.account), 200)
    })
    .openapi(remove, async (c) => {
      const deleted = await deleteAccount(deps, administrator(c), c.req.valid('param').id)
      if (!deleted.ok) throw userNotFound()
      return c.body(null, 204)
    })
}
