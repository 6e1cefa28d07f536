/**
 * Every error answer of the service, each defined once: its status, body and headers, and, through
 * {@link documented}, its OpenAPI response, whose examples are bodies these very functions make.
 * Routes throw these; `app.onError` renders them (`errorResponse`).
 */
import { z } from '@hono/zod-openapi'
import { ApiError, errorBody, type FieldError } from '../errors'

/** FastAPI's `{"detail": "..."}` error body. */
export const ErrorSchema = z.object({ detail: z.string() }).openapi('Error')

/** RFC 6749 §5.2 error body, with FastAPI's `detail` beside it. */
export const OAuthErrorSchema = z
  .object({
    error: z.enum(['invalid_request', 'unsupported_grant_type', 'invalid_grant']),
    error_description: z.string(),
    detail: z.string(),
  })
  .openapi('OAuthError')

/**
 * The body of the password grant's `403 mfa_required`: an OAuth-style error carrying the
 * `mfa_token` of the second step.
 */
export const MfaRequiredSchema = z
  .object({
    error: z.literal('mfa_required'),
    error_description: z.string(),
    detail: z.string(),
    mfa_token: z.string().openapi({
      description:
        'Single-use, valid for 5 minutes: send it with `grant_type=urn:edge-auth:params:oauth:grant-type:mfa-otp` and `otp` (or `recovery_code`)',
    }),
  })
  .openapi('MfaRequired')

/** FastAPI's 422 body: a list of field errors. */
export const ValidationErrorSchema = z
  .object({
    detail: z.array(
      z.object({
        loc: z.array(z.union([z.string(), z.number()])),
        msg: z.string(),
        type: z.string(),
      }),
    ),
  })
  .openapi('ValidationError')

/** The OAuth error codes the token, revocation and introspection endpoints answer. */
export type OAuthErrorCode = z.infer<typeof OAuthErrorSchema>['error']

/** The headers of every OAuth answer that must not be cached (RFC 6749 §5.1). */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

/** 400: an OAuth2 error (RFC 6749 §5.2), with FastAPI's `detail` beside it. */
export function oauthError(error: OAuthErrorCode, description: string): ApiError {
  return new ApiError(400, description, NO_STORE, { error, error_description: description })
}

/**
 * 400: a form body that does not parse (multipart without its boundary, say) on the OAuth
 * endpoints, answered as the `invalid_request` of every other bad form.
 */
export const malformedForm = (): ApiError =>
  oauthError('invalid_request', 'the body is not a well-formed form')

/** 400: a refresh token that is unknown, expired, revoked or already used (one answer for all). */
export const invalidGrant = (): ApiError =>
  oauthError('invalid_grant', 'The refresh token is invalid, expired, revoked or already used')

/** 401: no bearer credentials at all (RFC 6750 §3: the challenge names no `error`). */
export const notAuthenticated = (): ApiError =>
  new ApiError(401, 'Not authenticated', { 'WWW-Authenticate': 'Bearer' })

/** 401: a bearer token was presented but is malformed, invalid, expired or revoked. */
export const invalidToken = (): ApiError =>
  new ApiError(401, 'Invalid token', { 'WWW-Authenticate': 'Bearer error="invalid_token"' })

/** 401: the password grant's answer for an unknown user and for a wrong password alike. */
export const badCredentials = (): ApiError =>
  new ApiError(401, 'Incorrect username or password', { 'WWW-Authenticate': 'Bearer' })

/** 401: introspection without a configured client's credentials. */
export const invalidClient = (): ApiError =>
  new ApiError(
    401,
    'Invalid client credentials',
    { 'WWW-Authenticate': 'Basic realm="introspect"', 'Cache-Control': 'no-store' },
    { error: 'invalid_client' },
  )

/** 403: the current password given to confirm an account change is wrong. */
export const incorrectPassword = (): ApiError => new ApiError(403, 'Incorrect password')

/**
 * 403: `/token` for a banned account, answered only once its password (or refresh token) was
 * right, so a ban tells nothing to someone without it. `until` null: the ban has no end.
 */
export const accountBanned = (until: Date | null): ApiError =>
  new ApiError(
    403,
    until === null
      ? 'This account is banned'
      : `This account is banned until ${until.toISOString()}`,
    { 'Cache-Control': 'no-store' },
  )

/**
 * 403: the password grant for an account with TOTP on, once the password was right: the login
 * goes on with the `mfa_token` and a code (the mfa-otp grant).
 */
export const mfaRequired = (mfaToken: string): ApiError => {
  const description = 'A second factor is required: send the mfa_token with a code'
  return new ApiError(403, description, NO_STORE, {
    error: 'mfa_required',
    error_description: description,
    mfa_token: mfaToken,
  })
}

/** 400: the mfa-otp grant with an `mfa_token` that is unknown, expired or already used. */
export const invalidMfaToken = (): ApiError =>
  oauthError('invalid_grant', 'The mfa_token is invalid, expired or already used')

/** 400: the mfa-otp grant with a wrong or already used code (the `mfa_token` is used up too). */
export const wrongMfaCode = (): ApiError =>
  oauthError('invalid_grant', 'The code is wrong or already used; log in again')

/** 403: a second factor that is wrong, already used, or unreadable. */
export const incorrectCode = (): ApiError => new ApiError(403, 'Incorrect or already used code')

/** 403: an account change of an account with TOTP on, without `otp` or `recovery_code`. */
export const secondFactorMissing = (): ApiError =>
  new ApiError(
    403,
    'Two-factor authentication is on: send otp (a code of the authenticator app) or recovery_code',
  )

/** 409: turning TOTP off, or replacing recovery codes, while TOTP is not on. */
export const totpOff = (): ApiError => new ApiError(409, 'Two-factor authentication is not on')

/** 409: a code to confirm with no enrolment in progress (none started, or it expired). */
export const noEnrolment = (): ApiError =>
  new ApiError(409, 'No enrolment in progress: start one with POST /me/mfa/totp')

/** 422: both `otp` and `recovery_code` were sent. */
export const bothSecondFactors = (location: string): ApiError =>
  validationError([
    {
      loc: [location, 'recovery_code'],
      msg: 'Send otp or recovery_code, not both',
      type: 'value_error',
    },
  ])

/**
 * 503: a second-factor operation (or a password login of an account with TOTP on) while two-factor
 * login is off (no `MFA_ENCRYPTION_KEY` in production).
 */
export const mfaUnavailable = (): ApiError =>
  new ApiError(503, 'Two-factor authentication is unavailable on this service')

/** The answer to a second factor that was missing, doubled, wrong, or could not be checked. */
export function secondFactorRefused(
  reason: 'mfa_unavailable' | 'second_factor_missing' | 'both_second_factors' | 'wrong_code',
): ApiError {
  if (reason === 'mfa_unavailable') return mfaUnavailable()
  if (reason === 'second_factor_missing') return secondFactorMissing()
  if (reason === 'both_second_factors') return bothSecondFactors('body')
  return incorrectCode()
}

/** 403: a user's access token presented to the admin API: users are never administrators. */
export const notAdministrator = (): ApiError => new ApiError(403, 'Not an administrator')

/** 401: the admin API without an admin API key (`missing`), or with a wrong one. */
export const adminKeyRefused = (missing: boolean): ApiError =>
  new ApiError(401, missing ? 'Not authenticated' : 'Invalid admin credentials', {
    'WWW-Authenticate': 'Bearer realm="admin"',
  })

/** 404: the account an administrator named does not exist. */
export const userNotFound = (): ApiError => new ApiError(404, 'User not found')

/** 404: no such route, or a feature that is off. */
export const notFound = (): ApiError => new ApiError(404, 'Not Found')

/**
 * 405: a known path asked with a method it does not answer; `Allow` lists the methods it does
 * (RFC 9110 §15.5.6). Answered by the request layer (middleware/hardening.ts) for any route.
 */
export const methodNotAllowed = (allowed: readonly string[]): ApiError =>
  new ApiError(405, 'Method Not Allowed', { Allow: allowed.join(', ') })

/** 409: the username is taken, by its key or (`lookAlike`) by a name that looks the same. */
export const userExists = (lookAlike: boolean): ApiError =>
  new ApiError(
    409,
    lookAlike
      ? 'User already exists: a username that looks the same is taken'
      : 'User already exists',
  )

/** 409: the account changed between reading and writing it (a concurrent password change). */
export const accountChanged = (): ApiError =>
  new ApiError(409, 'The account changed during the request; try again')

/** 409: a write ran into a unique index that no flow expected (a race the flow did not handle). */
export const conflict = (): ApiError => new ApiError(409, 'Conflict')

/**
 * 413: the body is larger than `BODY_LIMIT_BYTES` (answered by the body limit the request layer,
 * middleware/hardening.ts, hands to the routes that read a body).
 */
export const payloadTooLarge = (): ApiError => new ApiError(413, 'Request body too large')

/** 415: the body is not of the media type the endpoint reads. */
export const unsupportedMediaType = (expected: 'json' | 'form'): ApiError =>
  new ApiError(
    415,
    expected === 'json'
      ? 'Content-Type must be application/json'
      : 'Content-Type must be application/x-www-form-urlencoded',
  )

/** 422: FastAPI's list of field errors. */
export const validationError = (detail: FieldError[]): ApiError => new ApiError(422, detail)

/** What a 429 refused. */
export type ThrottledAttempts = 'login' | 'password' | 'refresh' | 'registration' | 'admin'

const TOO_MANY: Record<ThrottledAttempts, string> = {
  login: 'Too many failed login attempts',
  password: 'Too many failed password attempts',
  refresh: 'Too many refreshes of this session',
  registration: 'Too many registrations from this address',
  admin: 'Too many failed attempts',
}

/** 429 with `Retry-After` (RFC 6585 §4): a limit refused the attempt until its block ends. */
export const tooManyRequests = (what: ThrottledAttempts, retryAfterSeconds: number): ApiError =>
  new ApiError(429, `${TOO_MANY[what]}; try again later`, {
    'Cache-Control': 'no-store',
    'Retry-After': String(retryAfterSeconds),
  })

/** 503: /validate could not read what revocation needs; it fails closed. */
export const revocationUnavailable = (): ApiError =>
  new ApiError(503, 'Token revocation status is unavailable')

/** 503: a forward-auth check failed for another reason than the token (never a 500 to a gateway). */
export const serviceUnavailable = (): ApiError => new ApiError(503, 'Service Unavailable')

/**
 * 503: the database did not answer (an error whose cause chain says so), or the request was still
 * running at its deadline (`REQUEST_TIMEOUT_MS`, the request layer of middleware/hardening.ts).
 */
export const temporarilyUnavailable = (): ApiError =>
  new ApiError(503, 'Service temporarily unavailable')

/** 503: the readiness probe's database check failed. */
export const databaseUnavailable = (): ApiError => new ApiError(503, 'Database unavailable')

/** 500: anything unexpected; the body names nothing. */
export const internalError = (): ApiError => new ApiError(500, 'Internal Server Error')

/** A name for an example: its detail (or its first field error), in letters, digits and `_`. */
const exampleName = (error: ApiError) => {
  const text =
    typeof error.detail === 'string'
      ? error.detail
      : error.detail.map((item) => `${item.loc.join('_')}_${item.type}`).join('_')
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
}

/**
 * The OpenAPI response of one status of a route whose answers are `{"detail": "..."}`: the schema,
 * each answer's body as an example, and their headers (required when every answer sends it).
 * `answers` are the errors the route throws for that status, made by the functions above.
 */
export const documented = (description: string, ...answers: [ApiError, ...ApiError[]]) =>
  describeAnswers(ErrorSchema, description, answers)

/** The documented refusals of a route that reads a JSON body (`requireJson`): too large, not JSON. */
export const jsonBodyRefusals = () => ({
  413: documented('The body is too large', payloadTooLarge()),
  415: documented('The body is not JSON', unsupportedMediaType('json')),
})

/** The documented refusals of a route that reads a form body (`requireForm`): too large, not a form. */
export const formBodyRefusals = () => ({
  413: documented('The body is too large', payloadTooLarge()),
  415: documented('The body is not a form', unsupportedMediaType('form')),
})

/** {@link documented} for OAuth2 error answers (`oauthError`). */
export const documentedOAuth = (description: string, ...answers: [ApiError, ...ApiError[]]) =>
  describeAnswers(OAuthErrorSchema, description, answers)

/**
 * {@link documented} for the password grant's 403s: a ban (`{"detail": ...}`) and `mfa_required`
 * (with its `mfa_token`).
 */
export const documentedLoginRefusals = (
  description: string,
  ...answers: [ApiError, ...ApiError[]]
) => describeAnswers(z.union([MfaRequiredSchema, ErrorSchema]), description, answers)

/** The `mfa_token` of the documented `mfa_required` example (the shape of one: 43 base64url characters). */
export const MFA_TOKEN_EXAMPLE = 'q3Xo7b1mWJ0cZr4yTn8eKd2vLh6sPa9uGf5iBx0tEwC'

/** {@link documented} for 422 answers (`validationError`); the examples show the shape. */
export const documentedValidation = (description: string, ...answers: [ApiError, ...ApiError[]]) =>
  describeAnswers(ValidationErrorSchema, description, answers)

function describeAnswers<S extends z.ZodType>(schema: S, description: string, answers: ApiError[]) {
  const examples = Object.fromEntries(
    answers.map((answer) => [exampleName(answer), { value: errorBody(answer) }]),
  )
  const names = [...new Set(answers.flatMap((answer) => Object.keys(answer.headers)))]
  const headers = Object.fromEntries(
    names.map((name) => {
      const sent = answers.find((answer) => name in answer.headers)?.headers[name] ?? ''
      const header = z.string().openapi({ example: sent })
      const always = answers.every((answer) => name in answer.headers)
      return [name, always ? header : header.optional()]
    }),
  )
  return {
    description,
    content: { 'application/json': { schema, examples } },
    ...(names.length > 0 ? { headers: z.object(headers) } : {}),
  }
}

/** The 401 of every endpoint behind a bearer token: no token, or one that is not acceptable. */
export const bearerRefusals = (description: string) =>
  documented(description, notAuthenticated(), invalidToken())
