import { createRoute, z } from '@hono/zod-openapi'
import { LOGIN_LIMITS } from '../auth/credentials'
import { MFA_OTP_GRANT, type SecondFactor } from '../auth/mfa'
import {
  accountBanned,
  badCredentials,
  documented,
  documentedLoginRefusals,
  documentedOAuth,
  formBodyRefusals,
  invalidGrant,
  invalidMfaToken,
  MFA_TOKEN_EXAMPLE,
  malformedForm,
  mfaRequired,
  mfaUnavailable,
  oauthError,
  tooManyRequests,
  wrongMfaCode,
} from '../http/answers'
import { createRouter } from '../http/router'
import { jsonContent, secondFactorFields } from '../http/schemas'
import { requireForm } from '../middleware/body'
import type { AppServices } from '../types'
import { passwordLogin } from '../use-cases/login'
import { readSecondFactor, secondFactorLogin } from '../use-cases/mfa'
import { type IssuedTokens, refresh } from '../use-cases/sessions'

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

const RETRY_EXAMPLE = 900

const UNSUPPORTED_GRANT = `grant_type must be "password", "refresh_token" or "${MFA_OTP_GRANT}"`

/** The end of a ban in the documented example of a ban with an end. */
const BAN_END_EXAMPLE = new Date('2026-12-31T00:00:00Z')

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
    400: documentedOAuth(
      'A malformed token request, or an unusable refresh token (RFC 6749 §5.2)',
      oauthError('invalid_request', 'username and password are required'),
      oauthError('unsupported_grant_type', UNSUPPORTED_GRANT),
      invalidGrant(),
      invalidMfaToken(),
      wrongMfaCode(),
    ),
    401: documented('Incorrect username or password', badCredentials()),
    403: documentedLoginRefusals(
      `The account is banned (answered only after the password, the code or the refresh token was right), or the password is right and the account has TOTP on: send the mfa_token with a code under grant_type=${MFA_OTP_GRANT}`,
      accountBanned(null),
      accountBanned(BAN_END_EXAMPLE),
      mfaRequired(MFA_TOKEN_EXAMPLE),
    ),
    ...formBodyRefusals(),
    429: documented(
      'Too many failed logins for this account or from this address, or too many refreshes of this session; see Retry-After',
      tooManyRequests('login', RETRY_EXAMPLE),
      tooManyRequests('refresh', RETRY_EXAMPLE),
    ),
    503: documented(
      'Two-factor login is off on this service (no MFA_ENCRYPTION_KEY in production): the mfa-otp grant, and a password login of an account with TOTP on',
      mfaUnavailable(),
    ),
  },
})

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

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
      const log = c.get('logger')
      let tokens: IssuedTokens
      if (grant === 'password') {
        const { username, password } = passwordForm(form)
        const attempt = { log, address: deps.limitAddress(c) }
        const outcome = await passwordLogin(deps, attempt, username, password)
        if (!outcome.ok) {
          if (outcome.reason === 'throttled') {
            throw tooManyRequests('login', outcome.retryAfterSeconds)
          }
          if (outcome.reason === 'banned') throw accountBanned(outcome.until)
          if (outcome.reason === 'mfa_required') throw mfaRequired(outcome.mfaToken)
          if (outcome.reason === 'mfa_unavailable') throw mfaUnavailable()
          throw badCredentials()
        }
        tokens = outcome.tokens
      } else if (grant === MFA_OTP_GRANT) {
        const { mfaToken, factor } = mfaOtpForm(form)
        const attempt = { log, address: deps.limitAddress(c) }
        const outcome = await secondFactorLogin(deps, attempt, mfaToken, factor)
        if (!outcome.ok) {
          if (outcome.reason === 'throttled') {
            throw tooManyRequests('login', outcome.retryAfterSeconds)
          }
          if (outcome.reason === 'banned') throw accountBanned(outcome.until)
          if (outcome.reason === 'mfa_unavailable') throw mfaUnavailable()
          throw outcome.reason === 'wrong_code' ? wrongMfaCode() : invalidMfaToken()
        }
        tokens = outcome.tokens
      } else if (grant === 'refresh_token') {
        const outcome = await refresh(deps, log, refreshTokenOf(form))
        if (!outcome.ok) {
          if (outcome.reason === 'throttled') {
            throw tooManyRequests('refresh', outcome.retryAfterSeconds)
          }
          if (outcome.reason === 'banned') throw accountBanned(outcome.until)
          throw invalidGrant()
        }
        tokens = outcome.tokens
      } else {
        throw oauthError('unsupported_grant_type', UNSUPPORTED_GRANT)
      }
      return c.json(tokenBody(tokens), 200, NO_STORE)
    },
    (result) => {
      if (!result.success)
        throw oauthError('invalid_request', 'each parameter must be given once, as text')
    },
  )
}

/** The password grant's parameters, present and within the lengths a login reads. */
function passwordForm(form: TokenForm): { username: string; password: string } {
  const { username, password } = form
  if (!username || !password)
    throw oauthError('invalid_request', 'username and password are required')
  if (username.length > LOGIN_LIMITS.username || password.length > LOGIN_LIMITS.password) {
    throw oauthError('invalid_request', 'username or password is too long')
  }
  return { username, password }
}

/**
 * The mfa-otp grant's parameters: the `mfa_token` and exactly one of `otp` and `recovery_code` (an
 * empty parameter is an absent one, as forms send fields left blank).
 */
function mfaOtpForm(form: TokenForm): { mfaToken: string; factor: SecondFactor } {
  const mfaToken = form.mfa_token
  if (!mfaToken) throw oauthError('invalid_request', 'mfa_token is required')
  const factor = readSecondFactor({
    otp: form.otp || undefined,
    recoveryCode: form.recovery_code || undefined,
  })
  if ('ok' in factor) {
    throw oauthError(
      'invalid_request',
      factor.reason === 'both_second_factors'
        ? 'send otp or recovery_code, not both'
        : 'otp or recovery_code is required',
    )
  }
  return { mfaToken, factor }
}

/** The refresh grant's token, present and not absurdly long. */
function refreshTokenOf(form: TokenForm): string {
  const presented = form.refresh_token
  if (!presented) throw oauthError('invalid_request', 'refresh_token is required')
  if (presented.length > MAX_REFRESH_TOKEN_LENGTH) {
    throw oauthError('invalid_request', 'refresh_token is too long')
  }
  return presented
}

/** The RFC 6749 §5.1 body of issued tokens. */
function tokenBody(tokens: IssuedTokens) {
  return {
    access_token: tokens.accessToken,
    token_type: 'bearer' as const,
    expires_in: tokens.expiresIn,
    refresh_token: tokens.refreshToken,
  }
}
