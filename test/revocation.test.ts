/** Units without HTTP: the cut-off rule, the revocation cache, token dating, refresh-token helpers. */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { hashRefreshToken, newRefreshToken, parseRefreshToken } from '../src/auth/refresh'
import {
  createRevocationCheck,
  type HolderKey,
  isCutOff,
  RevocationUnavailableError,
} from '../src/auth/revocation'
import { createTokenService } from '../src/auth/tokens'
import type { TokenHolder } from '../src/db/users'
import { FakeClock, TEST_SECRET } from './support/app'
import { forgeJwt } from './support/jwt'

const T = 1_750_000_000 // seconds
const holder = (tokensValidAfter: Date | null): TokenHolder => ({
  id: 7,
  username: 'alice',
  tokensValidAfter,
})

describe('isCutOff', () => {
  // A token issued an hour into a session that began at T + 0.4 s.
  const ours = { sub: 'alice', uid: 7, iat: T + 3600, auth_ms: T * 1000 + 400, exp: T + 5400 }
  const noMs = { sub: 'alice', uid: 7, iat: T, exp: T + 1800 }
  const python = { sub: 'alice', exp: T + 1800 }

  it.each([
    ['our token, never cut', ours, holder(new Date(0)), false],
    [
      'our token, cut a millisecond before its session',
      ours,
      holder(new Date(T * 1000 + 399)),
      false,
    ],
    ['our token, cut as its session began', ours, holder(new Date(T * 1000 + 400)), true],
    [
      'our token, cut after its session began, before it was issued',
      ours,
      holder(new Date((T + 60) * 1000)),
      true,
    ],
    ['our token, account gone', ours, undefined, true],
    ['our token, another account under its id', { ...ours, sub: 'mallory' }, holder(null), true],
    ['our token, another id', { ...ours, uid: 8 }, holder(null), true],
    ['a token without auth_ms, cut before its iat', noMs, holder(new Date(T * 1000 - 1)), false],
    ['a token without auth_ms, cut within its iat second', noMs, holder(new Date(T * 1000)), true],
    ['a Python token, adopted account never cut', python, holder(null), false],
    ['a Python token, account registered here', python, holder(new Date(0)), true],
    ['a Python token, after a logout', python, holder(new Date(T * 1000)), true],
    ['a Python token, account gone', python, undefined, true],
  ])('%s -> %s', (_case, claims, h, expected) => {
    expect(isCutOff(claims, h)).toBe(expected)
  })
})

describe('createRevocationCheck', () => {
  function setup(cacheSeconds: number, maxEntries?: number) {
    const clock = new FakeClock()
    const loads: HolderKey[] = []
    let state: TokenHolder | undefined = holder(new Date(0))
    let failing = false
    const check = createRevocationCheck({
      cacheSeconds,
      ...(maxEntries === undefined ? {} : { maxEntries }),
      now: clock.now,
      load: async (key) => {
        loads.push(key)
        if (failing) throw new Error('connection refused')
        return state
      },
    })
    const claims = (uid = 7) => ({
      sub: 'alice',
      uid,
      iat: Math.floor(clock.now() / 1000),
      exp: Math.floor(clock.now() / 1000) + 1800,
    })
    return {
      clock,
      loads,
      check,
      claims,
      set: (s: TokenHolder | undefined) => {
        state = s
      },
      fail: (f: boolean) => {
        failing = f
      },
    }
  }

  it('loads an account once per cache period, so most checks make no query', async () => {
    const s = setup(30)
    const c = s.claims()
    for (let i = 0; i < 100; i++) expect(await s.check.isRevoked(c)).toBe(false)
    expect(s.loads).toEqual([{ id: 7 }])
    s.clock.advance(30)
    await s.check.isRevoked(c)
    expect(s.loads).toHaveLength(2)
  })

  it('sees a change only when its entry expires, unless told to forget', async () => {
    const s = setup(30)
    const c = s.claims()
    await s.check.isRevoked(c)
    s.set(holder(new Date(s.clock.now() + 1000)))
    expect(await s.check.isRevoked(c)).toBe(false)
    s.check.forget({ id: 7, username: 'alice' })
    expect(await s.check.isRevoked(c)).toBe(true)
  })

  it('with 0 seconds loads on every check', async () => {
    const s = setup(0)
    for (let i = 0; i < 3; i++) await s.check.isRevoked(s.claims())
    expect(s.loads).toHaveLength(3)
  })

  it('concurrent checks of one account share one load', async () => {
    const s = setup(30)
    await Promise.all(Array.from({ length: 20 }, () => s.check.isRevoked(s.claims())))
    expect(s.loads).toHaveLength(1)
  })

  it('a failed load throws RevocationUnavailableError and is not cached', async () => {
    const s = setup(30)
    s.fail(true)
    await expect(s.check.isRevoked(s.claims())).rejects.toBeInstanceOf(RevocationUnavailableError)
    s.fail(false)
    expect(await s.check.isRevoked(s.claims())).toBe(false)
    expect(s.loads).toHaveLength(2)
  })

  it('remembers a deleted account as gone for the period too', async () => {
    const s = setup(30)
    s.set(undefined)
    expect(await s.check.isRevoked(s.claims())).toBe(true)
    expect(await s.check.isRevoked(s.claims())).toBe(true)
    expect(s.loads).toHaveLength(1)
  })

  it('keeps at most maxEntries accounts, dropping the least recently used', async () => {
    const s = setup(30, 2)
    await s.check.isRevoked(s.claims(1))
    await s.check.isRevoked(s.claims(2))
    await s.check.isRevoked(s.claims(1))
    await s.check.isRevoked(s.claims(3))
    expect(s.loads).toHaveLength(3)
    await s.check.isRevoked(s.claims(1))
    expect(s.loads).toHaveLength(3)
    await s.check.isRevoked(s.claims(2))
    expect(s.loads.map((k) => ('id' in k ? k.id : k.username))).toEqual([1, 2, 3, 2])
  })

  it('looks up tokens without uid by username, case-insensitively', async () => {
    const s = setup(30)
    await s.check.isRevoked({ sub: 'Alice', exp: 1e10 })
    await s.check.isRevoked({ sub: 'alice', exp: 1e10 })
    expect(s.loads).toEqual([{ username: 'Alice' }])
  })

  it('refuses a sub that no stored username can be, without a query', async () => {
    const s = setup(0)
    for (const sub of ['ali\u0000ce', 'ali\ud800ce']) {
      expect(await s.check.isRevoked({ sub, exp: 1e10 })).toBe(true)
    }
    expect(s.loads).toHaveLength(0)
  })

  it('refuses a negative cache time', () => {
    expect(() => createRevocationCheck({ cacheSeconds: -1, load: async () => undefined })).toThrow(
      RangeError,
    )
  })
})

describe('auth_ms: when the session of an access token began', () => {
  const clock = new FakeClock()
  clock.ms = T * 1000 + 400
  const tokens = createTokenService({
    secret: TEST_SECRET,
    accessTokenTtlSeconds: 1800,
    now: clock.now,
  })
  const user = { id: 7, username: 'alice' }

  it('is the given session start, while iat and exp follow the clock', async () => {
    const began = new Date(T * 1000 - 86_400_000 + 123)
    const { token, claims } = await tokens.issueAccessToken({ ...user, sessionStartedAt: began })
    expect(claims).toMatchObject({ iat: T, exp: T + 1800, auth_ms: began.getTime() })
    expect((await tokens.verifyAccessToken(token)).auth_ms).toBe(began.getTime())
  })

  it('defaults to now', async () => {
    const { claims } = await tokens.issueAccessToken(user)
    expect(claims.auth_ms).toBe(T * 1000 + 400)
  })

  it.each([-1, 1.5, '1750000000000', null])('a token with auth_ms %j is refused', async (value) => {
    const { token } = await tokens.issueAccessToken(user)
    const [h, p] = token.split('.') as [string, string]
    const payload = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), auth_ms: value }
    const forged = forgeJwt(
      JSON.parse(Buffer.from(h, 'base64url').toString()),
      payload,
      TEST_SECRET,
    )
    await expect(tokens.verifyAccessToken(forged)).rejects.toThrow(/claims/)
  })
})

describe('refresh tokens', () => {
  const family = crypto.randomUUID()

  it('carry their family, then 256 random bits: 22 + 1 + 43 base64url characters, all different', () => {
    const seen = new Set(Array.from({ length: 1000 }, () => newRefreshToken(family)))
    expect(seen.size).toBe(1000)
    for (const token of seen) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/)
      expect(parseRefreshToken(token)).toEqual({ familyId: family })
      expect(Buffer.from(token.split('.')[1] as string, 'base64url')).toHaveLength(32)
    }
  })

  it('tokens of the earlier format (43 characters, no family) are still read', () => {
    expect(parseRefreshToken(Buffer.alloc(32, 7).toString('base64url'))).toEqual({
      familyId: undefined,
    })
  })

  it('refuses to make a token for something that is not a UUID', () => {
    expect(() => newRefreshToken('not-a-uuid')).toThrow(RangeError)
  })

  it('are stored as their SHA-256 in hex, the same with node:crypto and with crypto.subtle', async () => {
    const token = newRefreshToken(family)
    const expected = createHash('sha256').update(token).digest('hex')
    expect(await hashRefreshToken(token)).toBe(expected)
    expect(await hashRefreshToken(token, null)).toBe(expected)
  })

  it.each([
    '',
    'short',
    `${'A'.repeat(43)}=`,
    `${'A'.repeat(42)}+`,
    'A'.repeat(44),
    `${'A'.repeat(22)}${'A'.repeat(43)}`,
    `${'A'.repeat(21)}.${'A'.repeat(43)}`,
    // 22 characters carry 132 bits: only the canonical encoding of 16 bytes is accepted.
    `${'A'.repeat(21)}B.${'A'.repeat(43)}`,
    `${'A'.repeat(22)}.${'A'.repeat(42)}`,
    `${'A'.repeat(22)}.${'A'.repeat(43)}.`,
  ])('refuses the shape of %j', (value) => {
    expect(parseRefreshToken(value)).toBeUndefined()
  })
})
