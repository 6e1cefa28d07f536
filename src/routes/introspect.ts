import { createRoute, z } from '@hono/zod-openapi'
import { createMiddleware } from 'hono/factory'
import { type AccessClaims, InvalidTokenError } from '../auth/tokens'
import type { IntrospectionClient } from '../config'
import { ApiError } from '../errors'
import {
  documented,
  documentedOAuth,
  formBodyRefusals,
  invalidClient,
  malformedForm,
  notFound,
  oauthError,
  revocationUnavailable,
} from '../http/answers'
import { ensureNotRevoked } from '../http/bearer'
import { createRouter } from '../http/router'
import { jsonContent } from '../http/schemas'
import { requireForm } from '../middleware/body'
import type { AppEnv, AppServices } from '../types'

const IntrospectRequestSchema = z
  .object({
    token: z.string().openapi({ description: 'The token to look at' }),
    token_type_hint: z
      .string()
      .optional()
      .openapi({ example: 'access_token', description: 'Accepted and ignored (RFC 7662 §2.1)' }),
  })
  .openapi('IntrospectRequest')

const IntrospectionSchema = z
  .object({
    active: z.boolean(),
    sub: z.string().optional().openapi({ description: 'The username' }),
    username: z.string().optional(),
    uid: z
      .number()
      .int()
      .optional()
      .openapi({ description: "The user's id (absent for the Python service's tokens)" }),
    exp: z.number().int().optional(),
    iat: z.number().int().optional(),
    nbf: z.number().int().optional(),
    iss: z.string().optional(),
    aud: z.union([z.string(), z.array(z.string())]).optional(),
    jti: z.string().optional(),
    token_type: z.literal('access_token').optional(),
  })
  .openapi('Introspection', {
    example: {
      active: true,
      sub: 'alice',
      username: 'alice',
      uid: 42,
      exp: 1767225600,
      iat: 1767223800,
      token_type: 'access_token',
    },
  })

const introspectRoute = (clients: readonly IntrospectionClient[]) =>
  createRoute({
    method: 'post',
    path: '/introspect',
    tags: ['tokens'],
    summary: 'Token introspection (RFC 7662), for gateways that ask rather than verify',
    description:
      'Callers authenticate with HTTP Basic as a client of INTROSPECTION_CLIENTS; without any configured the endpoint is off (404). A valid access token that has not been revoked (logout, password change, deleted account: the same rule as /validate) is `{"active": true, ...}`; anything else, refresh tokens included, is `{"active": false}`.',
    security: [{ introspectionClient: [] }],
    middleware: [clientAuthentication(clients), requireForm(malformedForm)] as const,
    request: {
      body: {
        content: {
          'application/x-www-form-urlencoded': { schema: IntrospectRequestSchema },
          'multipart/form-data': { schema: IntrospectRequestSchema },
        },
        required: true,
      },
    },
    responses: {
      200: jsonContent(IntrospectionSchema, 'What the token is, or `{"active": false}`'),
      400: documentedOAuth(
        'No token parameter, or a malformed form',
        oauthError('invalid_request', 'token is required'),
        malformedForm(),
      ),
      401: documented('No client credentials, or wrong ones', invalidClient()),
      404: documented('Introspection is off (no INTROSPECTION_CLIENTS)', notFound()),
      ...formBodyRefusals(),
      503: documented('The revocation status could not be read just now', revocationUnavailable()),
    },
  })

const digest = async (value: string) =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)))

/**
 * Whether two secrets are equal, in time that depends on neither: their SHA-256 digests (of fixed
 * length) are compared byte by byte without stopping early.
 */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)])
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number)
  return difference === 0
}

/** The `id:secret` of an HTTP Basic header; each part form-decoded as RFC 6749 §2.3.1 asks. */
function basicCredentials(header: string | undefined): [string, string] | undefined {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header ?? '')
  if (match?.[1] === undefined) return undefined
  let decoded: string
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(
      Uint8Array.from(atob(match[1]), (ch) => ch.charCodeAt(0)),
    )
  } catch {
    return undefined
  }
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const formDecode = (part: string) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '))
    } catch {
      return part
    }
  }
  return [formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1))]
}

/** 404 when introspection is off; 401 unless the request names a configured client and its secret. */
function clientAuthentication(clients: readonly IntrospectionClient[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (clients.length === 0) throw notFound()
    const credentials = basicCredentials(c.req.header('authorization'))
    if (credentials === undefined) throw invalidClient()
    const [id, secret] = credentials
    const client = clients.find((k) => k.id === id)
    // An unknown id costs the same comparison as a wrong secret.
    const ok = await sameSecret(secret, client?.secret ?? '\u0000unknown client')
    if (client === undefined || !ok) {
      c.get('logger').warn('introspection_client_refused', {})
      throw invalidClient()
    }
    await next()
  })
}

const INACTIVE = { active: false } as const

/** `POST /introspect`: RFC 7662 token introspection for authenticated gateway clients. */
export function introspectRoutes(deps: AppServices) {
  return createRouter().openapi(
    introspectRoute(deps.oauth.introspectionClients),
    async (c) => {
      const { token } = c.req.valid('form')
      if (token === '') throw oauthError('invalid_request', 'token is required')
      let claims: AccessClaims
      try {
        claims = await deps.tokens.verifyAccessToken(token)
      } catch (error) {
        if (error instanceof InvalidTokenError) return c.json(INACTIVE, 200)
        throw error
      }
      try {
        await ensureNotRevoked(deps, claims)
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return c.json(INACTIVE, 200)
        throw error
      }
      const { sub, uid, exp, iat, nbf, iss, aud, jti } = claims
      return c.json(
        {
          active: true,
          sub,
          username: sub,
          ...(uid === undefined ? {} : { uid }),
          exp,
          ...(iat === undefined ? {} : { iat }),
          ...(nbf === undefined ? {} : { nbf }),
          ...(iss === undefined ? {} : { iss }),
          ...(aud === undefined ? {} : { aud }),
          ...(jti === undefined ? {} : { jti }),
          token_type: 'access_token' as const,
        },
        200,
      )
    },
    (result) => {
      if (!result.success) throw oauthError('invalid_request', 'token is required, once, as text')
    },
  )
}
