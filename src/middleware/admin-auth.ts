import { createMiddleware } from 'hono/factory'
import { type AdminKey, looksLikeAdminKey, matchAdminKey } from '../auth/admin-keys'
import { adminKeyRefused, notAdministrator, notFound, tooManyRequests } from '../http/answers'
import { bearerCredential } from '../http/bearer'
import type { AppEnv, AppServices } from '../types'
import { accountOfToken } from '../use-cases/account'

/** Hono variables set by {@link requireAdmin}: the configured key the caller presented. */
export type AdminEnv = {
  Variables: AppEnv['Variables'] & { admin: AdminKey }
}

/**
 * Demands an admin API key as `Authorization: Bearer eak_...` (see auth/admin-keys.ts), before
 * anything else of the request is read:
 * - no key configured: 404, the admin API is off;
 * - a missing, malformed or unknown credential: 401, counted as a failed login of the client
 *   address (one statement), so past the login limit the address gets 429 with `Retry-After`,
 *   for keys and passwords alike, until the block ends;
 * - an access token the account endpoints would take (valid, its account there, its session not
 *   ended): 403, users are never administrators; a token whose session ended is no credential (401).
 * A successful check costs no statement.
 */
export const requireAdmin = (deps: AppServices) =>
  createMiddleware<AdminEnv>(async (c, next) => {
    const keys = deps.admin.keys
    if (keys.length === 0) throw notFound()
    const log = c.get('logger')
    const address = deps.limitAddress(c)
    const known = deps.throttle.addressRefusal(address)
    if (!known.allowed) {
      log.warn('authn_admin_fail', { reason: 'throttled', scope: known.scope })
      throw tooManyRequests('admin', known.retryAfterSeconds)
    }
    const credential = bearerCredential(c)
    if (credential !== undefined && looksLikeAdminKey(credential)) {
      const key = await matchAdminKey(keys, credential)
      if (key !== undefined) {
        c.set('admin', key)
        return next()
      }
    } else if (credential !== undefined && (await accountOfToken(deps, credential)) !== undefined) {
      log.warn('authz_fail', { resource: 'admin', reason: 'not_admin' })
      throw notAdministrator()
    }
    const reason = credential === undefined ? 'missing' : 'invalid_key'
    const verdict = await deps.throttle.countAddressFailure(address)
    if (!verdict.allowed) {
      if (verdict.blockStarted) {
        log.warn('excess_rate_limit_exceeded', {
          scope: verdict.scope,
          retry_after: verdict.retryAfterSeconds,
        })
      }
      log.warn('authn_admin_fail', { reason: 'throttled', scope: verdict.scope })
      throw tooManyRequests('admin', verdict.retryAfterSeconds)
    }
    log.warn('authn_admin_fail', { reason })
    throw adminKeyRefused(credential === undefined)
  })
