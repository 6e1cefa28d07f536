import type { Hono, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { createMiddleware } from 'hono/factory'
import { HTTPException } from 'hono/http-exception'
import { methodNotAllowed } from 'hono/method-not-allowed'
import { timeout } from 'hono/timeout'
import { ApiError } from '../errors'
import type { AppEnv, AppServices } from '../types'
import { resolveClientAddress } from './client-address'

/** Longest path written to a log line; the rest is cut. */
const MAX_LOGGED_PATH = 200

/**
 * The request-level protections, in order: the client address and a per-request logger, one
 * `http_request` log line per request, `Cache-Control: no-store` unless a route set otherwise,
 * CORS (only when origins are configured), 405 with `Allow` for a known path and a wrong
 * method, and the request deadline (503; it covers reading the body too). The body size limit
 * (413 before parsing) is handed to the routes as `limitBody`, for the middleware that reads a
 * body (`src/middleware/body.ts`) to apply: a request whose route reads no body (`/validate`,
 * every GET) never has its body looked at, which on Node spares building a `Request` and a
 * stream for it.
 * `app` is the app being built: the 405 check reads its routes.
 */
export function hardening(app: Hono<AppEnv>, deps: AppServices): MiddlewareHandler<AppEnv>[] {
  const { security } = deps
  const limitBody = bodyLimit({
    maxSize: security.bodyLimitBytes,
    onError: () => {
      throw new ApiError(413, 'Request body too large')
    },
  })
  const chain: MiddlewareHandler<AppEnv>[] = [
    // One middleware, not three: on the hot path every async layer costs a promise and a turn.
    createMiddleware<AppEnv>(async (c, next) => {
      const started = performance.now()
      const address = resolveClientAddress(c, deps.clientAddress, security.trustProxyHops)
      const log = deps.logger.child({ request_id: c.get('requestId'), ip: address })
      c.set('clientAddress', address)
      c.set('limitBody', limitBody)
      c.set('logger', log)
      await next()
      const { res } = c
      // Set on the response's own headers: `c.header()` after `next()` would copy the whole response.
      if (!res.headers.has('cache-control')) res.headers.set('Cache-Control', 'no-store')
      const { status } = res
      log[status >= 500 ? 'error' : 'info']('http_request', {
        method: c.req.method,
        path: c.req.path.slice(0, MAX_LOGGED_PATH),
        status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
      })
    }),
  ]
  if (security.corsOrigins.length > 0) {
    chain.push(
      cors({
        origin: security.corsOrigins.includes('*') ? '*' : security.corsOrigins,
        allowMethods: ['GET', 'HEAD', 'POST'],
        allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        exposeHeaders: ['Retry-After', 'WWW-Authenticate', 'X-Request-Id'],
        maxAge: 600,
      }),
    )
  }
  chain.push(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        c.json({ detail: 'Method Not Allowed' }, 405, { Allow: methods.join(', ') }),
    }),
    timeout(security.requestTimeoutMs, (c) => {
      c.get('logger').warn('request_timeout', { timeout_ms: security.requestTimeoutMs })
      return new HTTPException(503, { message: 'Service temporarily unavailable' })
    }),
  )
  return chain
}
