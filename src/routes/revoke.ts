import { createRoute, z } from '@hono/zod-openapi'
import { documentedOAuth, formBodyRefusals, malformedForm, oauthError } from '../http/answers'
import { createRouter } from '../http/router'
import { requireForm } from '../middleware/body'
import type { AppServices } from '../types'
import { revokeSession } from '../use-cases/sessions'

const RevokeRequestSchema = z
  .object({
    token: z.string().openapi({ description: 'The refresh token to revoke' }),
    token_type_hint: z
      .string()
      .optional()
      .openapi({ example: 'refresh_token', description: 'Accepted and ignored (RFC 7009 §2.1)' }),
  })
  .openapi('RevokeRequest')

const route = createRoute({
  method: 'post',
  path: '/revoke',
  tags: ['tokens'],
  summary: 'Revoke a refresh token and its session (RFC 7009)',
  description:
    'Revokes the session (the token family) the refresh token belongs to. Answers 200 for unknown, invalid, expired or already revoked tokens too, and for access tokens, which cannot be revoked one by one (use /logout).',
  middleware: [requireForm(malformedForm)] as const,
  request: {
    body: {
      content: {
        'application/x-www-form-urlencoded': { schema: RevokeRequestSchema },
        'multipart/form-data': { schema: RevokeRequestSchema },
      },
      required: true,
    },
  },
  responses: {
    200: { description: 'Revoked, or nothing to revoke (empty body)' },
    400: documentedOAuth(
      'No token parameter, or a body that is not a well-formed form (invalid_request)',
      oauthError('invalid_request', 'token is required'),
      malformedForm(),
    ),
    ...formBodyRefusals(),
  },
})

/** `POST /revoke`: RFC 7009 token revocation for refresh tokens. */
export function revokeRoutes(deps: AppServices) {
  return createRouter().openapi(
    route,
    async (c) => {
      const { token } = c.req.valid('form')
      if (token === '') throw oauthError('invalid_request', 'token is required')
      await revokeSession(deps, token)
      return c.body(null, 200, { 'Cache-Control': 'no-store' })
    },
    (result) => {
      if (!result.success) {
        throw oauthError('invalid_request', 'token is required, once, as text')
      }
    },
  )
}
