import type { Database } from '../db/client'
import {
  endSessions,
  endSessionsOfFamily,
  findRefreshToken,
  revokeFamilyOf,
  rotateRefreshToken,
  startSession,
} from '../db/sessions'
import type { AttemptLimit, AttemptReset } from '../db/throttle'
import type { HashReplacement, UserRef } from '../db/users'
import { hashRefreshToken, newRefreshToken, parseRefreshToken } from './refresh'
import type { TokenSubject } from './tokens'

/** Lifetimes of sessions and how access-token revocation is checked. */
export interface SessionOptions {
  /** Lifetime of one refresh token; each rotation starts a new one (sliding). */
  refreshTokenTtlSeconds: number
  /** Absolute lifetime of a session (a token family), counted from the login; rotation never extends it. */
  sessionMaxSeconds: number
  /** How long after a refresh token was used a second use is refused without revoking its family. */
  reuseGraceSeconds: number
  /** How long `/validate` trusts what it read about a user's `tokens_valid_after`; 0 reads it every time. */
  revocationCacheSeconds: number
  /** When true `/validate` checks signature and claims only, never the database. */
  statelessValidation: boolean
}

const DAY = 24 * 60 * 60

/** The defaults, also those of the configuration. */
export const DEFAULT_SESSION_OPTIONS: Readonly<SessionOptions> = Object.freeze({
  refreshTokenTtlSeconds: 30 * DAY,
  sessionMaxSeconds: 90 * DAY,
  reuseGraceSeconds: 10,
  revocationCacheSeconds: 30,
  statelessValidation: false,
})

/**
 * How many consumed rows of a family a rotation keeps besides the one it consumes: the latest,
 * and only those consumed within the grace window, where a second use is refused without ending
 * the session. With the current token and the one just consumed, a family never holds more than
 * `KEPT_CONSUMED + 2` rows. A token whose row is gone is still known by its family part, so its
 * reuse is detected all the same.
 */
export const KEPT_CONSUMED = 2

/** Why a refresh token was refused. For logs; the client always gets the same `invalid_grant`. */
export type RefreshFailure =
  | 'malformed'
  | 'unknown'
  | 'revoked'
  | 'expired'
  | 'reused'
  | 'reused_in_grace'

/** A session's current refresh token, and whom it is for (what its access tokens carry). */
export interface SessionGrant {
  refreshToken: string
  user: Required<TokenSubject>
}

/** The outcome of {@link SessionService.rotate}. */
export type RotationOutcome =
  | ({ ok: true } & SessionGrant)
  /** Reuse detected: every session of `user` was ended (refresh tokens and access tokens). */
  | { ok: false; reason: 'reused'; user: UserRef }
  | { ok: false; reason: Exclude<RefreshFailure, 'reused'>; userId?: number }
  /** The family's refresh limit refused the attempt; the token was not used up. */
  | {
      ok: false
      reason: 'throttled'
      userId: number
      /** Whole seconds until the family may refresh again (for `Retry-After`). */
      retryAfterSeconds: number
      /** True when this attempt started the block (log it once). */
      blockStarted: boolean
    }

/** Refresh-token sessions: start, rotate with reuse detection, revoke, end all. No HTTP here. */
export interface SessionService {
  readonly options: Readonly<SessionOptions>
  /**
   * Starts a session (a new family) for a user whose password was just verified; the same
   * statement applies the throttle's `reset`, records the login on the account (last login, and
   * `rehash`; see `startSession`). `amr` is how the login was authenticated (the `amr` claim, RFC
   * 8176; default `['pwd']`, a password alone), kept by every rotation of the session.
   * @returns its refresh token, or null if the user no longer exists or is banned (then nothing
   * was written).
   */
  start(
    user: UserRef,
    alongside?: { reset?: AttemptReset; rehash?: HashReplacement | undefined; amr?: string[] },
  ): Promise<SessionGrant | null>
  /**
   * Exchanges a refresh token for its successor, unless the family's refresh limit refuses it
   * (then nothing is used up). A token already used is refused; used longer ago than the grace
   * window (or its row already deleted, known by its family part), it is taken as stolen and every
   * session of its user is ended, as by a logout: refresh tokens revoked, `tokens_valid_after`
   * moved, so the access tokens issued from the family are refused too.
   */
  rotate(token: string): Promise<RotationOutcome>
  /** Revokes the family of a refresh token. @returns its user, or undefined if nothing was revoked. */
  revoke(token: string): Promise<{ userId: number } | undefined>
  /**
   * Ends every session of a user: refresh tokens revoked, `tokens_valid_after` moved to now.
   * With `password`, also replaces the hash, only if it is still `expectedHash`, and applies the
   * throttle's `reset`; all in one statement.
   * @returns false when the user is gone (or the hash changed meanwhile); then nothing was written.
   */
  endAll(userId: number, password?: HashReplacement, reset?: AttemptReset): Promise<boolean>
}

/** Options of {@link createSessionService}. */
export interface SessionServiceOptions {
  db: Database
  options: SessionOptions
  /** Current time in milliseconds; it governs every expiry. */
  now: () => number
  /** Refresh attempts allowed per family and window (`max: 0` or none: no limit). */
  refreshLimit?: AttemptLimit
}

/**
 * Builds the session service.
 * @throws RangeError when a lifetime is not positive or the session limit is shorter than a token's.
 */
export function createSessionService({
  db,
  options,
  now,
  refreshLimit,
}: SessionServiceOptions): SessionService {
  const { refreshTokenTtlSeconds: ttl, sessionMaxSeconds: max, reuseGraceSeconds: grace } = options
  if (!(ttl > 0) || !(max >= ttl) || !(grace >= 0)) {
    throw new RangeError('session lifetimes must be positive, the session limit at least a token')
  }
  const after = (ms: number, seconds: number) => new Date(ms + seconds * 1000)
  const limit = refreshLimit !== undefined && refreshLimit.max > 0 ? refreshLimit : undefined

  async function classify(
    tokenHash: string,
    familyId: string | undefined,
    at: number,
  ): Promise<RotationOutcome> {
    const stored = await findRefreshToken(db, tokenHash, familyId)
    if (stored === undefined) return { ok: false, reason: 'unknown' }
    const { userId } = stored
    if (stored.revokedAt !== null) return { ok: false, reason: 'revoked', userId }
    if (stored.exact) {
      if (stored.consumedAt === null) {
        const reason = stored.expiresAt.getTime() <= at ? 'expired' : 'revoked'
        return { ok: false, reason, userId }
      }
      if (at - stored.consumedAt.getTime() < grace * 1000) {
        return { ok: false, reason: 'reused_in_grace', userId }
      }
    }
    // A consumed token past the grace window, or one whose row a later rotation deleted.
    const user = await endSessionsOfFamily(db, stored.familyId, new Date(at))
    return user === undefined
      ? { ok: false, reason: 'revoked', userId }
      : { ok: false, reason: 'reused', user }
  }

  return {
    options: Object.freeze({ ...options }),

    async start(user, alongside) {
      const amr = alongside?.amr ?? ['pwd']
      const at = now()
      const familyId = crypto.randomUUID()
      const token = newRefreshToken(familyId)
      const session = {
        tokenHash: await hashRefreshToken(token),
        familyId,
        userId: user.id,
        now: new Date(at),
        expiresAt: after(at, ttl),
        sessionExpiresAt: after(at, max),
        amr: amr.join(' '),
      }
      const sessionStartedAt = await startSession(db, session, alongside)
      if (sessionStartedAt === undefined) return null
      return {
        refreshToken: token,
        user: { id: user.id, username: user.username, sessionStartedAt, amr },
      }
    },

    async rotate(token) {
      const parsed = parseRefreshToken(token)
      if (parsed === undefined) return { ok: false, reason: 'malformed' }
      const at = now()
      const tokenHash = await hashRefreshToken(token)
      // A token issued before tokens carried their family (none is issued any more) costs one
      // read: its successor must name the family.
      const familyId =
        parsed.familyId ?? (await findRefreshToken(db, tokenHash, undefined))?.familyId
      if (familyId === undefined) return { ok: false, reason: 'unknown' }
      const successor = newRefreshToken(familyId)
      const result = await rotateRefreshToken(db, {
        tokenHash,
        successorHash: await hashRefreshToken(successor),
        now: new Date(at),
        expiresAt: after(at, ttl),
        limit,
        keepConsumedAfter: new Date(at - grace * 1000),
        keepConsumed: KEPT_CONSUMED,
      })
      if (result.outcome === 'refused') return classify(tokenHash, parsed.familyId, at)
      if (result.outcome === 'throttled') {
        const { retryAfterSeconds, blockStarted } = result.count
        return {
          ok: false,
          reason: 'throttled',
          userId: result.userId,
          retryAfterSeconds: retryAfterSeconds ?? 1,
          blockStarted,
        }
      }
      const { userId: id, username, sessionStartedAt } = result.session
      const amr = result.session.amr?.split(' ') ?? ['pwd']
      return { ok: true, refreshToken: successor, user: { id, username, sessionStartedAt, amr } }
    },

    async revoke(token) {
      const parsed = parseRefreshToken(token)
      if (parsed === undefined) return undefined
      const tokenHash = await hashRefreshToken(token)
      return revokeFamilyOf(db, { tokenHash, familyId: parsed.familyId }, new Date(now()))
    },

    endAll(userId, password, reset) {
      return endSessions(db, userId, new Date(now()), password, reset)
    },
  }
}
