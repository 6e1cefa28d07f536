/**
 * The admin API's flows: find accounts, ban and unban, end sessions, set a password, remove the
 * second factor, delete. Each
 * action is logged as `authz_admin` with the name of the key that made it, never a secret; each
 * write that ends sessions makes this instance's revocation cache forget the account.
 */
import { passwordProblem, usernameKey } from '../auth/credentials'
import {
  type AdminAccount,
  banAccount,
  deleteAccountById,
  endAccountSessions,
  findAdminAccount,
  type ListPosition,
  listAccounts,
  resetAccountMfa,
  setAccountPassword,
  unbanAccount,
} from '../db/admin'
import type { UserRef } from '../db/users'
import type { LogFields, Logger } from '../logger'
import type { AppServices } from '../types'

/** The account and listing shapes of db/admin.ts, for the route that shows them. */
export type { AdminAccount, ListPosition }

/** Who acts: the request's logger and the name of the admin API key presented. */
export interface Administrator {
  log: Logger
  name: string
}

type AdminDeps = Pick<AppServices, 'db' | 'now' | 'revocation' | 'passwords'>

/** No account has the id an administrator named. */
export type NotFound = { ok: false; reason: 'not_found' }

const NOT_FOUND: NotFound = { ok: false, reason: 'not_found' }

/** What {@link findAccounts} lists: a prefix of usernames (as typed), an id, a place to go on from. */
export interface AccountSearch {
  username?: string | undefined
  id?: number | undefined
  after?: ListPosition | undefined
  /** How many accounts at most. */
  limit: number
}

function logAction(by: Administrator, action: string, fields: LogFields = {}): void {
  by.log.info('authz_admin', { admin: by.name, action, ...fields })
}

/** Accounts in creation order, filtered by `search`, compared by username key (case-insensitively). */
export async function findAccounts(
  deps: AdminDeps,
  by: Administrator,
  search: AccountSearch,
): Promise<AdminAccount[]> {
  const accounts = await listAccounts(deps.db, {
    ...(search.username === undefined ? {} : { usernameKeyPrefix: usernameKey(search.username) }),
    ...(search.id === undefined ? {} : { id: search.id }),
    ...(search.after === undefined ? {} : { after: search.after }),
    limit: search.limit,
    now: new Date(deps.now()),
  })
  logAction(by, 'list', { count: Math.min(accounts.length, search.limit) })
  return accounts
}

/** One account as an administrator sees it, read now. */
async function accountNow(
  deps: AdminDeps,
  id: number,
): Promise<{ ok: true; account: AdminAccount } | NotFound> {
  const account = await findAdminAccount(deps.db, id, new Date(deps.now()))
  return account === undefined ? NOT_FOUND : { ok: true, account }
}

/** Reads one account. */
export async function readAccount(deps: AdminDeps, by: Administrator, id: number) {
  const found = await accountNow(deps, id)
  if (found.ok) logAction(by, 'read', { user_id: id })
  return found
}

/** The outcome of {@link ban}. */
export type BanOutcome =
  | { ok: true; account: AdminAccount }
  | NotFound
  /** `until` is not after now. */
  | { ok: false; reason: 'until_not_in_future' }

/**
 * Bans an account and ends every session of it in one statement (a later ban replaces an earlier
 * one); `until` null: until lifted.
 */
export async function ban(
  deps: AdminDeps,
  by: Administrator,
  id: number,
  reason: string,
  until: Date | null,
): Promise<BanOutcome> {
  const now = new Date(deps.now())
  if (until !== null && until.getTime() <= now.getTime()) {
    return { ok: false, reason: 'until_not_in_future' }
  }
  const banned = await banAccount(deps.db, id, now, { reason, until })
  if (banned === undefined) return NOT_FOUND
  deps.revocation.forget(banned)
  logAction(by, 'ban', { user_id: id, until: until?.toISOString() ?? null, reason })
  return accountNow(deps, id)
}

/** Lifts an account's ban; the sessions it ended stay ended. */
export async function unban(
  deps: AdminDeps,
  by: Administrator,
  id: number,
): Promise<{ ok: true; account: AdminAccount } | NotFound> {
  if ((await unbanAccount(deps.db, id)) === undefined) return NOT_FOUND
  logAction(by, 'unban', { user_id: id })
  return accountNow(deps, id)
}

/** Ends every session of an account, as its own logout does. */
export async function endSessions(
  deps: AdminDeps,
  by: Administrator,
  id: number,
): Promise<{ ok: true } | NotFound> {
  const ended = await endAccountSessions(deps.db, id, new Date(deps.now()))
  if (ended === undefined) return NOT_FOUND
  afterSessionsEnded(deps, by, 'end_sessions', ended)
  return { ok: true }
}

/** The outcome of {@link setPassword}. */
export type SetPasswordOutcome =
  | { ok: true }
  | NotFound
  /** The new password breaks a registration rule, told by `problem`. */
  | { ok: false; reason: 'password_rule'; problem: string }

/**
 * Sets an account's password (the registration rules apply) and ends every session of it, in
 * one statement.
 */
export async function setPassword(
  deps: AdminDeps,
  by: Administrator,
  id: number,
  newPassword: string,
): Promise<SetPasswordOutcome> {
  const account = await findAdminAccount(deps.db, id, new Date(deps.now()))
  if (account === undefined) return NOT_FOUND
  const problem = passwordProblem(newPassword, account.username)
  if (problem !== null) return { ok: false, reason: 'password_rule', problem }
  const hash = await deps.passwords.hash(newPassword)
  const changed = await setAccountPassword(deps.db, id, new Date(deps.now()), hash)
  if (changed === undefined) return NOT_FOUND
  afterSessionsEnded(deps, by, 'set_password', changed)
  return { ok: true }
}

/**
 * Removes an account's second factor, for a user who lost the authenticator and the recovery
 * codes: TOTP off (secret, pending enrolment and recovery codes deleted), the logins waiting for a
 * code dropped, and every session ended, in one statement; the password alone logs in again.
 * Ending the sessions is deliberate: the account's security changed, and a session may live on
 * the lost (or stolen) phone. Logged with `totp_was_enabled`, so the record says whether a factor
 * was removed or there was none.
 */
export async function resetMfa(
  deps: AdminDeps,
  by: Administrator,
  id: number,
): Promise<{ ok: true; account: AdminAccount } | NotFound> {
  const reset = await resetAccountMfa(deps.db, id, new Date(deps.now()))
  if (reset === undefined) return NOT_FOUND
  deps.revocation.forget(reset)
  logAction(by, 'reset_mfa', { user_id: id, totp_was_enabled: reset.totpWasEnabled })
  return accountNow(deps, id)
}

/** Deletes an account and its sessions, whatever its password. */
export async function deleteAccount(
  deps: AdminDeps,
  by: Administrator,
  id: number,
): Promise<{ ok: true } | NotFound> {
  const deleted = await deleteAccountById(deps.db, id)
  if (deleted === undefined) return NOT_FOUND
  afterSessionsEnded(deps, by, 'delete', deleted)
  return { ok: true }
}

function afterSessionsEnded(
  deps: AdminDeps,
  by: Administrator,
  action: string,
  account: UserRef,
): void {
  deps.revocation.forget(account)
  logAction(by, action, { user_id: account.id })
}
