import type { MiddlewareHandler } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AccessClaims } from '../auth/tokens'
import type { Account } from '../db/users'
import { requireJson } from '../middleware/body'
import type { AppEnv, AppServices } from '../types'
import { accountOfToken } from '../use-cases/account'
import { invalidToken } from './answers'
import { bearerToken } from './bearer'

/** Hono variables set by {@link requireAccount}. */
export type AccountEnv = {
  Variables: AppEnv['Variables'] & { account: Account; claims: AccessClaims }
}

/**
 * Demands a bearer access token whose account still exists and has not cut it off, read fresh from
 * the database (see `accountOfToken`). Runs before any body parsing, so a request without a valid
 * token is a 401 whatever its body.
 */
export const requireAccount = (deps: AppServices) =>
  createMiddleware<AccountEnv>(async (c, next) => {
    const found = await accountOfToken(deps, bearerToken(c))
    if (found === undefined) throw invalidToken()
    c.set('account', found.account)
    c.set('claims', found.claims)
    await next()
  })

/**
 * {@link requireJson} typed to follow {@link requireAccount} in a route's middleware list (its own
 * type, `any`, would hide the account from the handler).
 */
export const requireJsonBody = (): MiddlewareHandler<AccountEnv> => requireJson<AccountEnv>()
