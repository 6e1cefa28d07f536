import type { Context } from 'hono'
import { RevocationUnavailableError } from '../auth/revocation'
import type { AccessClaims } from '../auth/tokens'
import type { AppServices } from '../types'
import { invalidToken, notAuthenticated, revocationUnavailable } from './answers'

const BEARER = /^bearer +([^\s]+) *$/i

/**
 * The credential of an `Authorization: Bearer <credential>` header, or undefined when there is
 * none or it is not of that form (what the admin API reads, where both are a 401).
 */
export function bearerCredential(c: Context): string | undefined {
  return credentialOfBearer(c.req.header('authorization'))
}

/**
 * The credential of an `Authorization` header's value of the form `Bearer <credential>`, or
 * undefined when there is no header or it is of another form.
 */
export function credentialOfBearer(header: string | null | undefined): string | undefined {
  return header == null ? undefined : BEARER.exec(header)?.[1]
}

/**
 * Reads the bearer token of RFC 6750 §2.1 from the Authorization header (never from the query).
 * @throws {ApiError} 401 without `error` when there are no bearer credentials, `invalid_token` when malformed.
 */
export function bearerToken(c: Context): string {
  const header = c.req.header('authorization')
  if (header === undefined || !/^bearer(?: |$)/i.test(header)) throw notAuthenticated()
  const match = BEARER.exec(header)
  if (match?.[1] === undefined) throw invalidToken()
  return match[1]
}

/**
 * The revocation step of `/validate` and `/introspect`, after signature and claims: refuses a token
 * whose session began at or before its account's `tokens_valid_after` (logout, password change)
 * or whose account is gone, read through the per-process cache. Skipped with `statelessValidation`.
 * Fails closed: 503 when the account had to be read and could not be.
 */
export async function ensureNotRevoked(
  deps: Pick<AppServices, 'sessions' | 'revocation' | 'logger'>,
  claims: AccessClaims,
): Promise<void> {
  if (deps.sessions.options.statelessValidation) return
  let revoked: boolean
  try {
    revoked = await deps.revocation.isRevoked(claims)
  } catch (error) {
    if (!(error instanceof RevocationUnavailableError)) throw error
    deps.logger.error('revocation_check_unavailable', {
      error: error.cause instanceof Error ? error.cause.name : 'unknown',
    })
    throw revocationUnavailable()
  }
  if (revoked) throw invalidToken()
}
