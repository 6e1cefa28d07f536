/**
 * Reading a Prometheus text exposition in tests, and the requests the metrics tests make on any
 * target: a registration, a login, a failed login and a `/validate`.
 */
import { expect } from 'vitest'
import { client, PASSWORD, registerUser, type TargetRef } from '../contract/target'

/** A METRICS_TOKEN for tests (at least 32 characters). */
export const TEST_METRICS_TOKEN = 'metrics-token-0123456789abcdef0123456789abcdef'

/**
 * The value of the sample `name` whose labels include `labels` (summed over the others), or
 * undefined when no such sample is in `exposition`.
 */
export function sample(
  exposition: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let total: number | undefined
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = new Map(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    )
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) {
      total = (total ?? 0) + Number(match[3])
    }
  }
  return total
}

/** `GET /metrics`, with `Authorization: Bearer <token>` when a token is given. */
export function scrape(target: TargetRef, token?: string): Promise<Response> {
  return target().fetch('/metrics', {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
}

/** Registers a user, logs in once rightly and once wrongly, validates the token; returns the username. */
export async function loginsAndValidation(target: TargetRef): Promise<string> {
  const { username } = await registerUser(target, 'metrics')
  const calls = client(target)
  const good = await calls.login({ username, password: PASSWORD })
  expect(good.status).toBe(200)
  const { access_token } = (await good.json()) as { access_token: string }
  const bad = await calls.login({ username, password: `${PASSWORD}!` })
  expect(bad.status).toBe(401)
  expect((await calls.validate(`Bearer ${access_token}`)).status).toBe(200)
  return username
}

/** What a scrape after {@link loginsAndValidation} shows, on any runtime. */
export function expectMovedCounters(exposition: string, username: string): void {
  expect(
    sample(exposition, 'edge_auth_logins_total', { outcome: 'success' }),
  ).toBeGreaterThanOrEqual(1)
  expect(
    sample(exposition, 'edge_auth_logins_total', { outcome: 'bad_credentials' }),
  ).toBeGreaterThanOrEqual(1)
  expect(
    sample(exposition, 'edge_auth_token_validations_total', { outcome: 'valid' }),
  ).toBeGreaterThanOrEqual(1)
  expect(
    sample(exposition, 'edge_auth_http_requests_total', {
      route: '/validate',
      method: 'POST',
      status: '200',
    }),
  ).toBeGreaterThanOrEqual(1)
  expect(
    sample(exposition, 'edge_auth_http_requests_total', { route: '/token', status: '401' }),
  ).toBeGreaterThanOrEqual(1)
  expect(
    sample(exposition, 'edge_auth_http_request_duration_seconds_count', {
      route: '/token',
      method: 'POST',
    }),
  ).toBeGreaterThanOrEqual(2)
  expect(
    sample(exposition, 'edge_auth_http_request_duration_seconds_bucket', {
      route: '/validate',
      method: 'POST',
      le: '+Inf',
    }),
  ).toBeGreaterThanOrEqual(1)
  // A registration's hash, then two verifies (the right and the wrong password).
  expect(
    sample(exposition, 'edge_auth_password_hash_duration_seconds_count', { operation: 'hash' }),
  ).toBeGreaterThanOrEqual(1)
  expect(
    sample(exposition, 'edge_auth_password_hash_duration_seconds_count', { operation: 'verify' }),
  ).toBeGreaterThanOrEqual(2)
  expect(sample(exposition, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  expect(exposition).not.toContain(username)
}
