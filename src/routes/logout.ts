import { createRoute } from '@hono/zod-openapi'
import { bearerRefusals, invalidToken } from '../http/answers'
import { requireAccount } from '../http/current-user'
import { createRouter } from '../http/router'
import type { AppServices } from '../types'
import { logout } from '../use-cases/sessions'

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
      401: bearerRefusals('No token, or an invalid, expired or revoked one'),
    },
  })
  return createRouter().openapi(route, async (c) => {
    if (!(await logout(deps, c.get('account')))) throw invalidToken()
    return c.body(null, 204)
  })
}
