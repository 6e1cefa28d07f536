import { createRoute, z } from '@hono/zod-openapi'
import type { Context, TypedResponse } from 'hono'
import { type AccessClaims, InvalidTokenError } from '../auth/tokens'
import { ApiError } from '../errors'
import {
  bearerRefusals,
  documented,
  invalidToken,
  revocationUnavailable,
  serviceUnavailable,
} from '../http/answers'
import { bearerToken, ensureNotRevoked } from '../http/bearer'
import { createRouter } from '../http/router'
import { jsonContent } from '../http/schemas'
import type { Metrics, ValidationResult } from '../metrics'
import { completeJson } from '../middleware/hardening'
import type { AppEnv, AppServices } from '../types'

const ValidationSchema = z
  .object({ username: z.string().openapi({ example: 'alice' }), valid: z.literal(true) })
  .openapi('TokenValidation')

const responses = {
  200: {
    ...jsonContent(ValidationSchema, 'The token is valid'),
    headers: z.object({
      'X-Auth-User': z.string().openapi({
        description:
          'The username, percent-encoded as UTF-8 (RFC 3986): usual ASCII usernames are sent as they are',
        example: 'alice',
      }),
      'X-Auth-User-Id': z.string().optional().openapi({
        description:
          "The user's id; absent for tokens issued by the Python service, which carry none",
        example: '42',
      }),
    }),
  },
  401: bearerRefusals('No token, or an invalid or expired one'),
  503: documented(
    'The token could not be checked just now; try again',
    revocationUnavailable(),
    serviceUnavailable(),
  ),
}

const route = createRoute({
  method: 'post',
  path: '/validate',
  tags: ['tokens'],
  summary: 'Validate an access token',
  security: [{ bearer: [] }],
  responses,
})

const forwardAuthRoute = createRoute({
  method: 'get',
  path: '/validate',
  tags: ['tokens'],
  summary: 'Forward-auth check for gateways',
  description:
    'What nginx `auth_request` and Traefik ForwardAuth call: the answer of `POST /validate`, with the user in `X-Auth-User` and `X-Auth-User-Id` headers for the gateway to pass upstream. `HEAD` gives the same status and headers. For Envoy `ext_authz`, which keeps the original method and appends the original path, any method on `/validate/{path}` answers the same. Only 200, 401 and 503 are ever answered. See docs/gateways.md.',
  security: [{ bearer: [] }],
  responses,
})

/** The body and user headers of a 200 for some verified claims. */
interface Answer {
  body: string
  headers: Record<string, string>
}

/**
 * The answer for verified claims. The verified-token cache hands out the same frozen claims for
 * every hit, so the answer is kept with them once the token comes back (`keep`): a token presented
 * again costs no JSON and no encoding, while a token seen once (a gateway in front of many users
 * sees mostly those) adds no entry to the weak map, whose entries the garbage collector pays for.
 * The username is percent-encoded in `X-Auth-User`, since a header cannot carry it as UTF-8; the
 * id is absent from the Python service's tokens.
 */
const answers = new WeakMap<AccessClaims, Answer>()
function answerFor(claims: AccessClaims, keep: boolean): Answer {
  let answer = answers.get(claims)
  if (answer === undefined) {
    if (!claims.sub.isWellFormed()) throw invalidToken()
    const headers: Record<string, string> = { 'x-auth-user': encodeURIComponent(claims.sub) }
    if (claims.uid !== undefined) headers['x-auth-user-id'] = String(claims.uid)
    answer = { body: JSON.stringify({ username: claims.sub, valid: true }), headers }
    if (keep) answers.set(claims, answer)
  }
  return answer
}

/**
 * Keeps a forward-auth answer decisive: a 401 or 503 stays, and any other failure becomes a 503
 * (logged), never a status that a gateway would pass on as a 500 or mistake for a verdict.
 */
function decisively(c: Context<AppEnv>, metrics: Metrics, error: unknown): never {
  if (error instanceof ApiError && (error.status === 401 || error.status === 503)) {
    metrics.validation(error.status === 503 ? 'unavailable' : invalidOrMissing(error))
    throw error
  }
  metrics.validation('unavailable')
  c.get('logger').error('unhandled_error', {
    method: c.req.method,
    path: c.req.path.slice(0, 200),
    error: error instanceof Error ? error.name : typeof error,
  })
  throw serviceUnavailable()
}

/** A 401's outcome label: `missing` for the bare challenge (no bearer credentials), else `invalid`. */
function invalidOrMissing(refusal: ApiError): ValidationResult {
  return refusal.headers['WWW-Authenticate'] === 'Bearer' ? 'missing' : 'invalid'
}

type Validation = Response & TypedResponse<{ username: string; valid: true }, 200, 'json'>

/**
 * `POST /validate` and `GET`/`HEAD /validate` (forward-auth): checks a bearer token (signature, claims,
 * then revocation) and names its user. Any method on `/validate/*` answers the same, for Envoy's `ext_authz`.
 * A token verified before whose account is cached is answered without a promise or a lookup
 * beyond two maps (see `verifiedBefore`, `cachedVerdict`).
 */
export function validateRoutes(deps: AppServices) {
  const { statelessValidation } = deps.sessions.options
  const { metrics } = deps
  const answer = (c: Context<AppEnv>, claims: AccessClaims, keep: boolean): Validation => {
    const { body, headers } = answerFor(claims, keep)
    metrics.validation('valid')
    return completeJson(c, body, 200, headers)
  }
  const checkInFull = async (c: Context<AppEnv>, token: string): Promise<Validation> => {
    let claims: AccessClaims
    try {
      claims = await deps.tokens.verifyAccessToken(token)
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        c.get('logger').warn('authn_token_invalid', { reason: error.reason })
        throw invalidToken()
      }
      throw error
    }
    await ensureNotRevoked(deps, claims)
    return answer(c, claims, false)
  }
  const check = (c: Context<AppEnv, '/validate'>): Validation | Promise<Validation> => {
    try {
      const token = bearerToken(c)
      const known = deps.tokens.verifiedBefore?.(token)
      if (
        known !== undefined &&
        (statelessValidation || deps.revocation.cachedVerdict(known) === false)
      ) {
        return answer(c, known, true)
      }
      return checkInFull(c, token).catch((error: unknown) => decisively(c, metrics, error))
    } catch (error) {
      return decisively(c, metrics, error)
    }
  }
  const router = createRouter().openapi(route, check).openapi(forwardAuthRoute, check)
  router.all('/validate/*', check)
  return router
}
