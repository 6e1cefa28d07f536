import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { LOGIN_LIMITS, passwordProblem, usernameKey } from '../auth/credentials'
import {
  type AdminAccount,
  banAccount,
  deleteAccountById,
  endAccountSessions,
  findAdminAccount,
  type ListPosition,
  listAccounts,
  setAccountPassword,
  unbanAccount,
} from '../db/admin'
import { ApiError, validationError } from '../errors'
import type { LogFields } from '../logger'
import { type AdminEnv, requireAdmin } from '../middleware/admin-auth'
import { requireJson } from '../middleware/body'
import type { AppServices } from '../types'
import { createRouter } from './router'
import { ErrorSchema, jsonContent, text, ValidationErrorSchema } from './schemas'

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

const ListQuerySchema = z.object({
  username: text()
    .min(1)
    .max(LOGIN_LIMITS.username)
    .refine((s) => !s.includes('\0'), { message: 'Input should not contain NUL' })
    .optional()
    .openapi({ description: 'Usernames starting with this, compared case-insensitively (by key)' }),
  id: z.coerce.number().int().min(1).max(MAX_ID).optional().openapi({ example: 42 }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(PAGE.max)
    .optional()
    .openapi({ description: `1 to ${PAGE.max}; ${PAGE.default} when absent` }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: '`next_cursor` of the previous page' }),
})

const UserParamSchema = z.object({
  id: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_ID)
    .openapi({ param: { name: 'id', in: 'path' }, example: 42 }),
})

const BanSchema = z
  .object({
    reason: text()
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
  .object({
    new_password: text().max(4096).openapi({
      description: 'The registration rules apply: 8-128 characters, not the username',
    }),
  })
  .openapi('SetPasswordRequest')

const errors = {
  401: {
    ...jsonContent(ErrorSchema, 'No admin API key, or a wrong one'),
    headers: z.object({
      'WWW-Authenticate': z.string().openapi({ example: 'Bearer realm="admin"' }),
    }),
  },
  403: jsonContent(ErrorSchema, "A user's access token: users are not administrators"),
  404: jsonContent(ErrorSchema, 'No such account, or the admin API is off (no ADMIN_API_KEYS)'),
  422: jsonContent(ValidationErrorSchema, 'A parameter or field breaks its rule'),
  429: jsonContent(
    ErrorSchema,
    'Too many failed logins or admin key checks from this address; see Retry-After',
  ),
}

const bodyErrors = { 415: jsonContent(ErrorSchema, 'The body is not JSON') }

const userNotFound = () => new ApiError(404, 'User not found')

/** The opaque cursor of a place in the listing: base64url of `<created_at>|<id>`. */
function encodeCursor(position: ListPosition): string {
  return btoa(`${position.createdAt}|${position.id}`)
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|([1-9]\d{0,9})$/

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
  if (match?.[1] === undefined || !(id <= MAX_ID)) {
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
  }
}

/** Logs an administrator's action: who (the key's name), what, on which account; never a secret. */
function logAction(c: Context<AdminEnv>, action: string, fields: LogFields = {}): void {
  c.get('logger').info('authz_admin', { admin: c.get('admin').name, action, ...fields })
}

/**
 * The admin API under `/admin/users`: list and search accounts, read one, ban and unban, end its
 * sessions, set its password, delete it. Authenticated by an admin API key ({@link requireAdmin});
 * every action is logged as `authz_admin`.
 */
export function adminRoutes(deps: AppServices) {
  const admin = requireAdmin(deps)
  const security = [{ adminKey: [] }]
  const tags = ['admin']
  const now = () => new Date(deps.now())
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
  const remove = createRoute({
    ...route('delete', '/admin/users/{id}'),
    summary: 'Delete an account',
    description:
      'Deletes the account and its sessions; its tokens stop working. The username can be registered again.',
    middleware: [admin] as const,
    request: { params: UserParamSchema },
    responses: { 204: { description: 'Deleted' }, ...errors },
  })

  /** The account as it is now, after an action on it. */
  const current = async (id: number) => {
    const account = await findAdminAccount(deps.db, id, now())
    if (account === undefined) throw userNotFound()
    return accountBody(account)
  }

  return createRouter()
    .openapi(list, async (c) => {
      const query = c.req.valid('query')
      const limit = query.limit ?? PAGE.default
      const rows = await listAccounts(deps.db, {
        ...(query.username === undefined ? {} : { usernameKeyPrefix: usernameKey(query.username) }),
        ...(query.id === undefined ? {} : { id: query.id }),
        ...(query.cursor === undefined ? {} : { after: decodeCursor(query.cursor) }),
        limit: limit + 1,
        now: now(),
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      logAction(c, 'list', { count: page.length })
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
      const { id } = c.req.valid('param')
      const account = await current(id)
      logAction(c, 'read', { user_id: id })
      return c.json(account, 200)
    })
    .openapi(ban, async (c) => {
      const { id } = c.req.valid('param')
      const { reason, until } = c.req.valid('json')
      const at = now()
      const end = until === undefined || until === null ? null : new Date(until)
      if (end !== null && end.getTime() <= at.getTime()) {
        throw validationError([
          { loc: ['body', 'until'], msg: 'Input should be in the future', type: 'value_error' },
        ])
      }
      const banned = await banAccount(deps.db, id, at, { reason, until: end })
      if (banned === undefined) throw userNotFound()
      deps.revocation.forget(banned)
      logAction(c, 'ban', { user_id: id, until: end?.toISOString() ?? null, reason })
      return c.json(await current(id), 200)
    })
    .openapi(unban, async (c) => {
      const { id } = c.req.valid('param')
      if ((await unbanAccount(deps.db, id)) === undefined) throw userNotFound()
      logAction(c, 'unban', { user_id: id })
      return c.json(await current(id), 200)
    })
    .openapi(endSessions, async (c) => {
      const { id } = c.req.valid('param')
      const ended = await endAccountSessions(deps.db, id, now())
      if (ended === undefined) throw userNotFound()
      deps.revocation.forget(ended)
      logAction(c, 'end_sessions', { user_id: id })
      return c.body(null, 204)
    })
    .openapi(setPassword, async (c) => {
      const { id } = c.req.valid('param')
      const { new_password } = c.req.valid('json')
      const account = await findAdminAccount(deps.db, id, now())
      if (account === undefined) throw userNotFound()
      const problem = passwordProblem(new_password, account.username)
      if (problem !== null) {
        throw validationError([
          { loc: ['body', 'new_password'], msg: problem, type: 'value_error' },
        ])
      }
      const hash = await deps.passwords.hash(new_password)
      const changed = await setAccountPassword(deps.db, id, now(), hash)
      if (changed === undefined) throw userNotFound()
      deps.revocation.forget(changed)
      logAction(c, 'set_password', { user_id: id })
      return c.body(null, 204)
    })
    .openapi(remove, async (c) => {
      const { id } = c.req.valid('param')
      const deleted = await deleteAccountById(deps.db, id)
      if (deleted === undefined) throw userNotFound()
      deps.revocation.forget(deleted)
      logAction(c, 'delete', { user_id: id })
      return c.body(null, 204)
    })
}
