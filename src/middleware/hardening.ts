import type { Context, Hono, MiddlewareHandler, TypedResponse } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { methodNotAllowed as findAllowedMethods } from 'hono/method-not-allowed'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { errorResponse } from '../errors'
import { methodNotAllowed, payloadTooLarge, temporarilyUnavailable } from '../http/answers'
import { type AccessLog, deferredChild } from '../logger'
import { NO_METRICS } from '../metrics'
import type { AppEnv, AppServices } from '../types'
import { resolveClientAddress } from './client-address'

/** Longest path written to a log line; the rest is cut. */
const MAX_LOGGED_PATH = 200
/** A request id a client may choose (`X-Request-Id`): at most 64 of these characters. */
const CLIENT_REQUEST_ID = /^[\w\-=]{1,64}$/

/**
 * The response headers of a JSON API (OWASP REST Security Cheat Sheet): HSTS, `nosniff`, no
 * framing, no referrer, same-origin resources. Headers meant for HTML pages and retired browser
 * features (`X-XSS-Protection`, `X-Download-Options`, ...) do nothing for JSON and would cost every
 * response. The one HTML page, /docs, adds its own policy. Names in lower case, as HTTP/2 sends
 * them: Bun builds a response's headers a quarter faster from lower-case names.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
})
const SECURITY_ENTRIES = Object.entries(SECURITY_HEADERS)

/**
 * The headers every JSON answer of the API carries, whatever its route: the security headers,
 * `Cache-Control: no-store` and the content type. `X-Request-Id` comes on top, per request.
 */
export const JSON_ANSWER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...SECURITY_HEADERS,
  'cache-control': 'no-store',
  'content-type': 'application/json',
})

/**
 * A request's id (`X-Request-Id`): the one the client sent when it is 1-64 word characters, `-`
 * or `=`, otherwise a new UUID.
 */
export function requestIdFor(claimed: string | null | undefined): string {
  return claimed != null && CLIENT_REQUEST_ID.test(claimed) ? claimed : crypto.randomUUID()
}

/**
 * A JSON answer that already carries every header the request layer adds (security headers,
 * `X-Request-Id`, `Cache-Control: no-store`), built in one step from plain objects: the layer
 * then passes it on untouched. For hot paths (`/validate`): on Node, a response whose headers
 * are a plain object is written without building a `Headers` at all. `headers` (names in lower
 * case) may override `cache-control`.
 */
export function completeJson<T, S extends ContentfulStatusCode>(
  c: Context<AppEnv>,
  body: string,
  status: S,
  headers: Record<string, string>,
): Response & TypedResponse<T, S, 'json'> {
  const res = new Response(body, {
    status,
    headers: { ...JSON_ANSWER_HEADERS, 'x-request-id': c.get('requestId'), ...headers },
  })
  c.set('completeResponse', res)
  // `body` is `T` as JSON: typed for the routes' OpenAPI answers, as `c.json` would be.
  return res as Response & TypedResponse<T, S, 'json'>
}

/**
 * The `route` label of a finished request: the template of the route that answered
 * (`/admin/users/:id`), never the raw path, so a client cannot add label values; `unmatched` when
 * only the app-wide middleware ran (404, 405, a CORS preflight).
 */
export function routeLabel(c: Context): string {
  const route = c.req.routePath
  return route === '/*' ? 'unmatched' : route
}

/**
 * Whether an access line is written for a request that got `status` (`ACCESS_LOG`): `all`;
 * `errors-and-writes`, every answer of 400 or more and every request that may change something,
 * so not a successful read (GET, HEAD, OPTIONS) nor a successful check of a token (`/validate`,
 * `/validate/...`, `/introspect`, any method); `none`. Security events are separate lines, which
 * this never drops.
 */
export function accessLineWanted(
  mode: AccessLog,
  method: string,
  path: string,
  status: number,
): boolean {
  if (mode === 'all') return true
  if (mode === 'none') return false
  if (status >= 400) return true
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false
  return !(path === '/validate' || path.startsWith('/validate/') || path === '/introspect')
}

/** A request waiting on its handler, for the shared deadline timer. */
interface Pending {
  /** When it is due, on `performance.now()`'s clock. */
  due: number
  expire(): void
}

/**
 * Request deadlines. Where timers can outlive a request without keeping the process alive (Bun,
 * Node: `unref`), one coarse timer serves every request: a request costs a set entry, and is
 * answered between `timeoutMs` and `timeoutMs` plus a tenth of it. Elsewhere (Workers, where a
 * timer should belong to the request that set it) each request gets its own timer.
 */
function createDeadlines(timeoutMs: number): (entry: Pending) => () => void {
  const pending = new Set<Pending>()
  const tickMs = Math.max(10, Math.round(timeoutMs / 10))
  let timer: ReturnType<typeof setInterval> | undefined
  let shared: boolean | undefined
  const sweep = () => {
    const now = performance.now()
    // Entries are in the order they were added, so in the order they are due.
    for (const entry of pending) {
      if (entry.due > now) break
      pending.delete(entry)
      entry.expire()
    }
    if (pending.size === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }
  const ownTimer = (entry: Pending) => {
    const own = setTimeout(entry.expire, Math.max(0, entry.due - performance.now()))
    return () => clearTimeout(own)
  }
  return (entry) => {
    if (shared === false) return ownTimer(entry)
    if (timer === undefined) {
      const interval = setInterval(sweep, tickMs)
      const { unref } = interval as { unref?: () => void }
      shared = typeof unref === 'function'
      if (!shared) {
        clearInterval(interval)
        return ownTimer(entry)
      }
      unref?.call(interval)
      timer = interval
    }
    pending.add(entry)
    return () => pending.delete(entry)
  }
}

/**
 * The request-level protections. First one layer of our own that does in one step what every
 * request needs: the request id (`X-Request-Id`: the client's when it is 1-64 word characters,
 * `-` or `=`, else a new UUID), the security headers, `Cache-Control: no-store` unless a route set
 * otherwise, a per-request logger and the client address (both made only when first used), 405
 * with `Allow` for a known path and a wrong method, the request deadline (503; it covers reading
 * the body too), the `http_request` access line (`ACCESS_LOG`) and the request metrics. Then CORS, only when origins
 * are configured. The body size limit (413 before parsing) is handed to the routes as
 * `limitBody`, for the middleware that reads a body (`src/middleware/body.ts`): a request whose
 * route reads no body (`/validate`, every GET) never has its body looked at, which on Node spares
 * building a `Request` and a stream for it.
 * `app` is the app being built: the 405 check reads its routes.
 */
export function hardening(app: Hono<AppEnv>, deps: AppServices): MiddlewareHandler<AppEnv>[] {
  const { security, accessLog, metrics } = deps
  const measured = metrics !== NO_METRICS
  const timeoutMs = security.requestTimeoutMs
  const limitBody = bodyLimit({
    maxSize: security.bodyLimitBytes,
    onError: () => {
      throw payloadTooLarge()
    },
  })
  const allowedMethods = findAllowedMethods({
    app,
    onMethodNotAllowed: (c, methods) => errorResponse(c, methodNotAllowed(methods)),
  })
  const nothingNext = () => Promise.resolve()
  const watchDeadline = createDeadlines(timeoutMs)

  /** Gives a finished answer the headers every answer carries, and writes its access line. */
  const complete = (c: Context<AppEnv>, started: number) => {
    const res = c.res
    if (c.get('completeResponse') !== res) {
      // Set on the response's own headers: `c.header()` now would copy the whole response.
      const headers = res.headers
      for (const [name, value] of SECURITY_ENTRIES) headers.set(name, value)
      headers.set('X-Request-Id', c.get('requestId'))
      if (!headers.has('cache-control')) headers.set('Cache-Control', 'no-store')
    }
    const { status } = res
    const { method, path } = c.req
    if (measured) {
      metrics.requestDone(routeLabel(c), method, status, (performance.now() - started) / 1000)
    }
    if (!accessLineWanted(accessLog, method, path, status)) return
    c.get('logger')[status >= 500 ? 'error' : 'info']('http_request', {
      method,
      path: path.slice(0, MAX_LOGGED_PATH),
      status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
    })
  }
  /** {@link complete}, after turning a 404 for a known path into a 405 with `Allow`. */
  const finish = (c: Context<AppEnv>, started: number): Promise<void> | undefined => {
    const res = c.res
    if (res.status === 404 && c.error === undefined && c.get('completeResponse') !== res) {
      return allowedMethods(c, nothingNext).then(() => complete(c, started))
    }
    complete(c, started)
    return undefined
  }

  const requestLayer: MiddlewareHandler<AppEnv> = (c, next) => {
    const started = performance.now()
    const id = requestIdFor(c.req.header('x-request-id'))
    let address: string | undefined | null = null
    const clientAddress = () => {
      if (address === null) {
        address = resolveClientAddress(c, deps.clientAddress, security.trustProxyHops)
      }
      return address
    }
    c.set('requestId', id)
    c.set('clientAddress', clientAddress)
    c.set('limitBody', limitBody)
    c.set(
      'logger',
      deferredChild(deps.logger, () => ({ request_id: id, ip: clientAddress() })),
    )
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const unwatch = watchDeadline({
        due: started + timeoutMs,
        expire: () => {
          if (settled) return
          settled = true
          c.get('logger').warn('request_timeout', { timeout_ms: timeoutMs })
          c.error = undefined
          c.res = errorResponse(c, temporarilyUnavailable())
          complete(c, started)
          resolve()
        },
      })
      next().then(
        () => {
          unwatch()
          if (settled) return
          settled = true
          const finishing = finish(c, started)
          if (finishing === undefined) resolve()
          else finishing.then(resolve, reject)
        },
        (error: unknown) => {
          unwatch()
          if (settled) return
          settled = true
          reject(error)
        },
      )
    })
  }

  const chain: MiddlewareHandler<AppEnv>[] = [requestLayer]
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
  return chain
}
