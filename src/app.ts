import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { createAdjustableClock } from './auth/adjustable-clock'
import { createMfaService } from './auth/mfa'
import { createPasswordHasher, timedHasher } from './auth/password'
import { accountKeyOf, createRevocationCheck } from './auth/revocation'
import { createSessionService, DEFAULT_SESSION_OPTIONS } from './auth/sessions'
import { createThrottle, observeBlocks } from './auth/throttle'
import { createVerifiedTokenCache } from './auth/token-cache'
import { createTokenService, type TokenService } from './auth/tokens'
import { type Config, DEFAULT_ADMIN, DEFAULT_OAUTH, DEFAULT_SECURITY } from './config'
import { databaseUnavailableCode, isUniqueViolation } from './db/errors'
import { findTokenHolder } from './db/sessions'
import { ApiError, errorResponse } from './errors'
import { conflict, internalError, notFound, temporarilyUnavailable } from './http/answers'
import { NO_METRICS } from './metrics'
import { createLimitAddress } from './middleware/client-address'
import { hardening } from './middleware/hardening'
import { mountApiDocs } from './openapi/document'
import { adminRoutes } from './routes/admin'
import { changePasswordRoutes } from './routes/change-password'
import { healthRoutes } from './routes/health'
import { introspectRoutes } from './routes/introspect'
import { logoutRoutes } from './routes/logout'
import { meRoutes } from './routes/me'
import { metricsRoutes } from './routes/metrics'
import { mfaRoutes } from './routes/mfa'
import { mfaTestClockRoutes } from './routes/mfa-test-clock'
import { registerRoutes } from './routes/register'
import { revokeRoutes } from './routes/revoke'
import { tokenRoutes } from './routes/token'
import { answerKnownTokenRequest, knownTokenAnswerer, validateRoutes } from './routes/validate'
import { wellKnownRoutes } from './routes/well-known'
import type { AppDeps, AppEnv, AppServices } from './types'

export type { AppDeps, AppEnv, AppServices } from './types'

function buildServices(deps: AppDeps): AppServices {
  const now = deps.now ?? Date.now
  const security = deps.security ?? DEFAULT_SECURITY
  const options = { ...DEFAULT_SESSION_OPTIONS, ...deps.sessions }
  const metrics = deps.metrics ?? NO_METRICS
  const measured = metrics !== NO_METRICS
  const throttle = createThrottle({
    db: deps.db,
    rules: security.throttle,
    now,
    onSweepError: (error) =>
      deps.logger.warn('throttle_sweep_failed', {
        error: error instanceof Error ? error.name : typeof error,
      }),
  })
  const mfa = deps.mfa ?? {
    encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
    ephemeralKey: true,
    issuer: 'edge-auth',
  }
  const mfaTestClock = mfa.testClock === true ? createAdjustableClock(now) : undefined
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
    limitAddress: <E extends AppEnv>(c: Context<E>) => limitAddress(c, c.get('clientAddress')()),
    ...deps,
    clientAddress: deps.clientAddress ?? (() => undefined),
    security,
    oauth: deps.oauth ?? DEFAULT_OAUTH,
    admin: deps.admin ?? DEFAULT_ADMIN,
    now,
    accessLog: deps.accessLog ?? 'all',
    metrics,
    passwords: measured
      ? timedHasher(deps.passwords, (operation, seconds) => metrics.hashTiming(operation, seconds))
      : deps.passwords,
    sessions: createSessionService({
      db: deps.db,
      options,
      now,
      refreshLimit: security.throttle.refreshFamily,
    }),
    revocation: createRevocationCheck({
      load: (key) => findTokenHolder(deps.db, accountKeyOf(key)),
      cacheSeconds: options.revocationCacheSeconds,
      ...(deps.revocationCacheEntries === undefined
        ? {}
        : { maxEntries: deps.revocationCacheEntries }),
      now,
      shared: deps.sharedRevocationCache,
    }),
    throttle: measured
      ? observeBlocks(throttle, (scope) => metrics.throttleBlock(scope))
      : throttle,
    mfa: createMfaService({
      db: deps.db,
      throttle,
      now: mfaTestClock?.now ?? now,
      encryptionKey: mfa.encryptionKey,
      issuer: mfa.issuer,
    }),
    mfaTestClock,
  }
}

/**
 * Builds the service: the middleware chain and the routes, nothing runtime-specific; its `fetch`
 * answers a cached token's `/validate` before routing, and `answerKnownToken` is that step
 * for entry points that read a request's headers themselves (`knownTokenAnswerer`).
 * The returned app's type carries every route, for Hono's typed `hc` client.
 */
export function createApp(appDeps: AppDeps) {
  const deps = buildServices(appDeps)
  const app = new OpenAPIHono<AppEnv>()
  app.use(...hardening(app, deps))

  app.notFound((c) => errorResponse(c, notFound()))
  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error)
    if (error instanceof HTTPException && (error.status < 500 || error.status === 503)) {
      return errorResponse(c, new ApiError(error.status, error.message || 'Bad Request'))
    }
    if (isUniqueViolation(error)) return errorResponse(c, conflict())
    const unavailable = databaseUnavailableCode(error)
    if (unavailable !== undefined) {
      deps.metrics.dbError()
      const log = c.get('logger') ?? deps.logger
      log.warn('db_unavailable', {
        request_id: c.get('requestId'),
        method: c.req.method,
        path: c.req.path.slice(0, 200),
        code: unavailable,
      })
      return errorResponse(c, temporarilyUnavailable())
    }
    deps.logger.error('unhandled_error', {
      request_id: c.get('requestId'),
      method: c.req.method,
      path: c.req.path.slice(0, 200),
      error: error instanceof Error ? error.name : typeof error,
    })
    return errorResponse(c, internalError())
  })
  mountApiDocs(app)

  const routed = app
    .route('/', registerRoutes(deps))
    .route('/', tokenRoutes(deps))
    .route('/', validateRoutes(deps))
    .route('/', revokeRoutes(deps))
    .route('/', introspectRoutes(deps))
    .route('/', wellKnownRoutes(deps))
    .route('/', logoutRoutes(deps))
    .route('/', meRoutes(deps))
    .route('/', changePasswordRoutes(deps))
    .route('/', mfaRoutes(deps))
    .route('/', healthRoutes(deps))
    .route('/', adminRoutes(deps))
    .route('/', metricsRoutes(deps))
    .route('/', mfaTestClockRoutes(deps))
  // A gateway's check of a token it showed before is answered ahead of Hono's routing and
  // middleware, with the same answer (see knownTokenAnswerer); everything else is routed.
  const answerKnownToken = knownTokenAnswerer(deps)
  if (answerKnownToken !== undefined) {
    const route = routed.fetch
    routed.fetch = (request, env, executionCtx) =>
      answerKnownTokenRequest(answerKnownToken, request) ?? route(request, env, executionCtx)
  }
  return Object.assign(routed, { answerKnownToken })
}

/**
 * The app for a parsed configuration: what every entry point builds once per process or isolate,
 * so that the runtimes cannot drift apart in how they wire it. The signing and verifying keys are
 * imported before it resolves, so a key that cannot be used stops the start.
 * @throws {ConfigError} naming the setting of a key that cannot be used.
 */
export async function createAppFromConfig(
  config: Config,
  runtime: Pick<AppDeps, 'db' | 'logger'> & Partial<AppDeps>,
) {
  const tokens = runtime.tokens ?? (await tokenServiceFor(config))
  const passwords = runtime.passwords ?? createPasswordHasher({ params: config.argon2 })
  // Which Argon2 engine logins run on here: the pure-JS fallback costs about ten times the CPU.
  runtime.logger.info('password_engine', { engine: passwords.engine })
  return createApp({
    passwords,
    tokens,
    sessions: config.sessions,
    security: config.security,
    oauth: config.oauth,
    mfa: config.mfa,
    admin: config.admin,
    accessLog: config.accessLog,
    revocationCacheEntries: config.caches.revocationAccounts,
    ...(config.metricsToken === undefined ? {} : { metricsToken: config.metricsToken }),
    ...runtime,
  })
}

/**
 * The token service of a configuration, behind the verified-token cache, with its keys imported.
 * An entry point may build it before opening the database, so a bad key stops it at once.
 * @throws {ConfigError} when a key cannot be imported, naming the setting.
 */
export async function tokenServiceFor(config: Config): Promise<TokenService> {
  const tokens = createVerifiedTokenCache(createTokenService(config.jwt), {
    maxEntries: config.caches.verifiedTokens,
  })
  await tokens.ready()
  return tokens
}

/** The app's type, for `hc<AppType>(baseUrl)`. */
export type AppType = ReturnType<typeof createApp>
