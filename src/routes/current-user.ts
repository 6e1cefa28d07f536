import type { MiddlewareHandler } from 'hono'
import { createMiddleware } from 'hono/factory'
import { holderKeyOf, isCutOff } from '../auth/revocation'
import { type AccessClaims, InvalidTokenError } from '../auth/tokens'
import { type Account, findAccount } from '../db/account'
import { requireJson } from '../middleware/body'
import type { AppEnv, AppServices } from '../types'
import { bearerToken, invalidToken } from './validate'

/** Hono variables set by {@link requireAccount}. */
export type AccountEnv = {
  Variables: AppEnv['Variables'] & { account: Account; claims: AccessClaims }
}

/**
 * Demands a bearer access token whose account still exists and has not cut it off, read fresh from
 * the database (never from the revocation cache, and also with `statelessValidation`: these
 * endpoints read the account anyway). Runs before any body parsing, so a request without a valid
 * token is a 401 whatever its body.
 */
export const requireAccount = (deps: AppServices) =>
  createMiddleware<AccountEnv>(async (c, next) => {
    const token = bearerToken(c)
    let claims: AccessClaims
    try {
      claims = await deps.tokens.verifyAccessToken(token)
    } catch (error) {
      if (error instanceof InvalidTokenError) throw invalidToken()
      throw error
    }
    const key = holderKeyOf(claims)
    const account = key === undefined ? undefined : await findAccount(deps.db, key)
    if (account === undefined || isCutOff(claims, account)) throw invalidToken()
    c.set('account', account)
    c.set('claims', claims)
    await next()
  })

/**
 * {@link requireJson} typed to follow {@link requireAccount} in a route's middleware list (its own
 * type, `any`, would hide the account from the handler).
 */
export const requireJsonBody = (): MiddlewareHandler<AccountEnv> => requireJson<AccountEnv>()
