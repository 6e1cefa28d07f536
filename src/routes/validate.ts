import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import { type AccessClaims, InvalidTokenError } from '../auth/tokens'
import { ApiError, errorResponse } from '../errors'
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
  middleware: [decisive()] as const,
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
  middleware: [decisive()] as const,
  responses,
})

/**
 * Headers naming the token's user for a gateway to pass upstream. The username is percent-encoded,
 * since a header cannot carry it as UTF-8; the id is absent from the Python service's tokens.
 */
function userHeaders(claims: AccessClaims): Record<string, string> {
  if (!claims.sub.isWellFormed()) throw invalidToken()
  const headers: Record<string, string> = { 'X-Auth-User': encodeURIComponent(claims.sub) }
  if (claims.uid !== undefined) headers['X-Auth-User-Id'] = String(claims.uid)
  return headers
}

/**
 * Keeps a forward-auth answer decisive: a 401 stays, and any other failure becomes a 503, never a
 * status that a gateway would pass on as a 500 or mistake for a verdict.
 */
function decisive() {
  return createMiddleware(async (c, next) => {
    await next()
    const error = c.error
    if (error === undefined) return
    if (error instanceof ApiError && (error.status === 401 || error.status === 503)) return
    c.res = errorResponse(c, serviceUnavailable())
  })
}

/**
 * `POST /validate` and `GET`/`HEAD /validate` (forward-auth): checks a bearer token (signature, claims,
 * then revocation) and names its user. Any method on `/validate/*` answers the same, for Envoy's `ext_authz`.
 */
export function validateRoutes(deps: AppServices) {
  const check = async (c: Context<AppEnv, '/validate'>) => {
    const token = bearerToken(c)
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
    return c.json({ username: claims.sub, valid: true as const }, 200, userHeaders(claims))
  }
  const router = createRouter().openapi(route, check).openapi(forwardAuthRoute, check)
  router.all('/validate/*', decisive(), check)
  return router
}
