/** The session flows: the refresh grant, logout everywhere, and the revocation of one session. */
import type { RotationOutcome, SessionGrant } from '../auth/sessions'
import type { ThrottleScope } from '../auth/throttle'
import { findBan } from '../db/bans'
import type { UserRef } from '../db/users'
import type { Logger } from '../logger'
import type { AppServices } from '../types'
import type { Throttled } from './password-check'

/** What a login or a refresh hands the client. */
export interface IssuedTokens {
  accessToken: string
  /** Seconds until the access token expires. */
  expiresIn: number
  refreshToken: string
}

/** A refusal of a login or refresh for a banned account: `until` null means the ban has no end. */
export interface Banned {
  ok: false
  reason: 'banned'
  until: Date | null
}

/** The outcome of {@link refresh}. */
export type RefreshOutcome =
  | { ok: true; tokens: IssuedTokens }
  | Throttled
  /** Unknown, expired, revoked or already used: one answer for all (the logs tell them apart). */
  | { ok: false; reason: 'invalid_grant' }
  /** A ban ended the token's session (and the account is still banned). */
  | Banned

/**
 * An access token for a session just started or rotated, logged: `successEvent`, then
 * `authn_token_created` with the token's id and expiry.
 */
export async function issueTokens(
  deps: Pick<AppServices, 'tokens'>,
  log: Logger,
  grant: SessionGrant,
  successEvent: string,
): Promise<IssuedTokens> {
  const issued = await deps.tokens.issueAccessToken(grant.user)
  const userId = grant.user.id
  log.info(successEvent, { user_id: userId })
  log.info('authn_token_created', {
    user_id: userId,
    jti: issued.claims.jti,
    exp: issued.claims.exp,
  })
  return {
    accessToken: issued.token,
    expiresIn: issued.expiresIn,
    refreshToken: grant.refreshToken,
  }
}

/**
 * The refresh grant: exchanges a refresh token for its successor and a new access token. A reuse
 * after the grace window ends every session of the user (the session service does it) and this
 * instance's revocation cache forgets the user. A token refused as revoked whose account is
 * banned is answered `banned`: a ban ended its session (one read, on that refusal only). A
 * refusal by the per-session limit is counted as a throttle block of scope `refreshFamily`.
 */
export async function refresh(
  deps: Pick<AppServices, 'sessions' | 'tokens' | 'revocation' | 'db' | 'now' | 'metrics'>,
  log: Logger,
  presented: string,
): Promise<RefreshOutcome> {
  const outcome = await deps.sessions.rotate(presented)
  if (!outcome.ok) {
    const userId = outcome.reason === 'revoked' ? outcome.userId : undefined
    const ban =
      userId === undefined ? undefined : await findBan(deps.db, userId, new Date(deps.now()))
    if (ban !== undefined) {
      log.warn('authn_refresh_fail', { user_id: userId, reason: 'banned' })
      return { ok: false, reason: 'banned', until: ban.until }
    }
    return refreshRefused(deps, log, outcome)
  }
  return { ok: true, tokens: await issueTokens(deps, log, outcome, 'authn_refresh_success') }
}

/** The limit that refuses a refresh: THROTTLE_REFRESH_MAX per session (token family). */
const REFRESH_SCOPE: ThrottleScope = 'refreshFamily'

/**
 * A refresh the session service refused, logged (and the cache told of a reuse, the metrics of a
 * throttle block).
 */
function refreshRefused(
  deps: Pick<AppServices, 'revocation' | 'metrics'>,
  log: Logger,
  outcome: Exclude<RotationOutcome, { ok: true }>,
): Exclude<RefreshOutcome, { ok: true } | Banned> {
  if (outcome.reason === 'throttled') {
    deps.metrics.throttleBlock(REFRESH_SCOPE)
    const fields = { user_id: outcome.userId, scope: REFRESH_SCOPE }
    if (outcome.blockStarted) {
      log.warn('excess_rate_limit_exceeded', { ...fields, retry_after: outcome.retryAfterSeconds })
    }
    log.warn('authn_refresh_fail', { ...fields, reason: 'throttled' })
    return { ok: false, reason: 'throttled', retryAfterSeconds: outcome.retryAfterSeconds }
  }
  if (outcome.reason === 'reused') {
    // Every session of the user was ended: this instance's /validate must not trust its cache.
    deps.revocation.forget(outcome.user)
    log.warn('authn_refresh_reuse_detected', { user_id: outcome.user.id, reason: outcome.reason })
  } else {
    log.info('authn_refresh_fail', { user_id: outcome.userId, reason: outcome.reason })
  }
  return { ok: false, reason: 'invalid_grant' }
}

/**
 * Logout everywhere: every refresh token revoked, every access token issued until now cut off.
 * @returns false when the account is gone (nothing was written).
 */
export async function logout(
  deps: Pick<AppServices, 'sessions' | 'revocation' | 'logger'>,
  account: UserRef,
): Promise<boolean> {
  if (!(await deps.sessions.endAll(account.id))) return false
  deps.revocation.forget(account)
  deps.logger.info('authn_logout', { user_id: account.id })
  return true
}

/** RFC 7009 revocation of the session a refresh token belongs to; nothing happens for any other token. */
export async function revokeSession(
  deps: Pick<AppServices, 'sessions' | 'logger'>,
  token: string,
): Promise<void> {
  const revoked = await deps.sessions.revoke(token)
  if (revoked !== undefined) deps.logger.info('authn_refresh_revoked', { user_id: revoked.userId })
}
