/**
 * The metrics recorder (prom-client) and what the app records through it, in process: route
 * templates as labels, throttle blocks (logins and the refresh grant's per-session limit), database
 * errors, and `/metrics` off (404) by default.
 */
import { DrizzleQueryError } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, createAppFromConfig } from '../src/app'
import { createPasswordHasher } from '../src/auth/password'
import { createTokenService } from '../src/auth/tokens'
import { ConfigError, parseConfig } from '../src/config'
import type { Database, DatabaseHandle } from '../src/db/client'
import { createPrometheusMetrics } from '../src/entry/prometheus'
import { createLogger } from '../src/logger'
import { methodLabel } from '../src/metrics'
import {
  CONTRACT_ADMIN_KEY,
  CONTRACT_ENV,
  CONTRACT_REFRESH_MAX,
  type ContractTarget,
  client,
  expect429,
  logIn,
  registerUser,
  rotate,
} from './contract/target'
import { FAST_ARGON2, TEST_SECRET } from './support/app'
import {
  expectMovedCounters,
  loginsAndValidation,
  sample,
  scrape,
  TEST_METRICS_TOKEN,
} from './support/metrics'
import { openMigratedPglite } from './support/pglite'

describe('createPrometheusMetrics', () => {
  it('exposes each recorded event under its name and labels, with process memory', async () => {
    const metrics = createPrometheusMetrics()
    metrics.requestDone('/admin/users/:id', 'GET', 200, 0.003)
    metrics.requestDone('/admin/users/:id', 'GET', 200, 0.2)
    metrics.requestDone('/validate', 'BREW', 405, 0.001)
    metrics.login('success')
    metrics.login('throttled')
    metrics.login('throttled')
    metrics.throttleBlock('loginAccount')
    metrics.validation('invalid')
    metrics.dbError()
    metrics.hashTiming('verify', 0.04)
    const { contentType, body } = await metrics.exposition()
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    const users = { route: '/admin/users/:id', method: 'GET' }
    expect(sample(body, 'edge_auth_http_requests_total', { ...users, status: '200' })).toBe(2)
    expect(sample(body, 'edge_auth_http_requests_total', { method: 'OTHER', status: '405' })).toBe(
      1,
    )
    expect(sample(body, 'edge_auth_http_request_duration_seconds_count', users)).toBe(2)
    expect(sample(body, 'edge_auth_http_request_duration_seconds_sum', users)).toBeCloseTo(0.203)
    expect(
      sample(body, 'edge_auth_http_request_duration_seconds_bucket', { ...users, le: '0.005' }),
    ).toBe(1)
    expect(
      sample(body, 'edge_auth_http_request_duration_seconds_bucket', { ...users, le: '0.25' }),
    ).toBe(2)
    expect(sample(body, 'edge_auth_logins_total', { outcome: 'success' })).toBe(1)
    expect(sample(body, 'edge_auth_logins_total', { outcome: 'throttled' })).toBe(2)
    expect(sample(body, 'edge_auth_throttle_blocks_total', { scope: 'loginAccount' })).toBe(1)
    expect(sample(body, 'edge_auth_token_validations_total', { outcome: 'invalid' })).toBe(1)
    expect(sample(body, 'edge_auth_database_errors_total')).toBe(1)
    expect(
      sample(body, 'edge_auth_password_hash_duration_seconds_count', { operation: 'verify' }),
    ).toBe(1)
    expect(sample(body, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  })

  it('keeps each recorder apart (no global registry)', async () => {
    const one = createPrometheusMetrics()
    const other = createPrometheusMetrics()
    one.dbError()
    expect(sample((await other.exposition()).body, 'edge_auth_database_errors_total')).toBe(0)
  })

  it('labels only known methods by name', () => {
    expect(methodLabel('POST')).toBe('POST')
    expect(methodLabel('PROPFIND')).toBe('OTHER')
  })
})

describe('the app with metrics on (in process)', () => {
  let handle: DatabaseHandle
  let target: ContractTarget
  beforeAll(async () => {
    handle = await openMigratedPglite()
    const app = await createAppFromConfig(
      parseConfig({
        ...CONTRACT_ENV,
        DATABASE_URL: 'memory://',
        METRICS_TOKEN: TEST_METRICS_TOKEN,
      }),
      {
        db: handle.db,
        logger: createLogger(() => {}),
        clientAddress: () => '127.0.0.1',
        metrics: createPrometheusMetrics(),
      },
    )
    target = {
      name: 'in process',
      fetch: async (path, init) => app.request(path, init),
      logs: () => '',
    }
  })
  afterAll(() => handle?.close())
  const exposition = async () => await (await scrape(() => target, TEST_METRICS_TOKEN)).text()

  it('counts logins, validations, requests and hashes', async () => {
    const username = await loginsAndValidation(() => target)
    expectMovedCounters(await exposition(), username)
  })

  it('labels requests by route template, never by the path sent', async () => {
    await target.fetch('/validate/private/user-42/secret-path', { method: 'GET' })
    await target.fetch('/admin/users/123456789', {
      headers: { authorization: `Bearer ${CONTRACT_ADMIN_KEY}` },
    })
    await target.fetch('/no/such/path-with-a-token-in-it')
    const body = await exposition()
    expect(
      sample(body, 'edge_auth_http_requests_total', { route: '/validate/*', status: '401' }),
    ).toBe(1)
    expect(
      sample(body, 'edge_auth_token_validations_total', { outcome: 'missing' }),
    ).toBeGreaterThanOrEqual(1)
    expect(
      sample(body, 'edge_auth_http_requests_total', { route: '/admin/users/:id', status: '404' }),
    ).toBe(1)
    expect(
      sample(body, 'edge_auth_http_requests_total', { route: 'unmatched', status: '404' }),
    ).toBe(1)
    expect(body).not.toMatch(/private|123456789|path-with|eak_/)
  })

  it('counts throttle blocks and throttled logins', async () => {
    const username = await loginsAndValidation(() => target)
    // THROTTLE_LOGIN_ACCOUNT_MAX is 5: one wrong password so far, four more, then a refusal.
    for (let i = 0; i < 5; i++) {
      await target.fetch('/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password: 'wrong password again' }).toString(),
      })
    }
    const body = await exposition()
    expect(
      sample(body, 'edge_auth_throttle_blocks_total', { scope: 'loginAccount' }),
    ).toBeGreaterThanOrEqual(1)
    expect(sample(body, 'edge_auth_logins_total', { outcome: 'throttled' })).toBeGreaterThanOrEqual(
      1,
    )
  })

  it('counts each refresh the per-session limit refuses as a block of scope refreshFamily', async () => {
    const blocks = (body: string, scope: string) =>
      sample(body, 'edge_auth_throttle_blocks_total', { scope }) ?? 0
    const { username } = await registerUser(() => target, 'metrics-refresh')
    let current = (await logIn(() => target, username)).refresh
    for (let i = 0; i < CONTRACT_REFRESH_MAX; i++)
      current = (await rotate(() => target, current)).refresh
    const before = await exposition()
    // THROTTLE_REFRESH_MAX refreshes so far: the next two are refused (the token stays usable).
    await expect429(await client(() => target).refresh(current))
    await expect429(await client(() => target).refresh(current))
    const after = await exposition()
    expect(blocks(after, 'refreshFamily')).toBe(blocks(before, 'refreshFamily') + 2)
    // A refresh block is no login block.
    expect(blocks(after, 'loginAccount')).toBe(blocks(before, 'loginAccount'))
    expect(blocks(after, 'loginAddress')).toBe(blocks(before, 'loginAddress'))
  })
})

/** A database on which every query fails as an unreachable server does. */
function unreachableDb(): Database {
  const outage = new DrizzleQueryError(
    'select 1',
    [],
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
  )
  const proxy: unknown = new Proxy(() => {}, {
    get: (_target, prop) =>
      prop === 'then'
        ? (_resolve: unknown, reject: (e: unknown) => void) => reject(outage)
        : () => proxy,
  })
  return proxy as Database
}

describe('database errors', () => {
  it('counts a request answered 503 because the database is unavailable', async () => {
    const metrics = createPrometheusMetrics()
    const app = createApp({
      db: unreachableDb(),
      passwords: createPasswordHasher({ params: FAST_ARGON2 }),
      tokens: createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 600 }),
      logger: createLogger(() => {}),
      metrics,
      metricsToken: TEST_METRICS_TOKEN,
    })
    const res = await app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=someone&password=whatever-password',
    })
    expect(res.status).toBe(503)
    const { body } = await metrics.exposition()
    expect(sample(body, 'edge_auth_database_errors_total')).toBe(1)
    expect(sample(body, 'edge_auth_http_requests_total', { route: '/token', status: '503' })).toBe(
      1,
    )
  })
})

describe('METRICS_TOKEN', () => {
  it('unset: /metrics answers 404, as any unknown path', async () => {
    const handle = await openMigratedPglite()
    try {
      const app = await createAppFromConfig(
        parseConfig({ ...CONTRACT_ENV, DATABASE_URL: 'memory://' }),
        {
          db: handle.db,
          logger: createLogger(() => {}),
        },
      )
      for (const token of [undefined, TEST_METRICS_TOKEN]) {
        const res = await app.request('/metrics', {
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        })
        expect(res.status).toBe(404)
        expect(await res.json()).toEqual({ detail: 'Not Found' })
      }
    } finally {
      await handle.close()
    }
  })

  it('set where nothing records (a Worker): /metrics answers 404, not an empty page', async () => {
    const app = createApp({
      db: unreachableDb(),
      passwords: createPasswordHasher({ params: FAST_ARGON2 }),
      tokens: createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 600 }),
      logger: createLogger(() => {}),
      metricsToken: TEST_METRICS_TOKEN,
    })
    const res = await app.request('/metrics', {
      headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` },
    })
    expect(res.status).toBe(404)
  })

  it('must be at least 32 characters, and the error does not show it', () => {
    const short = 'too-short-metrics-token'
    const parse = () => parseConfig({ ...CONTRACT_ENV, METRICS_TOKEN: short })
    expect(parse).toThrow(ConfigError)
    expect(parse).toThrow(/METRICS_TOKEN/)
    try {
      parse()
    } catch (error) {
      expect(String(error)).not.toContain(short)
    }
    expect(parseConfig({ ...CONTRACT_ENV, METRICS_TOKEN: TEST_METRICS_TOKEN }).metricsToken).toBe(
      TEST_METRICS_TOKEN,
    )
    expect(parseConfig({ ...CONTRACT_ENV, METRICS_TOKEN: '' }).metricsToken).toBeUndefined()
  })
})
