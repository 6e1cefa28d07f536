import { type AppDeps, createApp } from '../../src/app'
import type { Argon2Params } from '../../src/auth/argon2-phc'
import { createPasswordHasher } from '../../src/auth/password'
import type { SessionOptions } from '../../src/auth/sessions'
import { createVerifiedTokenCache } from '../../src/auth/token-cache'
import { createTokenService, type TokenServiceOptions } from '../../src/auth/tokens'
import { DEFAULT_SECURITY, type MfaSettings, type SecurityConfig } from '../../src/config'
import type { DatabaseHandle } from '../../src/db/client'
import { migrateDatabase } from '../../src/db/migrate'
import { type AccessLog, createLogger } from '../../src/logger'
import { borrowEmptyPglite, borrowMigratedPglite } from './pglite'

/** Cheap Argon2id parameters for tests where the cost is not the point. */
export const FAST_ARGON2: Argon2Params = { memoryKiB: 256, iterations: 1, parallelism: 1 }

/** A 32-byte test secret. */
export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef'

/** A clock the test moves by hand. Starts at the real time so tokens look ordinary. */
export class FakeClock {
  ms = Date.now()
  now = () => this.ms
  advance(seconds: number) {
    this.ms += seconds * 1000
  }
}

/**
 * The header through which a test plays the socket's peer address: the fake `clientAddress` the
 * test app is given reads it (a real entry point reads the socket). Absent means "unknown".
 */
export const TEST_PEER_HEADER = 'x-test-peer'

/** Options of {@link makeTestApp}. */
export interface TestAppOptions {
  argon2?: Argon2Params
  jwt?: Partial<TokenServiceOptions>
  /** Session lifetimes and the revocation cache (defaults: the configuration's). */
  sessions?: Partial<SessionOptions>
  /** Overrides of the security settings (throttle rules, CORS, limits). */
  security?: Partial<SecurityConfig>
  /** Which requests get an access line (default `all`, as `createApp`'s). */
  accessLog?: AccessLog
  /** Replaces the fake client address (which reads {@link TEST_PEER_HEADER}). */
  clientAddress?: AppDeps['clientAddress']
  /** Who may call the admin API (default: nobody, it is off). */
  admin?: AppDeps['admin']
  /** Runs before the migrations, to shape the database (the takeover tests load the Python schema). */
  seed?: (exec: (sql: string) => Promise<unknown>) => Promise<void>
}

/** An empty in-memory database shaped by `seed`, then migrated (the takeover tests). */
async function seeded(seed: NonNullable<TestAppOptions['seed']>) {
  const { handle, release } = await borrowEmptyPglite()
  const client = (handle.db as unknown as { $client: { exec(sql: string): Promise<unknown> } })
    .$client
  await seed((sql) => client.exec(sql))
  await migrateDatabase(handle)
  return { handle, release }
}

/** A lost connection, as the driver reports it. */
class LostConnection extends Error {
  readonly code = '08006'
  constructor() {
    super('the connection to the database was lost (a test outage)')
  }
}

/** Makes every query of a PGlite database fail until `end`, without closing it. */
function databaseOutage(handle: DatabaseHandle) {
  const client = (handle.db as unknown as { $client: Record<string, unknown> }).$client
  const methods = ['query', 'exec', 'transaction', 'sql'] as const
  const own = methods.map((method) => Object.getOwnPropertyDescriptor(client, method))
  return {
    start() {
      for (const method of methods) client[method] = () => Promise.reject(new LostConnection())
    },
    end() {
      methods.forEach((method, i) => {
        const descriptor = own[i]
        if (descriptor === undefined) delete client[method]
        else Object.defineProperty(client, method, descriptor)
      })
    },
  }
}

/** A fresh in-memory database with the real migrations, and the app on it. */
export async function makeTestApp(options: TestAppOptions = {}) {
  const { handle, release } =
    options.seed === undefined ? await borrowMigratedPglite() : await seeded(options.seed)
  const outage = databaseOutage(handle)
  const clock = new FakeClock()
  const logs: string[] = []
  const passwords = createPasswordHasher({ params: options.argon2 ?? FAST_ARGON2 })
  const tokens = createVerifiedTokenCache(
    createTokenService({
      secret: TEST_SECRET,
      accessTokenTtlSeconds: 1800,
      now: clock.now,
      ...options.jwt,
    }),
    { now: options.jwt?.now ?? clock.now },
  )
  const logger = createLogger((line) => logs.push(line))
  // One TOTP encryption key for every instance, as one MFA_ENCRYPTION_KEY for every server.
  const testMfa: MfaSettings = {
    encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
    ephemeralKey: false,
    issuer: 'edge-auth',
  }
  /**
   * Another instance of the service on the same database and clock, with its own caches; `mfa`
   * replaces its two-factor settings (`encryptionKey: undefined`: two-factor login off).
   */
  const instance = (
    sessions: Partial<SessionOptions> = options.sessions ?? {},
    mfa: MfaSettings = testMfa,
  ) =>
    createApp({
      mfa,
      db: handle.db,
      passwords,
      tokens,
      logger,
      sessions,
      security: { ...DEFAULT_SECURITY, ...options.security },
      clientAddress: options.clientAddress ?? ((c) => c.req.header(TEST_PEER_HEADER)),
      now: clock.now,
      ...(options.admin === undefined ? {} : { admin: options.admin }),
      ...(options.accessLog === undefined ? {} : { accessLog: options.accessLog }),
    })
  const app = instance()

  const register = (body: unknown) =>
    app.request('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  const login = (fields: Record<string, string>) =>
    app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  const validate = (authorization?: string) =>
    app.request('/validate', {
      method: 'POST',
      headers: authorization === undefined ? {} : { authorization },
    })
  const refresh = (refreshToken: string) =>
    app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
      }).toString(),
    })
  const revoke = (fields: Record<string, string>) =>
    app.request('/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  /** A request with `Authorization: Bearer <accessToken>` and, if given, a JSON body. */
  const bearer = (method: string, path: string, accessToken: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${accessToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const query = (sql: string, params: unknown[] = []) =>
    (
      handle.db as unknown as {
        $client: { query(sql: string, p: unknown[]): Promise<{ rows: Record<string, unknown>[] }> }
      }
    ).$client
      .query(sql, params)
      .then((r) => r.rows)

  return {
    app,
    handle,
    clock,
    logs,
    passwords,
    tokens,
    register,
    login,
    validate,
    refresh,
    revoke,
    bearer,
    instance,
    query,
    /** Done with the database: it is emptied and lent to the next test (see `borrowMigratedPglite`). */
    close: async () => {
      outage.end()
      await release()
    },
    /**
     * The database goes away, as in an outage: every later query fails with a lost connection
     * (SQLSTATE 08006). `close` brings it back and lends it on, so an outage costs no new database.
     */
    closeDatabase: async () => {
      outage.start()
    },
  }
}

/** The test app's type. */
export type TestApp = Awaited<ReturnType<typeof makeTestApp>>
