/**
 * Sessions in process, where the clock can move or the settings differ from the contract
 * servers': refresh-token and session lifetimes (days, on a fake clock), a grace window of 0, and
 * the refresh limit's window.
 * Every other session flow (rotation, reuse detection after the grace window, concurrent
 * refreshes, /revoke, /logout, /me, password change, deletion) is in the HTTP contract suite
 * (test/contract/sessions.ts, test/contract/account.ts), which runs on every runtime and driver.
 * DB-level checks live in test/sessions-db.test.ts, the per-process revocation cache in
 * test/revocation-cache.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_SECURITY } from '../src/config'
import { makeTestApp, type TestApp } from './support/app'

const DAY = 24 * 60 * 60
const password = 'correct horse battery staple'

let counter = 0
const uniqueName = (prefix: string) =>
  `${prefix}${++counter}_${Math.random().toString(36).slice(2, 8)}`

interface Session {
  username: string
  id: number
  access: string
  refresh: string
}

/** Registers a fresh user and logs in once. */
async function newSession(t: TestApp, prefix = 'sess'): Promise<Session> {
  const username = uniqueName(prefix)
  const registered = await t.register({ name: 'Session User', username, password })
  expect(registered.status).toBe(201)
  const { id } = await registered.json()
  return { username, id, ...(await logIn(t, username)) }
}

async function logIn(t: TestApp, username: string, pw = password) {
  const res = await t.login({ username, password: pw })
  expect(res.status).toBe(200)
  const body = await res.json()
  return { access: body.access_token as string, refresh: body.refresh_token as string }
}

async function rotate(t: TestApp, refreshToken: string) {
  const res = await t.refresh(refreshToken)
  expect(res.status).toBe(200)
  const body = await res.json()
  return { access: body.access_token as string, refresh: body.refresh_token as string }
}

async function expectInvalidGrant(res: Response) {
  expect(res.status).toBe(400)
  expect(res.headers.get('cache-control')).toBe('no-store')
  expect(await res.json()).toEqual({
    error: 'invalid_grant',
    error_description: expect.any(String),
    detail: expect.any(String),
  })
}

const validates = async (t: TestApp, access: string) =>
  (await t.validate(`Bearer ${access}`)).status === 200

describe('with no grace window (REFRESH_REUSE_GRACE_SECONDS=0)', () => {
  let c: TestApp
  beforeAll(async () => {
    c = await makeTestApp({ sessions: { reuseGraceSeconds: 0 } })
  })
  afterAll(() => c.close())

  it('an honest concurrent refresh counts as reuse: one wins, then the family is revoked', async () => {
    const s = await newSession(c, 'nograce')
    const responses = await Promise.all([c.refresh(s.refresh), c.refresh(s.refresh)])
    const winner = responses.find((r) => r.status === 200)
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
    const { refresh_token } = await (winner as Response).json()
    await expectInvalidGrant(await c.refresh(refresh_token))
  })
})

describe('lifetimes (moves the clock)', () => {
  let c: TestApp
  beforeAll(async () => {
    c = await makeTestApp({
      sessions: { refreshTokenTtlSeconds: 30 * DAY, sessionMaxSeconds: 90 * DAY },
    })
  })
  afterAll(() => c.close())

  it('a refresh token unused for REFRESH_TOKEN_EXPIRE_DAYS expires', async () => {
    const s = await newSession(c, 'idle')
    c.clock.advance(30 * DAY - 60)
    const next = await rotate(c, s.refresh)
    c.clock.advance(30 * DAY)
    await expectInvalidGrant(await c.refresh(next.refresh))
  })

  it('rotation slides the expiry, but never past SESSION_MAX_DAYS after the login', async () => {
    const s = await newSession(c, 'absolute')
    let current = s.refresh
    for (let i = 0; i < 3; i++) {
      c.clock.advance(25 * DAY)
      current = (await rotate(c, current)).refresh
    }
    c.clock.advance(15 * DAY + 1)
    await expectInvalidGrant(await c.refresh(current))
    expect((await c.login({ username: s.username, password })).status).toBe(200)
  })

  it('the access token of a refresh expires after ACCESS_TOKEN_EXPIRE_MINUTES', async () => {
    const s = await newSession(c, 'access')
    const next = await rotate(c, s.refresh)
    c.clock.advance(1801)
    expect(await validates(c, next.access)).toBe(false)
    expect((await c.refresh(next.refresh)).status).toBe(200)
  })
})

describe('refresh limit per session (THROTTLE_REFRESH_MAX per THROTTLE_REFRESH_WINDOW_SECONDS)', () => {
  let c: TestApp
  beforeAll(async () => {
    c = await makeTestApp({
      security: {
        ...DEFAULT_SECURITY,
        throttle: {
          ...DEFAULT_SECURITY.throttle,
          refreshFamily: { max: 3, windowSeconds: 60, lockoutSeconds: 60 },
        },
      },
    })
  })
  afterAll(() => c.close())

  it('one refresh over the limit: 429 with Retry-After and {"detail"}, the token is not used up, and works once the block ends', async () => {
    const s = await newSession(c, 'limit')
    let current = s.refresh
    for (let i = 0; i < 3; i++) current = (await rotate(c, current)).refresh
    c.clock.advance(10)
    const refused = await c.refresh(current)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('60')
    expect(refused.headers.get('cache-control')).toBe('no-store')
    expect(await refused.json()).toEqual({ detail: expect.any(String) })
    c.clock.advance(30)
    const still = await c.refresh(current)
    expect(still.status).toBe(429)
    expect(still.headers.get('retry-after')).toBe('30')
    expect(c.logs.filter((l) => l.includes('"excess_rate_limit_exceeded"'))).toHaveLength(1)
    c.clock.advance(30)
    const next = await rotate(c, current)
    expect(await validates(c, next.access)).toBe(true)
  })

  it('counts per session: another session of the same user refreshes meanwhile', async () => {
    const s = await newSession(c, 'limit2')
    const other = await logIn(c, s.username)
    let current = s.refresh
    for (let i = 0; i < 3; i++) current = (await rotate(c, current)).refresh
    expect((await c.refresh(current)).status).toBe(429)
    expect((await c.refresh(other.refresh)).status).toBe(200)
  })

  it('MAX=0 turns the limit off', async () => {
    const off = await makeTestApp({
      security: {
        ...DEFAULT_SECURITY,
        throttle: {
          ...DEFAULT_SECURITY.throttle,
          refreshFamily: { max: 0, windowSeconds: 60, lockoutSeconds: 60 },
        },
      },
    })
    try {
      const s = await newSession(off, 'nolimit')
      let current = s.refresh
      for (let i = 0; i < 40; i++) current = (await rotate(off, current)).refresh
      expect(await off.query('select key from auth_throttle')).toEqual([])
    } finally {
      await off.close()
    }
  })
})
