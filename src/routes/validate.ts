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
import { bearerToken, credentialOfBearer, ensureNotRevoked } from '../http/bearer'
import { createRouter } from '../http/router'
import { jsonContent } from '../http/schemas'
import { type Metrics, NO_METRICS, type ValidationResult } from '../metrics'
import { completeJson, JSON_ANSWER_HEADERS, requestIdFor } from '../middleware/hardening'
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

/** A 200 of `/validate` for some verified claims. */
export interface ValidAnswer {
  body: string
  /** The body's length in bytes, for runtimes that write the head themselves (Node). */
  bodyBytes: number
  /** Every header of the answer but `X-Request-Id`, names in lower case. */
  headers: Readonly<Record<string, string>>
}

const utf8 = new TextEncoder()

/**
 * The answer for verified claims, or undefined when their username cannot be sent (a lone
 * surrogate: refused as an invalid token). The verified-token cache hands out the same frozen
 * claims for every hit, so the answer is kept with them once the token comes back (`keep`): a
 * token presented again costs no JSON and no encoding, while a token seen once (a gateway in front
 * of many users sees mostly those) adds no entry to the weak map, whose entries the garbage
 * collector pays for. The username is percent-encoded in `X-Auth-User`, since a header cannot
 * carry it as UTF-8; the id is absent from the Python service's tokens.
 */
const answers = new WeakMap<AccessClaims, ValidAnswer>()
function answerFor(claims: AccessClaims, keep: boolean): ValidAnswer | undefined {
  let answer = answers.get(claims)
  if (answer === undefined) {
    if (!claims.sub.isWellFormed()) return undefined
    const headers: Record<string, string> = {
      ...JSON_ANSWER_HEADERS,
      'x-auth-user': encodeURIComponent(claims.sub),
    }
    if (claims.uid !== undefined) headers['x-auth-user-id'] = String(claims.uid)
    const body = JSON.stringify({ username: claims.sub, valid: true })
    answer = { body, bodyBytes: utf8.encode(body).byteLength, headers }
    if (keep) answers.set(claims, answer)
  }
  return answer
}

/** A 200 of the fast path, with the request's id. */
export interface KnownTokenAnswer {
  answer: ValidAnswer
  requestId: string
}

/**
 * Answers a request on exactly `/validate` (no query) from its method and headers, or returns
 * undefined for the full path; see {@link knownTokenAnswerer}.
 */
export type KnownTokenAnswerer = (
  method: string,
  authorization: string | null | undefined,
  claimedRequestId: string | null | undefined,
  crossOrigin: boolean,
) => KnownTokenAnswer | undefined

/**
 * `/validate` in one step for what a gateway sends on every request of its users: `POST` or
 * `GET` on exactly `/validate` with a bearer token that verified before (`verifiedBefore`) and
 * whose account is cached as not revoked (`cachedVerdict`; skipped with stateless validation).
 * Such a request needs no database, no deadline and no routing, so the entry points answer it
 * ahead of Hono (the app's `fetch`, and Node's request listener, which reads the header values
 * off the socket's request): the same 200 as the route (body, user headers), with every header
 * the request layer gives an answer (security headers, `Cache-Control: no-store`, `X-Request-Id`
 * by the same rule), counted in the same metrics (`route="/validate"`). Anything else returns
 * undefined and takes the full path: another method (405, `HEAD`), a token not in the cache, an
 * account whose verdict is not cached, a request with an `Origin` while CORS is on
 * (`crossOrigin`), and every request under `ACCESS_LOG=all`, where the request layer writes each
 * one's line (there is no answerer then).
 */
export function knownTokenAnswerer(deps: AppServices): KnownTokenAnswerer | undefined {
  const { tokens, revocation, metrics } = deps
  if (deps.accessLog === 'all' || tokens.verifiedBefore === undefined) return undefined
  const { statelessValidation } = deps.sessions.options
  const measured = metrics !== NO_METRICS
  const cors = deps.security.corsOrigins.length > 0
  return (method, authorization, claimedRequestId, crossOrigin) => {
    const started = measured ? performance.now() : 0
    if ((method !== 'POST' && method !== 'GET') || (cors && crossOrigin)) return undefined
    const token = credentialOfBearer(authorization)
    if (token === undefined) return undefined
    const claims = tokens.verifiedBefore?.(token)
    if (claims === undefined) return undefined
    if (!statelessValidation && revocation.cachedVerdict(claims) !== false) return undefined
    const answer = answerFor(claims, true)
    if (answer === undefined) return undefined
    metrics.validation('valid')
    if (measured) {
      metrics.requestDone('/validate', method, 200, (performance.now() - started) / 1000)
    }
    return { answer, requestId: requestIdFor(claimedRequestId) }
  }
}

/**
 * Whether an absolute URL's path is `/validate`, with no query. Its authority, the only other part
 * before the path, holds no `/`.
 */
function isValidateUrl(url: string): boolean {
  return (
    url.endsWith('/validate') &&
    url.indexOf('/', url.indexOf('://') + 3) === url.length - '/validate'.length
  )
}

/**
 * {@link knownTokenAnswerer} for a runtime that hands over a `Request` (Bun, Workers, and the
 * app's own `fetch`): the answer as a `Response`, or undefined for the full path.
 */
export function answerKnownTokenRequest(
  answerer: KnownTokenAnswerer,
  request: Request,
): Response | undefined {
  if (!isValidateUrl(request.url)) return undefined
  const headers = request.headers
  const known = answerer(
    request.method,
    headers.get('authorization'),
    headers.get('x-request-id'),
    headers.has('origin'),
  )
  if (known === undefined) return undefined
  return new Response(known.answer.body, {
    status: 200,
    headers: { ...known.answer.headers, 'x-request-id': known.requestId },
  })
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
    const answer = answerFor(claims, keep)
    if (answer === undefined) throw invalidToken()
    const { body, headers } = answer
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
