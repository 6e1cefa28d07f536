/**
 * The shapes the app, its middleware and its routes share: what an entry point hands the app, what
 * routes receive, and Hono's variables. A leaf: it imports only types, and nothing imports it back,
 * so routes and the app never import each other.
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { AdjustableClock } from './auth/adjustable-clock'
import type { MfaService } from './auth/mfa'
import type { PasswordHasher } from './auth/password'
import type { RevocationCheck } from './auth/revocation'
import type { SharedHolderCache } from './auth/revocation-shared'
import type { SessionOptions, SessionService } from './auth/sessions'
import type { Throttle } from './auth/throttle'
import type { TokenService } from './auth/tokens'
import type { AdminSettings, MfaSettings, OAuthSettings, SecurityConfig } from './config'
import type { Database } from './db/client'
import type { AccessLog, Logger } from './logger'
import type { Metrics } from './metrics'
import type { ClientAddressFn } from './middleware/client-address'

/** Everything the app needs, built once per process or isolate by an entry point. */
export interface AppDeps {
  db: Database
  passwords: PasswordHasher
  tokens: TokenService
  logger: Logger
  /** Session lifetimes and the revocation check; unset fields take `DEFAULT_SESSION_OPTIONS`. */
  sessions?: Partial<SessionOptions>
  /** The runtime's view of the client address (socket peer, CF-Connecting-IP); none by default. */
  clientAddress?: ClientAddressFn
  /**
   * True when `clientAddress` is the platform's word for the client and the platform's own
   * proxies add forwarding headers (Workers): no untrusted proxy to detect (see `createLimitAddress`).
   */
  platformAddress?: boolean
  /** Throttling, proxy, CORS and limit settings; `DEFAULT_SECURITY` by default. */
  security?: SecurityConfig
  /** Issuer URL, key set caching and introspection clients; `DEFAULT_OAUTH` by default. */
  oauth?: OAuthSettings
  /** Who may call the admin API; none by default (it answers 404). */
  admin?: AdminSettings
  /** Most accounts the revocation cache holds (TOKEN_REVOCATION_CACHE_ENTRIES); its default otherwise. */
  revocationCacheEntries?: number
  /** Which requests get an access line (ACCESS_LOG); `all` by default. */
  accessLog?: AccessLog
  /** The clock in milliseconds (default `Date.now`): expiry, throttling windows and caches follow it. */
  now?: () => number
  /** Two-factor login; by default on, with a random key for the process (as in development). */
  mfa?: MfaSettings
  /**
   * A revocation cache shared with the other instances of one place, behind each one's own
   * (Workers: the Cache API of the data center); none by default.
   */
  sharedRevocationCache?: SharedHolderCache
  /** The metrics recorder (Bun and Node, when METRICS_TOKEN is set); `NO_METRICS` by default. */
  metrics?: Metrics
  /** The bearer secret of `GET /metrics` (METRICS_TOKEN); none by default (it answers 404). */
  metricsToken?: string
}

/** What the routes get: the dependencies with defaults filled in, plus the per-process services `createApp` builds once. */
export interface AppServices extends Omit<AppDeps, 'sessions' | 'mfa'> {
  clientAddress: ClientAddressFn
  security: SecurityConfig
  oauth: OAuthSettings
  admin: AdminSettings
  now: () => number
  accessLog: AccessLog
  metrics: Metrics
  sessions: SessionService
  revocation: RevocationCheck
  throttle: Throttle
  /** TOTP enrolment, second-factor checks and the logins waiting for one. */
  mfa: MfaService
  /** The clock of `mfa` when MFA_TEST_CLOCK is on (the test suite moves it); undefined otherwise. */
  mfaTestClock: AdjustableClock | undefined
  /** The address per-address limits count for this request (see `createLimitAddress`). */
  limitAddress<E extends AppEnv>(c: Context<E>): string | undefined
}

/** Hono's variables for this app. */
export type AppEnv = {
  Variables: {
    requestId: string
    /**
     * The client's address (see `resolveClientAddress`), undefined when unknown; worked out on
     * the first call only, since most requests never need it.
     */
    clientAddress: () => string | undefined
    /** The app's logger, adding this request's id and client address to every line. */
    logger: Logger
    /** The body size limit (413), applied by the middleware that reads a body before it does. */
    limitBody: MiddlewareHandler
    /** A response that already carries the request layer's headers (see `completeJson`). */
    completeResponse: Response
  }
}
