import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { requestId } from 'hono/request-id'
import { secureHeaders } from 'hono/secure-headers'
import { createPasswordHasher, type PasswordHasher } from './auth/password'
import { createRevocationCheck, type RevocationCheck } from './auth/revocation'
import {
  createSessionService,
  DEFAULT_SESSION_OPTIONS,
  type SessionOptions,
  type SessionService,
} from './auth/sessions'
import { createThrottle, type Throttle } from './auth/throttle'
import { createVerifiedTokenCache } from './auth/token-cache'
import { createTokenService, type TokenService } from './auth/tokens'
import { type Config, DEFAULT_SECURITY, type SecurityConfig } from './config'
import type { Database } from './db/client'
import { databaseUnavailableCode, isUniqueViolation } from './db/errors'
import { findTokenHolder } from './db/sessions'
import { ApiError, errorResponse } from './errors'
import type { Logger } from './logger'
import { type ClientAddressFn, createLimitAddress } from './middleware/client-address'
import { hardening } from './middleware/hardening'
import { mountApiDocs } from './openapi/document'
import { changePasswordRoutes } from './routes/change-password'
import { healthRoutes } from './routes/health'
import { logoutRoutes } from './routes/logout'
import { meRoutes } from './routes/me'
import { registerRoutes } from './routes/register'
import { revokeRoutes } from './routes/revoke'
import { tokenRoutes } from './routes/token'
import { validateRoutes } from './routes/validate'

/** Everything the app needs, built once per process or isolate by an entry point. */
export interface AppDeps {
  db: Database
  passwords: PasswordHasher
  tokens: TokenService
  logger: Logger
  /** Session lifetimes and the revocation check; unset fields take {@link DEFAULT_SESSION_OPTIONS}. */
  sessions?: Partial<SessionOptions>
  /** The runtime's view of the client address (socket peer, CF-Connecting-IP); none by default. */
  clientAddress?: ClientAddressFn
  /**
   * True when `clientAddress` is the platform's word for the client and the platform's own
   * proxies add forwarding headers (Workers): no untrusted proxy to detect (see `createLimitAddress`).
   */
  platformAddress?: boolean
  /** Throttling, proxy, CORS and limit settings; {@link DEFAULT_SECURITY} by default. */
  security?: SecurityConfig
  /** The clock in milliseconds (default `Date.now`): expiry, throttling windows and caches follow it. */
  now?: () => number
}

/** What the routes get: the dependencies with defaults filled in, plus the per-process services {@link createApp} builds once. */
export interface AppServices extends Omit<AppDeps, 'sessions'> {
  clientAddress: ClientAddressFn
  security: SecurityConfig
  now: () => number
  sessions: SessionService
  revocation: RevocationCheck
  throttle: Throttle
  /** The address per-address limits count for this request (see `createLimitAddress`). */
  limitAddress<E extends AppEnv>(c: Context<E>): string | undefined
}

/** Hono's variables for this app. */
export type AppEnv = {
  Variables: {
    requestId: string
    /** The client's address (see `resolveClientAddress`), undefined when unknown. */
    clientAddress: string | undefined
    /** The app's logger, adding this request's id and client address to every line. */
    logger: Logger
    /** The body size limit (413), applied by the middleware that reads a body before it does. */
    limitBody: MiddlewareHandler
  }
}

/**
 * The response headers of a JSON API (OWASP REST Security Cheat Sheet): HSTS, `nosniff`, no
 * framing, no referrer, same-origin resources. Hono's defaults add headers meant for HTML pages and
 * retired browser features (`X-XSS-Protection`, `X-Download-Options`, `X-DNS-Prefetch-Control`,
 * `X-Permitted-Cross-Domain-Policies`, `Origin-Agent-Cluster`, `Cross-Origin-Opener-Policy`); they
 * do nothing for JSON and cost every response, /validate's included. The one HTML page, /docs, sets
 * its own policy.
 */
const API_SECURITY_HEADERS = {
  crossOriginResourcePolicy: 'same-origin',
  xFrameOptions: 'DENY',
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} as const

function buildServices(deps: AppDeps): AppServices {
  const now = deps.now ?? Date.now
  const security = deps.security ?? DEFAULT_SECURITY
  const options = { ...DEFAULT_SESSION_OPTIONS, ...deps.sessions }
  const limitAddress = createLimitAddress({
    trustedHops: security.trustProxyHops,
    platformAddress: deps.platformAddress ?? false,
    onUntrustedProxy: (header) =>
      deps.logger.warn('untrusted_proxy', {
        header,
        message:
          'requests arrive through a proxy while TRUST_PROXY is off: set TRUST_PROXY to the number of proxies in front, or every client shares the proxy address; from an internal address such requests count against no address',
      }),
  })
  return {
    limitAddress: <E extends AppEnv>(c: Context<E>) => limitAddress(c, c.var.clientAddress),
    ...deps,
    clientAddress: deps.clientAddress ?? (() => undefined),
    security,
    now,
    sessions: createSessionService({
      db: deps.db,
      options,
      now,
      refreshLimit: security.throttle.refreshFamily,
    }),
    revocation: createRevocationCheck({
      load: (key) => findTokenHolder(deps.db, key),
      cacheSeconds: options.revocationCacheSeconds,
      now,
    }),
    throttle: createThrottle({
      db: deps.db,
      rules: security.throttle,
      now,
      onSweepError: (error) =>
        deps.logger.warn('throttle_sweep_failed', {
          error: error instanceof Error ? error.name : typeof error,
        }),
    }),
  }
}

/**
 * Builds the service: the middleware chain and the routes, nothing runtime-specific.
 * The returned app's type carries every route, for Hono's typed `hc` client.
 */
export function createApp(appDeps: AppDeps) {
  const deps = buildServices(appDeps)
  const app = new OpenAPIHono<AppEnv>()
  app.use(requestId({ limitLength: 64 }))
  app.use(secureHeaders(API_SECURITY_HEADERS))
  app.use(...hardening(app, deps))

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404))
  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error)
    if (error instanceof HTTPException && (error.status < 500 || error.status === 503)) {
      return errorResponse(c, new ApiError(error.status, error.message || 'Bad Request'))
    }
    if (isUniqueViolation(error)) return errorResponse(c, new ApiError(409, 'Conflict'))
    const unavailable = databaseUnavailableCode(error)
    if (unavailable !== undefined) {
      const log = c.get('logger') ?? deps.logger
      log.warn('db_unavailable', {
        request_id: c.get('requestId'),
        method: c.req.method,
        path: c.req.path.slice(0, 200),
        code: unavailable,
      })
      return c.json({ detail: 'Service temporarily unavailable' }, 503)
    }
    deps.logger.error('unhandled_error', {
      request_id: c.get('requestId'),
      method: c.req.method,
      path: c.req.path.slice(0, 200),
      error: error instanceof Error ? error.name : typeof error,
    })
    return c.json({ detail: 'Internal Server Error' }, 500)
  })
  mountApiDocs(app)

  return app
    .route('/', registerRoutes(deps))
    .route('/', tokenRoutes(deps))
    .route('/', validateRoutes(deps))
    .route('/', revokeRoutes(deps))
    .route('/', logoutRoutes(deps))
    .route('/', meRoutes(deps))
    .route('/', changePasswordRoutes(deps))
    .route('/', healthRoutes(deps))
}

/**
 * The app for a parsed configuration: what every entry point builds once per process or isolate,
 * so that the runtimes cannot drift apart in how they wire it.
 */
export function createAppFromConfig(
  config: Config,
  runtime: Pick<AppDeps, 'db' | 'logger'> & Partial<AppDeps>,
) {
  return createApp({
    passwords: createPasswordHasher({ params: config.argon2 }),
    tokens: createVerifiedTokenCache(createTokenService(config.jwt)),
    sessions: config.sessions,
    security: config.security,
    ...runtime,
  })
}

/** The app's type, for `hc<AppType>(baseUrl)`. */
export type AppType = ReturnType<typeof createApp>
