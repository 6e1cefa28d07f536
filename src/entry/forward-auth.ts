/**
 * Forward-auth (Envoy `ext_authz`) appends the original path to `/validate`, and the runtimes
 * resolve dot segments (`..`, `%2e%2e`, and `\` as `/`) before the app sees the URL: the raw target
 * `/validate/x/../../healthz` arrives as `/healthz`. Whether a request is under the forward-auth
 * prefix is therefore decided here, on the raw target, before that normalisation; such a request
 * is handed to the app as {@link FORWARD_AUTH_PATH}, which only the token check answers.
 */

/** The path a request under the forward-auth prefix is answered as: the `/validate/*` route. */
export const FORWARD_AUTH_PATH = '/validate/'

/** `/validate` followed by a separator: `/`, `\`, or either of them percent-encoded (any case). */
const PREFIX = /^\/validate(?:[/\\]|%2[fF]|%5[cC])/

/**
 * A target under the prefix that no runtime normalises out of it: `/validate/`, then segments of
 * plain characters none of which starts with a dot, then the end or a query. No `%`, `\` or `#`.
 */
const PLAIN = /^\/validate(?:\/(?!\.)[\w\-.~!$&'()*+,;=:@]*)+(?:\?|$)/

/** An absolute-form target's scheme and authority (`http://host`), which the runtimes also accept. */
const ABSOLUTE_FORM = /^[a-z][a-z\d+.-]*:\/\/[^/\\?#]*/i

/**
 * Whether a raw path (the request target with any scheme and authority removed) is under the
 * forward-auth prefix. `validate` itself must be spelled as is, as gateways send it.
 */
export function underForwardAuthPrefix(path: string): boolean {
  return path.startsWith('/validate') && PREFIX.test(path)
}

/**
 * The target to route instead of a raw request target (as on the request line, before any
 * normalisation): {@link FORWARD_AUTH_PATH} when the target is under the forward-auth prefix but
 * could be normalised out of it, otherwise undefined (route it as it is). Costs one `startsWith`
 * for targets that do not begin with `/validate`.
 */
export function forwardAuthRewrite(target: string): string | undefined {
  let path = target
  if (target.charCodeAt(0) !== 0x2f) {
    const authority = ABSOLUTE_FORM.exec(target)
    if (authority === null) return undefined
    // after an authority, URL parsers read `\` as `/` (http and https are special schemes)
    path = target.slice(authority[0].length).replace(/^\\/, '/')
  } else if (!target.startsWith('/validate')) {
    return undefined
  }
  if (!underForwardAuthPrefix(path)) return undefined
  return path === target && PLAIN.test(path) ? undefined : FORWARD_AUTH_PATH
}

/**
 * A request the runtime has already normalised, known (from its raw target) to be under the
 * forward-auth prefix: itself when its URL still is under `/validate/`, otherwise a copy addressed
 * to {@link FORWARD_AUTH_PATH} (method, headers and body kept).
 */
export function atForwardAuth(request: Request): Request {
  const url = request.url
  const pathStart = pathStartOf(url)
  if (pathStart !== -1 && url.startsWith(FORWARD_AUTH_PATH, pathStart)) return request
  const origin = pathStart === -1 ? url : url.slice(0, pathStart)
  return new Request(origin + FORWARD_AUTH_PATH, request)
}

/**
 * For a runtime that hands over only the normalised URL (workerd): the request itself, or a copy
 * addressed to {@link FORWARD_AUTH_PATH} when its path is under the forward-auth prefix through a
 * percent-encoded separator (`/validate%2f..`, which no URL parser resolves). Dot segments are
 * already gone there: the gateway's normalisation is what stops those (docs/gateways.md).
 */
export function forwardAuthRequest(request: Request): Request {
  const url = request.url
  const pathStart = pathStartOf(url)
  if (pathStart === -1 || !url.startsWith('/validate', pathStart)) return request
  return underForwardAuthPrefix(url.slice(pathStart)) ? atForwardAuth(request) : request
}

/** Where the path of an absolute URL begins (after `scheme://authority`), or -1 if it has none. */
function pathStartOf(url: string): number {
  return url.indexOf('/', url.indexOf('://') + 3)
}
