/**
 * `GET /metrics` on real servers: `bun run start` and `bun run start:node` with METRICS_TOKEN,
 * scraped by token after a login, a failed login and a `/validate`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ContractTarget, loginToken, registerUser } from './contract/target'
import { bunServer, nodeServer, type RunningLeg } from './support/legs'
import {
  expectMovedCounters,
  loginsAndValidation,
  sample,
  scrape,
  TEST_METRICS_TOKEN,
} from './support/metrics'

const servers = [
  ['Bun', bunServer],
  ['Node', nodeServer],
] as const

describe.each(servers)('GET /metrics on %s', (runtime, start) => {
  let leg: RunningLeg
  const target = (): ContractTarget => leg.target
  beforeAll(async () => {
    leg = await start(`metrics ${runtime}`, {
      DATABASE_URL: 'memory://',
      METRICS_TOKEN: TEST_METRICS_TOKEN,
    })
  })
  afterAll(() => leg?.stop())

  it('counts logins, validations, requests and hash timings, scraped with the token', async () => {
    const before = await (await scrape(target, TEST_METRICS_TOKEN)).text()
    const username = await loginsAndValidation(target)
    const res = await scrape(target, TEST_METRICS_TOKEN)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const after = await res.text()
    expectMovedCounters(after, username)
    const valid = { outcome: 'valid' }
    expect(sample(after, 'edge_auth_token_validations_total', valid)).toBe(
      (sample(before, 'edge_auth_token_validations_total', valid) ?? 0) + 1,
    )
    // The first scrape was counted too, under its route's template.
    expect(
      sample(after, 'edge_auth_http_requests_total', { route: '/metrics', status: '200' }),
    ).toBeGreaterThanOrEqual(1)
  })

  it('counts a token presented again as any other check (answered before routing)', async () => {
    const { username } = await registerUser(target, 'again')
    const accessToken = await loginToken(target, username)
    const check = (method: string) =>
      target().fetch('/validate', { method, headers: { authorization: `Bearer ${accessToken}` } })
    expect((await check('POST')).status).toBe(200)
    const before = await (await scrape(target, TEST_METRICS_TOKEN)).text()
    for (const method of ['POST', 'POST', 'GET']) expect((await check(method)).status).toBe(200)
    const after = await (await scrape(target, TEST_METRICS_TOKEN)).text()
    const moved = (name: string, labels: Record<string, string>) =>
      (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0)
    expect(moved('edge_auth_token_validations_total', { outcome: 'valid' })).toBe(3)
    const validate = { route: '/validate', status: '200' }
    expect(moved('edge_auth_http_requests_total', { ...validate, method: 'POST' })).toBe(2)
    expect(moved('edge_auth_http_requests_total', { ...validate, method: 'GET' })).toBe(1)
  })

  it('answers 401 without the token or with a wrong one, and shows nothing', async () => {
    for (const token of [undefined, `${TEST_METRICS_TOKEN}x`, 'short']) {
      const res = await scrape(target, token)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(await res.text()).not.toContain('edge_auth_')
    }
  })
})
