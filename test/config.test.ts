import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../src/config'

const SECRET = 'x'.repeat(32)

describe('parseConfig', () => {
  it('defaults: port 8001, embedded PGlite under ./.data, 30-minute tokens, OWASP Argon2id', () => {
    const config = parseConfig({ JWT_SECRET: SECRET })
    expect(config.port).toBe(8001)
    expect(config.database).toEqual({ driver: 'pglite', dataDir: './.data/pglite' })
    expect(config.jwt.accessTokenTtlSeconds).toBe(1800)
    expect(config.argon2).toEqual({ memoryKiB: 19456, iterations: 2, parallelism: 1 })
    expect(config.jwt.issuer).toBeUndefined()
  })

  it('memory:// is an in-memory PGlite; file:// a PGlite directory', () => {
    expect(parseConfig({ DATABASE_URL: 'memory://' }).database).toEqual({
      driver: 'pglite',
      dataDir: null,
    })
    expect(parseConfig({ DATABASE_URL: 'file://./tmp/db' }).database).toEqual({
      driver: 'pglite',
      dataDir: './tmp/db',
    })
  })

  it('a postgres:// URL selects Postgres over TCP; DB_DRIVER=neon-http selects Neon HTTP', () => {
    const url = 'postgres://u:p@db.example:5432/auth'
    expect(parseConfig({ DATABASE_URL: url }).database).toEqual({ driver: 'postgres', url })
    expect(parseConfig({ DATABASE_URL: url, DB_DRIVER: 'neon-http' }).database).toEqual({
      driver: 'neon-http',
      url,
    })
  })

  it("builds a URL from the seed's DB_* variables, escaping the password", () => {
    const config = parseConfig({
      DB_HOST: 'db',
      DB_USER: 'svc',
      DB_PASSWORD: 'p@ss/w:rd',
      DB_NAME: 'auth_db',
    })
    expect(config.database).toEqual({
      driver: 'postgres',
      url: 'postgres://svc:p%40ss%2Fw%3Ard@db:5432/auth_db',
    })
  })

  it('has no default database password', () => {
    expect(parseConfig({ DB_HOST: 'db' }).database).toEqual({
      driver: 'postgres',
      url: 'postgres://postgres@db:5432/postgres',
    })
  })

  it('DATABASE_URL wins over DB_*', () => {
    const url = 'postgresql://a@b/c'
    expect(parseConfig({ DATABASE_URL: url, DB_HOST: 'ignored' }).database).toEqual({
      driver: 'postgres',
      url,
    })
  })

  it('refuses an ALGORITHM other than HS256', () => {
    expect(() => parseConfig({ ALGORITHM: 'RS256' })).toThrow(/ALGORITHM/)
    expect(() => parseConfig({ ALGORITHM: 'none' })).toThrow(ConfigError)
  })

  it('without JWT_SECRET in development: a random per-process secret and a warning', () => {
    const a = parseConfig({})
    const b = parseConfig({})
    expect(a.jwt.ephemeralSecret).toBe(true)
    expect(a.jwt.secret).toHaveLength(64)
    expect(a.jwt.secret).not.toBe(b.jwt.secret)
    expect(a.warnings.join(' ')).toMatch(/JWT_SECRET is not set/)
  })

  it('in production: refuses to start without JWT_SECRET or with one under 32 bytes', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(
      /JWT_SECRET: required in production/,
    )
    expect(() => parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' })).toThrow(
      /at least 32/,
    )
    expect(parseConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET }).jwt.secret).toBe(SECRET)
  })

  it('never puts a secret into its error message', () => {
    const secret = 'tiny-secret'
    try {
      parseConfig({
        NODE_ENV: 'production',
        JWT_SECRET: secret,
        DB_PASSWORD: 'pw-value',
        PORT: 'abc',
      })
      expect.unreachable()
    } catch (error) {
      expect(String(error)).not.toContain(secret)
      expect(String(error)).not.toContain('pw-value')
    }
  })

  it('lists every invalid setting by name', () => {
    expect(() =>
      parseConfig({ PORT: 'eighty', ACCESS_TOKEN_EXPIRE_MINUTES: '-5', DATABASE_URL: 'mysql://x' }),
    ).toThrow(/PORT[\s\S]*ACCESS_TOKEN_EXPIRE_MINUTES/)
    expect(() => parseConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/)
  })

  it('reads numbers from strings, as environments give them', () => {
    const config = parseConfig({
      PORT: '9000',
      ACCESS_TOKEN_EXPIRE_MINUTES: '5',
      JWT_ISSUER: 'iss',
      JWT_AUDIENCE: 'aud',
    })
    expect(config.port).toBe(9000)
    expect(config.jwt).toMatchObject({ accessTokenTtlSeconds: 300, issuer: 'iss', audience: 'aud' })
  })

  it('Node server limits: 10 s for the headers, 5 s keep-alive, 1000 connections; read and bounded', () => {
    expect(parseConfig({ JWT_SECRET: SECRET }).server).toEqual({
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 1000,
    })
    expect(
      parseConfig({
        HEADERS_TIMEOUT_MS: '2000',
        KEEP_ALIVE_TIMEOUT_MS: '750',
        MAX_CONNECTIONS: '50',
      }).server,
    ).toEqual({ headersTimeoutMs: 2000, keepAliveTimeoutMs: 750, maxConnections: 50 })
    expect(() =>
      parseConfig({ HEADERS_TIMEOUT_MS: '0', KEEP_ALIVE_TIMEOUT_MS: '-1', MAX_CONNECTIONS: '0' }),
    ).toThrow(/HEADERS_TIMEOUT_MS[\s\S]*KEEP_ALIVE_TIMEOUT_MS[\s\S]*MAX_CONNECTIONS/)
  })

  it('session defaults: 30-day refresh tokens, 90-day sessions, 10 s grace, 30 s revocation cache', () => {
    expect(parseConfig({ JWT_SECRET: SECRET }).sessions).toEqual({
      refreshTokenTtlSeconds: 30 * 86400,
      sessionMaxSeconds: 90 * 86400,
      reuseGraceSeconds: 10,
      revocationCacheSeconds: 30,
      statelessValidation: false,
    })
  })

  it('reads the session settings', () => {
    const config = parseConfig({
      REFRESH_TOKEN_EXPIRE_DAYS: '7',
      SESSION_MAX_DAYS: '14',
      REFRESH_REUSE_GRACE_SECONDS: '0',
      TOKEN_REVOCATION_CACHE_SECONDS: '0',
      STATELESS_VALIDATION: 'true',
    })
    expect(config.sessions).toEqual({
      refreshTokenTtlSeconds: 7 * 86400,
      sessionMaxSeconds: 14 * 86400,
      reuseGraceSeconds: 0,
      revocationCacheSeconds: 0,
      statelessValidation: true,
    })
    expect(parseConfig({ STATELESS_VALIDATION: '0' }).sessions.statelessValidation).toBe(false)
    expect(parseConfig({ STATELESS_VALIDATION: '1' }).sessions.statelessValidation).toBe(true)
  })

  it('refuses bad session settings by name', () => {
    expect(() => parseConfig({ STATELESS_VALIDATION: 'yes please' })).toThrow(
      /STATELESS_VALIDATION/,
    )
    expect(() => parseConfig({ REFRESH_TOKEN_EXPIRE_DAYS: '0' })).toThrow(
      /REFRESH_TOKEN_EXPIRE_DAYS/,
    )
    expect(() => parseConfig({ TOKEN_REVOCATION_CACHE_SECONDS: '-1' })).toThrow(
      /TOKEN_REVOCATION_CACHE_SECONDS/,
    )
    expect(() => parseConfig({ REFRESH_REUSE_GRACE_SECONDS: '1.5' })).toThrow(
      /REFRESH_REUSE_GRACE_SECONDS/,
    )
    expect(() => parseConfig({ REFRESH_TOKEN_EXPIRE_DAYS: '60', SESSION_MAX_DAYS: '30' })).toThrow(
      /SESSION_MAX_DAYS/,
    )
  })

  it('LOG_LEVEL: info by default; debug, info, warn or error; anything else refused by name', () => {
    expect(parseConfig({}).logLevel).toBe('info')
    for (const level of ['debug', 'info', 'warn', 'error']) {
      expect(parseConfig({ LOG_LEVEL: level }).logLevel).toBe(level)
    }
    expect(() => parseConfig({ LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL: expected one of debug/)
  })

  it('treats empty strings as unset', () => {
    expect(parseConfig({ DATABASE_URL: '', PORT: '' }).database.driver).toBe('pglite')
  })
})

describe('cache sizes', () => {
  it('hold 100,000 tokens and accounts by default; TOKEN_CACHE_ENTRIES and TOKEN_REVOCATION_CACHE_ENTRIES set them', () => {
    expect(parseConfig({ JWT_SECRET: SECRET }).caches).toEqual({
      verifiedTokens: 100_000,
      revocationAccounts: 100_000,
    })
    expect(
      parseConfig({
        JWT_SECRET: SECRET,
        TOKEN_CACHE_ENTRIES: '250000',
        TOKEN_REVOCATION_CACHE_ENTRIES: '5000',
      }).caches,
    ).toEqual({ verifiedTokens: 250_000, revocationAccounts: 5000 })
    expect(() => parseConfig({ JWT_SECRET: SECRET, TOKEN_CACHE_ENTRIES: '0' })).toThrow(
      /TOKEN_CACHE_ENTRIES/,
    )
  })
})
