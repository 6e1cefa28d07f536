import { createRoute } from '@hono/zod-openapi'
import type { AppServices } from '../types'
import { requireAccount } from './current-user'
import { createRouter } from './router'
import { ErrorSchema, jsonContent } from './schemas'
import { invalidToken } from './validate'

/** `POST /logout`: ends every session of the token's user. */
export function logoutRoutes(deps: AppServices) {
  const route = createRoute({
    method: 'post',
    path: '/logout',
    tags: ['accounts'],
    summary: 'Log out everywhere',
    description:
      "Revokes every refresh token of the user and cuts off every access token issued until now (at once on this instance; other instances' /validate within TOKEN_REVOCATION_CACHE_SECONDS).",
    security: [{ bearer: [] }],
    middleware: [requireAccount(deps)] as const,
    responses: {
      204: { description: 'Every session ended' },
      401: jsonContent(ErrorSchema, 'No token, or an invalid, expired or revoked one'),
    },
  })
  return createRouter().openapi(route, async (c) => {
    const account = c.get('account')
    if (!(await deps.sessions.endAll(account.id))) {
      throw invalidToken()
    }
    deps.revocation.forget(account)
    deps.logger.info('authn_logout', { user_id: account.id })
    return c.body(null, 204)
  })
}
