import { z } from '@hono/zod-openapi'
import type { ThrottleVerdict } from '../auth/throttle'
import { ApiError, tooManyRequests } from '../errors'
import type { Logger } from '../logger'

/**
 * The answers of the OAuth endpoints (`/token`, `/revoke`, `/introspect`) that more than one grant
 * or endpoint gives: RFC 6749 §5.2 errors, the throttled password attempt, the token body.
 */

/** RFC 6749 §5.2 error body, with FastAPI's `detail` beside it. */
export const OAuthErrorSchema = z
  .object({
    error: z.enum(['invalid_request', 'unsupported_grant_type', 'invalid_grant']),
    error_description: z.string(),
    detail: z.string(),
  })
  .openapi('OAuthError')

/**
 * The answer to a form body that does not parse (multipart without its boundary, say) on the OAuth
 * endpoints: the `invalid_request` of every other bad form.
 */
export const malformedForm = (): ApiError =>
  oauthError('invalid_request', 'the body is not a well-formed form')

/** `Cache-Control` of every answer of `/token` (RFC 6749 §5.1). */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

/** An OAuth2 error response (RFC 6749 §5.2), with FastAPI's `detail` beside it. */
export function oauthError(
  error: 'invalid_request' | 'unsupported_grant_type' | 'invalid_grant',
  description: string,
) {
  return new ApiError(400, description, NO_STORE, { error, error_description: description })
}

/**
 * The 429 (with `Retry-After`) for a password attempt the throttle refused, logged: the block's
 * start once (`authn_login_lock` for an account, `excess_rate_limit_exceeded` for an address),
 * then `failEvent` with reason `throttled`. Shared by every endpoint that checks a password.
 */
export function throttled(
  log: Logger,
  verdict: Extract<ThrottleVerdict, { allowed: false }>,
  userId: number | undefined,
  failEvent: string,
  detail: string,
): ApiError {
  const fields = { user_id: userId, scope: verdict.scope }
  if (verdict.blockStarted) {
    const event =
      verdict.scope === 'loginAccount' ? 'authn_login_lock' : 'excess_rate_limit_exceeded'
    log.warn(event, { ...fields, retry_after: verdict.retryAfterSeconds })
  }
  log.warn(failEvent, { ...fields, reason: 'throttled' })
  return tooManyRequests(`${detail}; try again later`, verdict.retryAfterSeconds)
}

/** The body of a successful grant (RFC 6749 §5.1). */
export function tokenBody(issued: { token: string; expiresIn: number }, refreshToken: string) {
  return {
    access_token: issued.token,
    token_type: 'bearer' as const,
    expires_in: issued.expiresIn,
    refresh_token: refreshToken,
  }
}
