import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS } from '../auth/credentials'
import { MFA_OTP_GRANT } from '../auth/mfa'
import type { RotationOutcome } from '../auth/sessions'
import { replacePasswordHashQuery } from '../db/users'
import { ApiError, bearerChallenge, tooManyRequests } from '../errors'
import type { Logger } from '../logger'
import { requireForm } from '../middleware/body'
import type { AppServices } from '../types'
import { MfaRequiredSchema, mfaOtpGrant, requireSecondFactorLogin } from './mfa-token'
import {
  malformedForm,
  NO_STORE,
  OAuthErrorSchema,
  oauthError,
  throttled,
  tokenBody,
} from './oauth'
import { createRouter } from './router'
import { jsonContent } from './schemas'
import { secondFactorFields } from './second-factor'

const TokenRequestSchema = z
  .object({
    grant_type: z
      .string()
      .optional()
      .openapi({
        example: 'password',
        description: `\`password\` (the default), \`refresh_token\`, or \`${MFA_OTP_GRANT}\` (the second step of a login with TOTP on)`,
      }),
    username: z.string().optional().openapi({ example: 'alice' }),
    password: z.string().optional().openapi({ example: 'correct horse battery staple' }),
    refresh_token: z
      .string()
      .optional()
      .openapi({ description: 'With `grant_type=refresh_token`: the refresh token to exchange' }),
    mfa_token: z
      .string()
      .optional()
      .openapi({
        description: `With \`grant_type=${MFA_OTP_GRANT}\`: the mfa_token of the 403 mfa_required answer`,
      }),
    ...secondFactorFields,
    scope: z.string().optional(),
    client_id: z.string().optional(),
    client_secret: z.string().optional(),
  })
  .openapi('TokenRequest')

const TokenSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().openapi({ example: 1800 }),
    refresh_token: z.string().openapi({
      description: 'Opaque, single use: exchange it with `grant_type=refresh_token`',
    }),
  })
  .openapi('Token')

const route = createRoute({
  method: 'post',
  path: '/token',
  tags: ['tokens'],
  summary:
    'Log in (password grant, then the mfa-otp grant with TOTP on) or refresh a session (refresh_token grant)',
  description:
    'The password grant is for first-party clients only (RFC 9700 §2.4) and answers 401 alike for an unknown user and a wrong password. The refresh_token grant consumes the refresh token and returns its successor; a refresh token that is unknown, expired, revoked or already used is a 400 invalid_grant, and one used again after the grace window ends every session of its user. Refreshes of one session are limited per window (429 with Retry-After). For an account with TOTP on, a right password answers 403 mfa_required with an mfa_token; the login then completes with grant_type=urn:edge-auth:params:oauth:grant-type:mfa-otp, the mfa_token and otp (or recovery_code): the mfa_token is single-use and lives 5 minutes, and wrong codes count against the login throttle like wrong passwords.',
  middleware: [requireForm(malformedForm)] as const,
  request: {
    body: {
      content: {
        'application/x-www-form-urlencoded': { schema: TokenRequestSchema },
        'multipart/form-data': { schema: TokenRequestSchema },
      },
      required: true,
    },
  },
  responses: {
    200: jsonContent(TokenSchema, 'An access token and a refresh token'),
    400: jsonContent(
      OAuthErrorSchema,
      'A malformed token request, or an unusable refresh token (RFC 6749 §5.2)',
    ),
    401: jsonContent(z.object({ detail: z.string() }), 'Incorrect username or password'),
    403: jsonContent(
      MfaRequiredSchema,
      `The password is right and the account has TOTP on: send the mfa_token with a code under grant_type=${MFA_OTP_GRANT}`,
    ),
    413: jsonContent(z.object({ detail: z.string() }), 'The body is too large'),
    415: jsonContent(z.object({ detail: z.string() }), 'The body is not a form'),
    429: jsonContent(
      z.object({ detail: z.string() }),
      'Too many failed logins for this account or from this address, or too many refreshes of this session; see Retry-After',
    ),
  },
})

const badCredentials = () =>
  new ApiError(401, 'Incorrect username or password', { 'WWW-Authenticate': bearerChallenge() })

/** The longest refresh_token parameter read at all (ours are 66 characters, older ones 43). */
const MAX_REFRESH_TOKEN_LENGTH = 512

type TokenForm = z.infer<typeof TokenRequestSchema>

/** `POST /token`: the OAuth2 password grant and the refresh_token grant (RFC 6749 §4.3, §6). */
export function tokenRoutes(deps: AppServices) {
  return createRouter().openapi(
    route,
    async (c) => {
      const form = c.req.valid('form')
      const grant = form.grant_type ?? 'password'
      if (grant !== 'password' && grant !== 'refresh_token' && grant !== MFA_OTP_GRANT) {
        throw oauthError(
          'unsupported_grant_type',
          `grant_type must be "password", "refresh_token" or "${MFA_OTP_GRANT}"`,
        )
      }
      const request = { log: c.get('logger'), address: deps.limitAddress(c) }
      const tokens =
        grant === 'password'
          ? await passwordGrant(deps, request, form)
          : grant === MFA_OTP_GRANT
            ? await mfaOtpGrant(deps, request, form)
            : await refreshGrant(deps, request, form)
      return c.json(tokens, 200, NO_STORE)
    },
    (result) => {
      if (!result.success)
        throw oauthError('invalid_request', 'each parameter must be given once, as text')
    },
  )
}

/** What a grant needs of its request: the request's logger and the client's address. */
interface GrantRequest {
  log: Logger
  address: string | undefined
}

async function passwordGrant(deps: AppServices, { log, address }: GrantRequest, form: TokenForm) {
  const { username, password } = form
  if (!username || !password)
    throw oauthError('invalid_request', 'username and password are required')
  if (username.length > LOGIN_LIMITS.username || password.length > LOGIN_LIMITS.password) {
    throw oauthError('invalid_request', 'username or password is too long')
  }
  const { user, verdict } = await deps.throttle.countLogin(username, address)
  if (!verdict.allowed) {
    throw throttled(
      log,
      verdict,
      verdict.userId,
      'authn_login_fail',
      'Too many failed login attempts',
    )
  }
  if (user === undefined) {
    await deps.passwords.verifyDummy(password)
    log.warn('authn_login_fail', { reason: 'unknown_user' })
    throw badCredentials()
  }
  if (!(await deps.passwords.verify(password, user.hashedPassword))) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'wrong_password' })
    throw badCredentials()
  }
  // The throttle reset and a hash upgrade ride on the statement that starts the session.
  const upgrade = deps.passwords.needsRehash(user.hashedPassword)
    ? await upgradedHash(deps, log, user, password)
    : undefined
  await requireSecondFactorLogin(
    deps,
    { log, address },
    user,
    upgrade === undefined ? [] : [upgrade],
  )
  const alongside = deps.throttle.loginSucceededQueries(user.id, address)
  if (upgrade !== undefined) alongside.push(upgrade)
  const session = await deps.sessions.start(user, alongside)
  if (session === null) {
    log.warn('authn_login_fail', { user_id: user.id, reason: 'deleted' })
    throw badCredentials()
  }
  if (upgrade !== undefined) log.info('authn_password_rehashed', { user_id: user.id })
  const issued = await deps.tokens.issueAccessToken(session.user)
  log.info('authn_login_success', { user_id: user.id })
  log.info('authn_token_created', {
    user_id: user.id,
    jti: issued.claims.jti,
    exp: issued.claims.exp,
  })
  return tokenBody(issued, session.refreshToken)
}

async function refreshGrant(deps: AppServices, { log }: GrantRequest, form: TokenForm) {
  const presented = form.refresh_token
  if (!presented) throw oauthError('invalid_request', 'refresh_token is required')
  if (presented.length > MAX_REFRESH_TOKEN_LENGTH) {
    throw oauthError('invalid_request', 'refresh_token is too long')
  }
  const outcome = await deps.sessions.rotate(presented)
  if (!outcome.ok) throw refreshRefused(deps, log, outcome)
  const issued = await deps.tokens.issueAccessToken(outcome.user)
  log.info('authn_refresh_success', { user_id: outcome.user.id })
  log.info('authn_token_created', {
    user_id: outcome.user.id,
    jti: issued.claims.jti,
    exp: issued.claims.exp,
  })
  return tokenBody(issued, outcome.refreshToken)
}

/** The answer to a refresh the session service refused, logged (and the cache told of a reuse). */
function refreshRefused(
  deps: AppServices,
  log: Logger,
  outcome: Exclude<RotationOutcome, { ok: true }>,
): ApiError {
  if (outcome.reason === 'throttled') {
    const fields = { user_id: outcome.userId, scope: 'refreshFamily' }
    if (outcome.blockStarted) {
      log.warn('excess_rate_limit_exceeded', { ...fields, retry_after: outcome.retryAfterSeconds })
    }
    log.warn('authn_refresh_fail', { ...fields, reason: 'throttled' })
    return tooManyRequests(
      'Too many refreshes of this session; try again later',
      outcome.retryAfterSeconds,
    )
  }
  if (outcome.reason === 'reused') {
    // Every session of the user was ended: this instance's /validate must not trust its cache.
    deps.revocation.forget(outcome.user)
    log.warn('authn_refresh_reuse_detected', { user_id: outcome.user.id, reason: outcome.reason })
  } else {
    log.info('authn_refresh_fail', { user_id: outcome.userId, reason: outcome.reason })
  }
  return oauthError(
    'invalid_grant',
    'The refresh token is invalid, expired, revoked or already used',
  )
}

/**
 * The query that stores a fresh hash of `password` in place of one made with old parameters (only
 * if it is still the one that was verified), or undefined when hashing failed: the login goes on.
 */
async function upgradedHash(
  deps: AppServices,
  log: Logger,
  user: { id: number; hashedPassword: string },
  password: string,
) {
  try {
    const fresh = await deps.passwords.hash(password)
    return deps.db
      .$with('rehashed')
      .as(replacePasswordHashQuery(deps.db, user.id, user.hashedPassword, fresh))
  } catch {
    log.warn('authn_password_rehash_failed', { user_id: user.id })
    return undefined
  }
}
