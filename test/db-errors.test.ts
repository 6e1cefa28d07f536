import { DrizzleQueryError } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { createApp } from '../src/app'
import { createPasswordHasher } from '../src/auth/password'
import type { SessionOptions } from '../src/auth/sessions'
import { createTokenService } from '../src/auth/tokens'
import { DEFAULT_SECURITY } from '../src/config'
import type { Database } from '../src/db/client'
import { databaseUnavailableCode } from '../src/db/errors'
import { createLogger } from '../src/logger'
import { FAST_ARGON2, TEST_SECRET } from './support/app'

const withCode = (code: string, message = 'boom', name = 'Error') =>
  Object.assign(new Error(message), { code, name })
const wrapped = (cause: unknown) => new DrizzleQueryError('select 1', [], cause as Error)

describe('databaseUnavailableCode', () => {
  it.each([
    ['postgres.js connect timeout', withCode('CONNECT_TIMEOUT'), 'CONNECT_TIMEOUT'],
    ['a refused connection, wrapped by drizzle', wrapped(withCode('ECONNREFUSED')), 'ECONNREFUSED'],
    ['a closed connection', wrapped(withCode('CONNECTION_CLOSED')), 'CONNECTION_CLOSED'],
    ['admin shutdown (57P01)', wrapped(withCode('57P01', 'terminating', 'PostgresError')), '57P01'],
    ['the database starting up (57P03)', withCode('57P03'), '57P03'],
    ['statement timeout (57014)', wrapped(withCode('57014')), '57014'],
    ['too many connections (53300)', withCode('53300'), '53300'],
    ['connection failure (08006)', withCode('08006'), '08006'],
    ['a deadlock (40P01)', withCode('40P01'), '40P01'],
    [
      "Neon's HTTP driver failing to fetch",
      wrapped(Object.assign(new Error('Error connecting to database'), { name: 'NeonDbError' })),
      'neon_unreachable',
    ],
  ])('%s -> %s', (_case, error, code) => {
    expect(databaseUnavailableCode(error)).toBe(code)
  })

  it.each([
    ['a unique violation', wrapped(withCode('23505'))],
    ['a syntax error', wrapped(withCode('42601'))],
    [
      'a Neon SQL error (has a SQLSTATE)',
      Object.assign(withCode('42P01'), { name: 'NeonDbError' }),
    ],
    ['a plain error', new Error('x')],
    ['a string', 'ECONNREFUSED'],
    ['undefined', undefined],
  ])('%s -> not an outage', (_case, error) => {
    expect(databaseUnavailableCode(error)).toBeUndefined()
  })
})

/** A stand-in database on which every query settles with `outcome` (or never settles). */
function fakeDb(outcome: 'hang' | unknown): Database {
  const proxy: unknown = new Proxy(() => {}, {
    get: (_target, prop) =>
      prop === 'then'
        ? (_resolve: unknown, reject: (e: unknown) => void) => {
            if (outcome !== 'hang') reject(outcome)
          }
        : () => proxy,
  })
  return proxy as Database
}

async function appOn(
  db: Database,
  security: Partial<typeof DEFAULT_SECURITY> = {},
  sessions: Partial<SessionOptions> = {},
) {
  const logs: string[] = []
  const tokens = createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 600 })
  const app = createApp({
    db,
    passwords: createPasswordHasher({ params: FAST_ARGON2 }),
    tokens,
    logger: createLogger((line) => logs.push(line)),
    security: { ...DEFAULT_SECURITY, ...security },
    sessions,
  })
  const token = (await tokens.issueAccessToken({ id: 1, username: 'still_valid' })).token
  return { app, logs, token }
}

const register = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'N', username: 'nobody_new', password: 'correct horse battery' }),
}
const login = {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: 'username=someone&password=whatever-password',
}

describe('when the database is unavailable', () => {
  const outage = wrapped(
    Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432 password=hunter2'), {
      code: 'ECONNREFUSED',
    }),
  )

  it('answers 503 {"detail"} on every route that needs it, with nothing of the error in it', async () => {
    const { app, logs } = await appOn(fakeDb(outage))
    for (const [path, init] of [
      ['/register', register],
      ['/token', login],
      ['/readyz', { method: 'GET' }],
    ] as const) {
      const res = await app.request(path, init)
      expect(res.status).toBe(503)
      const text = await res.text()
      expect(JSON.parse(text)).toEqual({ detail: expect.any(String) })
      expect(text).not.toMatch(/ECONNREFUSED|10\.1\.2\.3|hunter2|select/)
    }
    const logged = logs.join('\n')
    expect(logged).toContain('"event":"db_unavailable"')
    expect(logged).toContain('"code":"ECONNREFUSED"')
    expect(logged).not.toMatch(/10\.1\.2\.3|hunter2/)
  })

  it('still answers what needs no database: /healthz, and /validate in stateless mode', async () => {
    const { app, token } = await appOn(fakeDb(outage), {}, { statelessValidation: true })
    expect((await app.request('/healthz')).status).toBe(200)
    const res = await app.request('/validate', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(res.status).toBe(200)
  })

  it('/validate fails closed (503) when the revocation check needs the database', async () => {
    const { app, token } = await appOn(fakeDb(outage))
    const res = await app.request('/validate', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ detail: expect.any(String) })
  })

  it('a programming error stays a generic 500 that reveals nothing', async () => {
    const bug = wrapped(withCode('42601', 'syntax error near "hunter2"'))
    const { app, logs } = await appOn(fakeDb(bug))
    const res = await app.request('/token', login)
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ detail: 'Internal Server Error' })
    expect(logs.join('\n')).toContain('"event":"unhandled_error"')
    expect(logs.join('\n')).not.toContain('hunter2')
  })
})

describe('when the database hangs', () => {
  it('a request gets a 503 at the request deadline, not a hang', async () => {
    const { app, logs } = await appOn(fakeDb('hang'), { requestTimeoutMs: 300 })
    const started = performance.now()
    const res = await app.request('/token', login)
    const elapsed = performance.now() - started
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ detail: 'Service temporarily unavailable' })
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(elapsed).toBeGreaterThanOrEqual(290)
    expect(elapsed).toBeLessThan(3000)
    expect(logs.join('\n')).toContain('"event":"request_timeout"')
  })

  it('the readiness probe gives up at its own, shorter deadline', async () => {
    const { app } = await appOn(fakeDb('hang'), { readyTimeoutMs: 150, requestTimeoutMs: 5000 })
    const started = performance.now()
    const res = await app.request('/readyz')
    expect(res.status).toBe(503)
    expect(performance.now() - started).toBeLessThan(3000)
    expect(await res.json()).toEqual({ detail: 'Database unavailable' })
  })
})
