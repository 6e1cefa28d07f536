import { z } from 'zod'
import { ADMIN_KEY_NAME, type AdminKey } from './auth/admin-keys'
import type { Argon2Params } from './auth/argon2-phc'
import {
  type AsymmetricAlgorithm,
  type ConfiguredKey,
  parsePrivateKey,
  parsePublicKeys,
  type SigningAlgorithm,
} from './auth/keys'
import { DEFAULT_ARGON2_PARAMS } from './auth/password'
import { DEFAULT_REVOCATION_CACHE_ENTRIES } from './auth/revocation'
import { DEFAULT_SESSION_OPTIONS, type SessionOptions } from './auth/sessions'
import { DEFAULT_THROTTLE_RULES, type ThrottleRules } from './auth/throttle'
import { DEFAULT_TOKEN_CACHE_ENTRIES } from './auth/token-cache'
import { ConfigError, settingError } from './config-error'
import type { DatabaseConfig } from './db/client'
import { ACCESS_LOG_MODES, type AccessLog, LOG_LEVELS, type LogLevel } from './logger'

export type { DatabaseConfig } from './db/client'

/** Everything the service needs to start, parsed once by the entry point. */
export interface Config {
  env: 'development' | 'production' | 'test'
  port: number
  database: DatabaseConfig
  jwt: {
    /** What signs new tokens (ALGORITHM). */
    algorithm: SigningAlgorithm
    /**
     * The HS256 secret (JWT_SECRET): signs with HS256; with EdDSA or ES256, only verifies (tokens
     * made before the move), and may be absent.
     */
    secret: string | undefined
    /** The private key that signs with EdDSA or ES256 (JWT_PRIVATE_KEY); undefined: an ephemeral one. */
    privateKey: ConfiguredKey | undefined
    /** Published public keys that verify but never sign (JWT_PUBLIC_KEYS): the next and previous keys. */
    publicKeys: ConfiguredKey[]
    /** True when ALGORITHM is EdDSA or ES256 without JWT_PRIVATE_KEY (development): a key for this process only. */
    ephemeralKey: boolean
    /** Retired secrets that still verify (JWT_PREVIOUS_SECRETS), never used to sign. */
    previousSecrets: string[]
    /**
     * The Python service's secret (JWT_LEGACY_SECRET), possibly short: it verifies only tokens of
     * that service's shape, never signs.
     */
    legacySecret: string | undefined
    /** True when no JWT_SECRET was given and a random one was made for this process. */
    ephemeralSecret: boolean
    accessTokenTtlSeconds: number
    issuer: string | undefined
    audience: string | undefined
  }
  argon2: Argon2Params
  oauth: OAuthSettings
  admin: AdminSettings
  sessions: SessionOptions
  /** Sizes of the per-process caches of `/validate`, in entries. */
  caches: CacheSizes
  security: SecurityConfig
  server: ServerLimits
  /** The least severe log level written (LOG_LEVEL). */
  logLevel: LogLevel
  /**
   * Which requests get an access line (ACCESS_LOG): by default `errors-and-writes` in production
   * (no line for a successful `/validate` or health check), `all` otherwise.
   */
  accessLog: AccessLog
  /** Two-factor login (TOTP). */
  mfa: MfaSettings
  /**
   * The bearer secret `GET /metrics` asks for (METRICS_TOKEN, at least 32 characters); undefined:
   * metrics are off and `/metrics` answers 404. Bun and Node only (a Worker has no `/metrics`).
   */
  metricsToken: string | undefined
  /** Human-readable warnings the entry point should log at start-up (never containing secrets). */
  warnings: string[]
}

/** How many entries the per-process caches of `/validate` hold at most. */
export interface CacheSizes {
  /** Verified tokens (TOKEN_CACHE_ENTRIES). */
  verifiedTokens: number
  /** Accounts read for the revocation check (TOKEN_REVOCATION_CACHE_ENTRIES). */
  revocationAccounts: number
}

/** Two-factor login settings (MFA_ENCRYPTION_KEY, MFA_ISSUER). */
export interface MfaSettings {
  /**
   * The 32-byte AES-GCM key that encrypts stored TOTP secrets; undefined turns two-factor login off
   * (production without MFA_ENCRYPTION_KEY): enrolment and the logins of accounts that have TOTP
   * answer 503, never a login without the second factor.
   */
  encryptionKey: Uint8Array | undefined
  /** True when no key was given outside production and a random one was made for this process. */
  ephemeralKey: boolean
  /** The issuer that authenticator apps show next to the account (the `otpauth://` label). */
  issuer: string
  /**
   * MFA_TEST_CLOCK: the clock of two-factor login can be moved through `PUT /_test/mfa-clock`
   * (the contract suite's code windows and expiries). Only with NODE_ENV=test.
   */
  testClock?: boolean
}

/** A caller of `POST /introspect` (INTROSPECTION_CLIENTS), authenticating with HTTP Basic. */
export interface IntrospectionClient {
  id: string
  secret: string
}

/** What the metadata, key set and introspection endpoints publish. */
export interface OAuthSettings {
  /**
   * The public base URL (JWT_ISSUER when it is an http(s) URL): the `issuer` of the metadata and
   * the base of its endpoint URLs. Undefined: the metadata endpoints answer 404.
   */
  issuer: string | undefined
  /** `max-age` of `/.well-known/jwks.json` and the metadata, in seconds (JWKS_CACHE_SECONDS). */
  jwksCacheSeconds: number
  /** Who may call `POST /introspect`; none: the endpoint answers 404. */
  introspectionClients: IntrospectionClient[]
}

/** The publishing settings when none are given: no issuer, 5-minute caching, no introspection. */
export const DEFAULT_OAUTH: OAuthSettings = Object.freeze({
  issuer: undefined,
  jwksCacheSeconds: 300,
  introspectionClients: [],
})

/** Who may call `/admin/...` (ADMIN_API_KEYS); no keys: the admin API answers 404. */
export interface AdminSettings {
  keys: AdminKey[]
}

/** The admin settings when none are given: the admin API is off. */
export const DEFAULT_ADMIN: AdminSettings = Object.freeze({ keys: [] })

/** The hardening settings: throttling, proxies, CORS, size and time limits. */
export interface SecurityConfig {
  /** How many reverse proxies in front append to X-Forwarded-For (TRUST_PROXY); 0 ignores the header. */
  trustProxyHops: number
  /** Origins allowed by CORS (CORS_ORIGINS); empty means no CORS headers at all, `*` any origin. */
  corsOrigins: string[]
  /** Largest request body accepted, in bytes (BODY_LIMIT_BYTES); more is a 413. */
  bodyLimitBytes: number
  /** Deadline of a whole request in ms (REQUEST_TIMEOUT_MS); past it the answer is a 503. */
  requestTimeoutMs: number
  /** Deadline of the readiness probe's `select 1` in ms (READY_TIMEOUT_MS). */
  readyTimeoutMs: number
  throttle: ThrottleRules
}

/**
 * Connection limits of the Node server (`src/entry/node.ts`); Bun.serve keeps its own (a 10 s idle
 * timeout) and a Worker's connections are Cloudflare's.
 */
export interface ServerLimits {
  /** Time a client has to send the whole request head, in ms (HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number
  /** How long an idle keep-alive connection stays open, in ms (KEEP_ALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number
  /** Most connections open at once (MAX_CONNECTIONS); more are closed as they arrive. */
  maxConnections: number
}

/** The settings used when none are given (also what a test app gets by default). */
export const DEFAULT_SECURITY: SecurityConfig = Object.freeze({
  trustProxyHops: 0,
  corsOrigins: [],
  bodyLimitBytes: 8192,
  requestTimeoutMs: 8000,
  readyTimeoutMs: 2000,
  throttle: DEFAULT_THROTTLE_RULES,
})

export { ConfigError } from './config-error'

/** The minimum length of a production signing secret, in bytes (RFC 7518 §3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32

/** The shortest METRICS_TOKEN accepted: a random secret, not a word (`openssl rand -hex 32` gives 64). */
const MIN_METRICS_TOKEN_CHARS = 32

const DEFAULT_PGLITE_DIR = './.data/pglite'

const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v)
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional())
const intInRange = (min: number, max: number, fallback: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).max(max).default(fallback))
const flag = (fallback: boolean) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .enum(['true', 'false', '1', '0'], { error: 'expected true, false, 1 or 0' })
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  )
const DAY = 24 * 60 * 60
const D = DEFAULT_SESSION_OPTIONS

const { throttle: T } = DEFAULT_SECURITY

const trustProxy = z.preprocess(
  (v) => {
    if (v === undefined || v === '') return 0
    if (typeof v === 'string' && /^(true|false)$/i.test(v))
      return v.toLowerCase() === 'true' ? 1 : 0
    return v
  },
  z.coerce
    .number({ error: 'expected true, false or a number of proxies' })
    .int({ error: 'expected true, false or a number of proxies' })
    .min(0)
    .max(10),
)

const corsOrigins = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean)
      : [],
  z.array(
    z.string().refine((o) => o === '*' || isOrigin(o), {
      error: 'each entry must be an origin such as https://app.example.com, or *',
    }),
  ),
)

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value)
    return /^https?:$/.test(url.protocol) && url.origin === value
  } catch {
    return false
  }
}

const envSchema = z.object({
  NODE_ENV: z.preprocess(
    emptyAsUndefined,
    z.enum(['development', 'production', 'test']).default('development'),
  ),
  PORT: intInRange(0, 65535, 8001),
  DATABASE_URL: optionalString,
  DB_DRIVER: z.preprocess(emptyAsUndefined, z.enum(['pglite', 'postgres', 'neon-http']).optional()),
  PGLITE_DATA_DIR: optionalString,
  NEON_FETCH_ENDPOINT: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^https?:\/\/[^/]/, 'expected an http:// or https:// URL')
      .optional(),
  ),
  DB_HOST: optionalString,
  DB_PORT: intInRange(1, 65535, 5432),
  DB_USER: z.preprocess(emptyAsUndefined, z.string().default('postgres')),
  DB_PASSWORD: optionalString,
  DB_NAME: z.preprocess(emptyAsUndefined, z.string().default('postgres')),
  JWT_SECRET: optionalString,
  JWT_PREVIOUS_SECRETS: optionalString,
  JWT_LEGACY_SECRET: optionalString,
  ALGORITHM: z.preprocess(
    emptyAsUndefined,
    z
      .enum(['HS256', 'EdDSA', 'ES256'], { error: 'expected HS256, EdDSA or ES256' })
      .default('HS256'),
  ),
  JWT_PRIVATE_KEY: optionalString,
  JWT_PUBLIC_KEYS: optionalString,
  JWKS_CACHE_SECONDS: intInRange(0, 86_400, DEFAULT_OAUTH.jwksCacheSeconds),
  INTROSPECTION_CLIENTS: optionalString,
  ADMIN_API_KEYS: optionalString,
  ACCESS_TOKEN_EXPIRE_MINUTES: intInRange(1, 24 * 60, 30),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  ARGON2_MEMORY_KIB: intInRange(8, 1024 * 1024, DEFAULT_ARGON2_PARAMS.memoryKiB),
  ARGON2_ITERATIONS: intInRange(1, 20, DEFAULT_ARGON2_PARAMS.iterations),
  ARGON2_PARALLELISM: intInRange(1, 16, DEFAULT_ARGON2_PARAMS.parallelism),
  REFRESH_TOKEN_EXPIRE_DAYS: intInRange(1, 365, D.refreshTokenTtlSeconds / DAY),
  SESSION_MAX_DAYS: intInRange(1, 3650, D.sessionMaxSeconds / DAY),
  REFRESH_REUSE_GRACE_SECONDS: intInRange(0, 300, D.reuseGraceSeconds),
  TOKEN_REVOCATION_CACHE_SECONDS: intInRange(0, 3600, D.revocationCacheSeconds),
  STATELESS_VALIDATION: flag(D.statelessValidation),
  TOKEN_CACHE_ENTRIES: intInRange(1, 10_000_000, DEFAULT_TOKEN_CACHE_ENTRIES),
  TOKEN_REVOCATION_CACHE_ENTRIES: intInRange(1, 10_000_000, DEFAULT_REVOCATION_CACHE_ENTRIES),
  TRUST_PROXY: trustProxy,
  CORS_ORIGINS: corsOrigins,
  BODY_LIMIT_BYTES: intInRange(1024, 1024 * 1024, DEFAULT_SECURITY.bodyLimitBytes),
  REQUEST_TIMEOUT_MS: intInRange(100, 120_000, DEFAULT_SECURITY.requestTimeoutMs),
  READY_TIMEOUT_MS: intInRange(100, 60_000, DEFAULT_SECURITY.readyTimeoutMs),
  HEADERS_TIMEOUT_MS: intInRange(500, 120_000, 10_000),
  KEEP_ALIVE_TIMEOUT_MS: intInRange(500, 120_000, 5000),
  MAX_CONNECTIONS: intInRange(1, 1_000_000, 1000),
  THROTTLE_LOGIN_ACCOUNT_MAX: intInRange(0, 1000, T.loginAccount.max),
  THROTTLE_LOGIN_ADDRESS_MAX: intInRange(0, 1_000_000, T.loginAddress.max),
  THROTTLE_LOGIN_WINDOW_SECONDS: intInRange(1, 86_400, T.loginAccount.windowSeconds),
  THROTTLE_LOGIN_LOCKOUT_SECONDS: intInRange(1, 86_400, T.loginAccount.lockoutSeconds),
  THROTTLE_REGISTER_ADDRESS_MAX: intInRange(0, 1_000_000, T.registerAddress.max),
  THROTTLE_REGISTER_WINDOW_SECONDS: intInRange(1, 86_400, T.registerAddress.windowSeconds),
  THROTTLE_REFRESH_MAX: intInRange(0, 1_000_000, T.refreshFamily.max),
  THROTTLE_REFRESH_WINDOW_SECONDS: intInRange(1, 86_400, T.refreshFamily.windowSeconds),
  MFA_ENCRYPTION_KEY: optionalString,
  MFA_ISSUER: z.preprocess(emptyAsUndefined, z.string().max(100).default('edge-auth')),
  MFA_TEST_CLOCK: flag(false),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ),
  ACCESS_LOG: z.preprocess(
    emptyAsUndefined,
    z
      .enum(ACCESS_LOG_MODES, { error: `expected one of ${ACCESS_LOG_MODES.join(', ')}` })
      .optional(),
  ),
  METRICS_TOKEN: z.preprocess(
    emptyAsUndefined,
    z.string().min(MIN_METRICS_TOKEN_CHARS, { error: 'must be at least 32 characters' }).optional(),
  ),
})

type Env = z.infer<typeof envSchema>

/** The names of every setting {@link parseConfig} reads (what a launcher may pass on to the service). */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.keys(envSchema.shape))

/**
 * Parses configuration from a flat record (process.env, Worker bindings, or a test object).
 * Pure apart from generating a random development secret when none is given.
 * @throws {ConfigError} listing every invalid setting by name.
 */
export function parseConfig(record: Record<string, unknown>): Config {
  const parsed = envSchema.safeParse(record)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  const env = parsed.data
  const warnings: string[] = []
  if (env.SESSION_MAX_DAYS < env.REFRESH_TOKEN_EXPIRE_DAYS) {
    throw new ConfigError(
      'Invalid configuration:\n  SESSION_MAX_DAYS: must be at least REFRESH_TOKEN_EXPIRE_DAYS',
    )
  }
  const jwt = {
    algorithm: env.ALGORITHM,
    ...resolveSecret(env, warnings),
    ...resolveKeys(env, warnings),
    previousSecrets: resolvePreviousSecrets(env, warnings),
    legacySecret: resolveLegacySecret(env, warnings),
  }
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    database: resolveDatabase(env),
    jwt: {
      ...jwt,
      accessTokenTtlSeconds: env.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
    },
    argon2: {
      memoryKiB: env.ARGON2_MEMORY_KIB,
      iterations: env.ARGON2_ITERATIONS,
      parallelism: env.ARGON2_PARALLELISM,
    },
    oauth: {
      issuer: resolveIssuerUrl(env),
      jwksCacheSeconds: env.JWKS_CACHE_SECONDS,
      introspectionClients: resolveIntrospectionClients(env),
    },
    admin: { keys: resolveAdminKeys(env) },
    sessions: {
      refreshTokenTtlSeconds: env.REFRESH_TOKEN_EXPIRE_DAYS * DAY,
      sessionMaxSeconds: env.SESSION_MAX_DAYS * DAY,
      reuseGraceSeconds: env.REFRESH_REUSE_GRACE_SECONDS,
      revocationCacheSeconds: env.TOKEN_REVOCATION_CACHE_SECONDS,
      statelessValidation: env.STATELESS_VALIDATION,
    },
    caches: {
      verifiedTokens: env.TOKEN_CACHE_ENTRIES,
      revocationAccounts: env.TOKEN_REVOCATION_CACHE_ENTRIES,
    },
    security: resolveSecurity(env),
    server: {
      headersTimeoutMs: env.HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: env.MAX_CONNECTIONS,
    },
    logLevel: env.LOG_LEVEL,
    accessLog: env.ACCESS_LOG ?? (env.NODE_ENV === 'production' ? 'errors-and-writes' : 'all'),
    mfa: {
      ...resolveMfaKey(env, warnings),
      issuer: env.MFA_ISSUER,
      testClock: resolveMfaTestClock(env),
    },
    metricsToken: env.METRICS_TOKEN,
    warnings,
  }
}

/**
 * MFA_ENCRYPTION_KEY: 32 bytes in base64 or base64url (`openssl rand -base64 32`). Without it a
 * development or test run makes a key for the process (stored TOTP secrets then become unreadable
 * at restart) and says so; production runs with two-factor login off, and says so.
 */
function resolveMfaKey(env: Env, warnings: string[]) {
  const text = env.MFA_ENCRYPTION_KEY
  if (text === undefined) {
    if (env.NODE_ENV === 'production') {
      warnings.push(
        'MFA_ENCRYPTION_KEY is not set: two-factor login is off (enrolment, and the logins of accounts that have TOTP, answer 503). Set it to 32 random bytes in base64 (openssl rand -base64 32).',
      )
      return { encryptionKey: undefined, ephemeralKey: false }
    }
    warnings.push(
      'MFA_ENCRYPTION_KEY is not set: using a random key for this process only. TOTP secrets stored now cannot be read after a restart. Set MFA_ENCRYPTION_KEY (32 bytes, base64) before deploying.',
    )
    return { encryptionKey: crypto.getRandomValues(new Uint8Array(32)), ephemeralKey: true }
  }
  let bytes: Uint8Array | undefined
  try {
    const standard = text.trim().replaceAll('-', '+').replaceAll('_', '/')
    bytes = Uint8Array.from(atob(standard), (c) => c.charCodeAt(0))
  } catch {
    bytes = undefined
  }
  if (bytes?.length !== 32) {
    throw settingError('MFA_ENCRYPTION_KEY', 'expected 32 bytes in base64 or base64url')
  }
  return { encryptionKey: bytes, ephemeralKey: false }
}

/**
 * MFA_TEST_CLOCK: lets the test suite move the clock of two-factor login. Refused unless
 * NODE_ENV=test, so that no development or production service can have its code windows moved.
 */
function resolveMfaTestClock(env: Env): boolean {
  if (!env.MFA_TEST_CLOCK) return false
  if (env.NODE_ENV !== 'test') {
    throw settingError('MFA_TEST_CLOCK', 'only for the test suite: it needs NODE_ENV=test')
  }
  return true
}

function resolveSecurity(env: Env): SecurityConfig {
  const login = {
    windowSeconds: env.THROTTLE_LOGIN_WINDOW_SECONDS,
    lockoutSeconds: env.THROTTLE_LOGIN_LOCKOUT_SECONDS,
  }
  return {
    trustProxyHops: env.TRUST_PROXY,
    corsOrigins: env.CORS_ORIGINS,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    readyTimeoutMs: env.READY_TIMEOUT_MS,
    throttle: {
      loginAccount: { max: env.THROTTLE_LOGIN_ACCOUNT_MAX, ...login },
      loginAddress: { max: env.THROTTLE_LOGIN_ADDRESS_MAX, ...login },
      registerAddress: {
        max: env.THROTTLE_REGISTER_ADDRESS_MAX,
        windowSeconds: env.THROTTLE_REGISTER_WINDOW_SECONDS,
        lockoutSeconds: env.THROTTLE_REGISTER_WINDOW_SECONDS,
      },
      refreshFamily: {
        max: env.THROTTLE_REFRESH_MAX,
        windowSeconds: env.THROTTLE_REFRESH_WINDOW_SECONDS,
        lockoutSeconds: env.THROTTLE_REFRESH_WINDOW_SECONDS,
      },
    },
  }
}

/**
 * JWT_PREVIOUS_SECRETS: a comma-separated list, or a JSON array of strings when a secret holds a
 * comma. In production every entry must be a strong key: a short one (a weak secret, or a secret
 * cut short by a comma) would verify any token it signs, for any account. The Python service's
 * secret, if short, belongs in JWT_LEGACY_SECRET.
 */
function resolvePreviousSecrets(env: Env, warnings: string[]): string[] {
  const raw = env.JWT_PREVIOUS_SECRETS ?? ''
  const secrets = raw.trimStart().startsWith('[') ? jsonSecrets(raw) : commaSecrets(raw)
  const short = secrets.flatMap((s, i) => (byteLength(s) < MIN_SECRET_BYTES ? [i + 1] : []))
  if (short.length === 0) return secrets
  if (env.NODE_ENV === 'production') {
    throw new ConfigError(
      `Invalid configuration:\n  JWT_PREVIOUS_SECRETS: entry ${short.join(', ')} is shorter than ${MIN_SECRET_BYTES} bytes, which production refuses. A secret containing a comma must be given as a JSON array of strings; the Python service's short secret goes in JWT_LEGACY_SECRET`,
    )
  }
  warnings.push(
    `JWT_PREVIOUS_SECRETS holds ${short.length} secret(s) shorter than ${MIN_SECRET_BYTES} bytes: tokens signed with them are only as strong as they are (production refuses to start with them)`,
  )
  return secrets
}

const commaSecrets = (raw: string) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

function jsonSecrets(raw: string): string[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    parsed = undefined
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string' && s !== '')) {
    throw new ConfigError(
      'Invalid configuration:\n  JWT_PREVIOUS_SECRETS: starts with [ but is not a JSON array of non-empty strings',
    )
  }
  return parsed
}

/**
 * JWT_LEGACY_SECRET: the Python service's secret, taken whole (no splitting). It may be short
 * (a warning): it verifies only tokens of that service's shape, which the revocation rule honours
 * only for adopted accounts, a check `/validate` skips with STATELESS_VALIDATION, hence the refusal.
 */
function resolveLegacySecret(env: Env, warnings: string[]): string | undefined {
  const secret = env.JWT_LEGACY_SECRET
  if (secret === undefined) return undefined
  if (env.STATELESS_VALIDATION) {
    throw new ConfigError(
      'Invalid configuration:\n  JWT_LEGACY_SECRET: cannot be used with STATELESS_VALIDATION=true (its tokens are honoured only for adopted accounts, which only the database can tell)',
    )
  }
  if (byteLength(secret) < MIN_SECRET_BYTES) {
    warnings.push(
      `JWT_LEGACY_SECRET is shorter than ${MIN_SECRET_BYTES} bytes: it verifies only the Python service's tokens ({sub, exp}) for accounts adopted from it; drop it once those have expired`,
    )
  }
  return secret
}

const byteLength = (s: string) => new TextEncoder().encode(s).length

/**
 * JWT_PRIVATE_KEY and JWT_PUBLIC_KEYS. With EdDSA or ES256 a production run needs the private key
 * and JWT_ISSUER as an https URL (gateways check `iss`, and the metadata is served under it); a
 * development run without the key makes one for the process. With HS256 a private key is refused
 * (it would never sign); public keys are allowed (they verify, e.g. after going back to HS256).
 */
function resolveKeys(env: Env, warnings: string[]) {
  const publicKeys =
    env.JWT_PUBLIC_KEYS === undefined ? [] : parsePublicKeys(env.JWT_PUBLIC_KEYS, 'JWT_PUBLIC_KEYS')
  const alg = env.ALGORITHM
  if (alg === 'HS256') {
    if (env.JWT_PRIVATE_KEY !== undefined) {
      throw settingError('JWT_PRIVATE_KEY', 'set ALGORITHM to EdDSA or ES256 to sign with it')
    }
    return { privateKey: undefined, publicKeys, ephemeralKey: false }
  }
  if (env.NODE_ENV === 'production' && !/^https:\/\/[^/]/.test(env.JWT_ISSUER ?? '')) {
    throw settingError(
      'JWT_ISSUER',
      `required in production with ALGORITHM=${alg}: the service's public https URL (the iss gateways check)`,
    )
  }
  if (env.JWT_PRIVATE_KEY === undefined) {
    if (env.NODE_ENV === 'production') {
      throw settingError('JWT_PRIVATE_KEY', `required in production with ALGORITHM=${alg}`)
    }
    warnings.push(
      `JWT_PRIVATE_KEY is not set: using a random ${alg} key for this process only. Tokens will not survive a restart, and gateways must fetch the key set again. Make one with \`bun run keygen ${alg}\` before deploying.`,
    )
    return { privateKey: undefined, publicKeys, ephemeralKey: true }
  }
  const privateKey = parsePrivateKey(
    env.JWT_PRIVATE_KEY,
    'JWT_PRIVATE_KEY',
    alg as AsymmetricAlgorithm,
  )
  return { privateKey, publicKeys, ephemeralKey: false }
}

/** JWT_ISSUER as the public base URL when it is an http(s) URL with no query or fragment. */
function resolveIssuerUrl(env: Env): string | undefined {
  const issuer = env.JWT_ISSUER
  if (issuer === undefined) return undefined
  try {
    const url = new URL(issuer)
    return /^https?:$/.test(url.protocol) && url.search === '' && url.hash === ''
      ? issuer
      : undefined
  } catch {
    return undefined
  }
}

/**
 * INTROSPECTION_CLIENTS: `id:secret` pairs separated by commas. In production each secret must be
 * a strong one ({@link MIN_SECRET_BYTES} bytes or more).
 */
function resolveIntrospectionClients(env: Env): IntrospectionClient[] {
  const raw = env.INTROSPECTION_CLIENTS
  if (raw === undefined) return []
  const clients = commaSecrets(raw).map((entry, i) => {
    const colon = entry.indexOf(':')
    const id = entry.slice(0, colon)
    const secret = entry.slice(colon + 1)
    if (colon < 1 || secret === '') {
      throw settingError('INTROSPECTION_CLIENTS', `entry ${i + 1} is not id:secret`)
    }
    if (env.NODE_ENV === 'production' && byteLength(secret) < MIN_SECRET_BYTES) {
      throw settingError(
        'INTROSPECTION_CLIENTS',
        `the secret of entry ${i + 1} is shorter than ${MIN_SECRET_BYTES} bytes, which production refuses`,
      )
    }
    return { id, secret }
  })
  if (new Set(clients.map((c) => c.id)).size !== clients.length) {
    throw settingError('INTROSPECTION_CLIENTS', 'a client id is listed twice')
  }
  return clients
}

/**
 * ADMIN_API_KEYS: `name:sha256` entries separated by commas, the SHA-256 of each key in hex (never
 * the key itself; `bun run admin -- new-key NAME` makes a key and its entry). The name is what
 * logs call the key's holder.
 */
function resolveAdminKeys(env: Env): AdminKey[] {
  const raw = env.ADMIN_API_KEYS
  if (raw === undefined) return []
  const keys = commaSecrets(raw).map((entry, i) => {
    const colon = entry.indexOf(':')
    const name = entry.slice(0, colon)
    const sha256 = entry.slice(colon + 1).toLowerCase()
    if (colon < 1 || !ADMIN_KEY_NAME.test(name) || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw settingError(
        'ADMIN_API_KEYS',
        `entry ${i + 1} is not name:<the key's SHA-256 in 64 hex digits> (the key itself never goes here; \`bun run admin -- new-key NAME\` makes both)`,
      )
    }
    return { name, sha256 }
  })
  if (new Set(keys.map((k) => k.name)).size !== keys.length) {
    throw settingError('ADMIN_API_KEYS', 'a name is listed twice')
  }
  return keys
}

function resolveSecret(env: Env, warnings: string[]) {
  const production = env.NODE_ENV === 'production'
  if (env.JWT_SECRET === undefined && env.ALGORITHM !== 'HS256') {
    return { secret: undefined, ephemeralSecret: false }
  }
  if (env.JWT_SECRET === undefined) {
    if (production)
      throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required in production')
    warnings.push(
      'JWT_SECRET is not set: using a random secret for this process only. Tokens will not survive a restart. Set JWT_SECRET (at least 32 bytes) before deploying.',
    )
    return { secret: randomSecret(), ephemeralSecret: true }
  }
  const bytes = byteLength(env.JWT_SECRET)
  if (bytes < MIN_SECRET_BYTES) {
    const message = `JWT_SECRET is ${bytes} bytes; at least ${MIN_SECRET_BYTES} are required in production`
    if (production) throw new ConfigError(`Invalid configuration:\n  JWT_SECRET: ${message}`)
    warnings.push(message)
  }
  return { secret: env.JWT_SECRET, ephemeralSecret: false }
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function resolveDatabase(env: Env): DatabaseConfig {
  const url = env.DATABASE_URL ?? legacyUrl(env)
  if (env.DB_DRIVER === 'pglite' || (env.DB_DRIVER === undefined && url === undefined)) {
    return {
      driver: 'pglite',
      dataDir: pgliteDir(url ?? env.PGLITE_DATA_DIR ?? DEFAULT_PGLITE_DIR),
    }
  }
  if (url === undefined) {
    throw new ConfigError(
      `Invalid configuration:\n  DATABASE_URL: required with DB_DRIVER=${env.DB_DRIVER}`,
    )
  }
  if (url === 'memory://' || url.startsWith('file://') || url.startsWith('pglite://')) {
    if (env.DB_DRIVER !== undefined) {
      throw new ConfigError(
        `Invalid configuration:\n  DB_DRIVER: ${env.DB_DRIVER} needs a postgres:// URL`,
      )
    }
    return { driver: 'pglite', dataDir: pgliteDir(url) }
  }
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError(
      'Invalid configuration:\n  DATABASE_URL: expected postgres://, postgresql://, memory:// or file://',
    )
  }
  if (env.DB_DRIVER !== 'neon-http') return { driver: 'postgres', url }
  const endpoint = env.NEON_FETCH_ENDPOINT
  return {
    driver: 'neon-http',
    url,
    ...(endpoint === undefined ? {} : { fetchEndpoint: endpoint }),
  }
}

function pgliteDir(location: string): string | null {
  if (location === 'memory://') return null
  return location.replace(/^(file|pglite):\/\//, '')
}

function legacyUrl(env: Env): string | undefined {
  if (env.DB_HOST === undefined) return undefined
  const user = encodeURIComponent(env.DB_USER)
  const password = env.DB_PASSWORD === undefined ? '' : `:${encodeURIComponent(env.DB_PASSWORD)}`
  const host = env.DB_HOST.includes(':') ? `[${env.DB_HOST}]` : env.DB_HOST
  return `postgres://${user}${password}@${host}:${env.DB_PORT}/${encodeURIComponent(env.DB_NAME)}`
}
