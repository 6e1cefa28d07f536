import type { WithSubquery } from 'drizzle-orm'
import type { Database } from '../db/client'
import {
  endSessions,
  findRefreshToken,
  insertSession,
  revokeFamily,
  revokeFamilyOf,
  rotateRefreshToken,
} from '../db/sessions'
import { hashRefreshToken, isRefreshTokenShaped, newRefreshToken } from './refresh'

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

/** Why a refresh token was refused. For logs; the client always gets the same `invalid_grant`. */
export type RefreshFailure =
  | 'malformed'
  | 'unknown'
  | 'revoked'
  | 'expired'
  | 'reused'
  | 'reused_in_grace'

/** Whom a session is for and when it began: what its access tokens carry. */
export interface SessionUser {
  id: number
  username: string
  sessionStartedAt: Date
}

/** A session's current refresh token, and whom it is for. */
export interface SessionGrant {
  refreshToken: string
  user: SessionUser
}

/** The outcome of {@link SessionService.rotate}. */
export type RotationOutcome =
  | ({ ok: true } & SessionGrant)
  | { ok: false; reason: RefreshFailure; userId?: number }

/** Refresh-token sessions: start, rotate with reuse detection, revoke, end all. No HTTP here. */
export interface SessionService {
  readonly options: Readonly<SessionOptions>
  /** Starts a session (a new family). @returns its refresh token, or null if the user no longer exists. */
  start(
    user: { id: number; username: string },
    alongside?: WithSubquery[],
  ): Promise<SessionGrant | null>
  /**
   * Exchanges a refresh token for its successor. A token already used is refused; used longer
   * ago than the grace window, it is taken as stolen and its whole family is revoked.
   */
  rotate(token: string): Promise<RotationOutcome>
  /** Revokes the family of a refresh token. @returns its user, or undefined if nothing was revoked. */
  revoke(token: string): Promise<{ userId: number } | undefined>
  /**
   * Ends every session of a user: refresh tokens revoked, `tokens_valid_after` moved to now.
   * With `password`, also replaces the hash, only if it is still `expectedHash`; all in one statement.
   * @returns false when the user is gone (or the hash changed meanwhile); then nothing was written.
   */
  endAll(
    userId: number,
    password?: { expectedHash: string; newHash: string },
    alongside?: WithSubquery[],
  ): Promise<boolean>
}

/** Options of {@link createSessionService}. */
export interface SessionServiceOptions {
  db: Database
  options: SessionOptions
  /** Current time in milliseconds; it governs every expiry. */
  now: () => number
}

/**
 * Builds the session service.
 * @throws RangeError when a lifetime is not positive or the session limit is shorter than a token's.
 */
export function createSessionService({ db, options, now }: SessionServiceOptions): SessionService {
  const { refreshTokenTtlSeconds: ttl, sessionMaxSeconds: max, reuseGraceSeconds: grace } = options
  if (!(ttl > 0) || !(max >= ttl) || !(grace >= 0)) {
    throw new RangeError('session lifetimes must be positive, the session limit at least a token')
  }
  const after = (ms: number, seconds: number) => new Date(ms + seconds * 1000)

  async function classify(tokenHash: string, at: number): Promise<RotationOutcome> {
    const stored = await findRefreshToken(db, tokenHash)
    if (stored === undefined) return { ok: false, reason: 'unknown' }
    const { userId } = stored
    if (stored.revokedAt !== null) return { ok: false, reason: 'revoked', userId }
    if (stored.consumedAt !== null) {
      if (at - stored.consumedAt.getTime() < grace * 1000) {
        return { ok: false, reason: 'reused_in_grace', userId }
      }
      await revokeFamily(db, stored.familyId, new Date(at))
      return { ok: false, reason: 'reused', userId }
    }
    if (stored.expiresAt.getTime() <= at) return { ok: false, reason: 'expired', userId }
    return { ok: false, reason: 'revoked', userId }
  }

  return {
    options: Object.freeze({ ...options }),

    async start(user, alongside) {
      const at = now()
      const token = newRefreshToken()
      const session = {
        tokenHash: await hashRefreshToken(token),
        familyId: crypto.randomUUID(),
        userId: user.id,
        now: new Date(at),
        expiresAt: after(at, ttl),
        sessionExpiresAt: after(at, max),
      }
      const sessionStartedAt = await insertSession(db, session, alongside)
      if (sessionStartedAt === undefined) return null
      return {
        refreshToken: token,
        user: { id: user.id, username: user.username, sessionStartedAt },
      }
    },

    async rotate(token) {
      if (!isRefreshTokenShaped(token)) return { ok: false, reason: 'malformed' }
      const at = now()
      const tokenHash = await hashRefreshToken(token)
      const successor = newRefreshToken()
      const rotated = await rotateRefreshToken(db, {
        tokenHash,
        successorHash: await hashRefreshToken(successor),
        now: new Date(at),
        expiresAt: after(at, ttl),
      })
      if (rotated === undefined) return classify(tokenHash, at)
      const { userId: id, username, sessionStartedAt } = rotated
      return { ok: true, refreshToken: successor, user: { id, username, sessionStartedAt } }
    },

    async revoke(token) {
      if (!isRefreshTokenShaped(token)) return undefined
      return revokeFamilyOf(db, await hashRefreshToken(token), new Date(now()))
    },

    endAll(userId, password, alongside) {
      return endSessions(db, userId, new Date(now()), password, alongside)
    },
  }
}
