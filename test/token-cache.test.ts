import { describe, expect, it } from 'vitest'
import { createVerifiedTokenCache } from '../src/auth/token-cache'
import {
  type AccessClaims,
  createTokenService,
  InvalidTokenError,
  type TokenService,
} from '../src/auth/tokens'
import { FakeClock, TEST_SECRET } from './support/app'
import { forgeJwt } from './support/jwt'

/** A real token service on a fake clock, with its verifications counted. */
function setup(options: { ttlSeconds?: number; maxEntries?: number; maxAgeSeconds?: number } = {}) {
  const clock = new FakeClock()
  const inner = createTokenService({
    secret: TEST_SECRET,
    accessTokenTtlSeconds: options.ttlSeconds ?? 1800,
    now: clock.now,
  })
  let verifications = 0
  const counted: TokenService = {
    ...inner,
    verifyAccessToken: (token) => {
      verifications++
      return inner.verifyAccessToken(token)
    },
  }
  const cache = createVerifiedTokenCache(counted, {
    now: clock.now,
    ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }),
    ...(options.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: options.maxAgeSeconds }),
  })
  const issue = async (username = 'alice') =>
    (await cache.issueAccessToken({ id: 1, username })).token
  return { clock, cache, issue, verifications: () => verifications }
}

async function reasonOf(promise: Promise<AccessClaims>): Promise<string> {
  try {
    await promise
    return 'accepted'
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason
    throw error
  }
}

describe('createVerifiedTokenCache', () => {
  it('verifies a token once, then answers from memory with the same claims', async () => {
    const { cache, issue, verifications } = setup()
    const token = await issue()
    const first = await cache.verifyAccessToken(token)
    const again = await cache.verifyAccessToken(token)
    expect(again).toEqual(first)
    expect(first).toMatchObject({ sub: 'alice', uid: 1 })
    expect(verifications()).toBe(1)
    expect(cache.size).toBe(1)
  })

  it('hands out frozen claims, so no caller can change what the next one sees', async () => {
    const { cache, issue } = setup()
    const token = await issue()
    const claims = await cache.verifyAccessToken(token)
    expect(Object.isFrozen(claims)).toBe(true)
    expect(() => {
      ;(claims as { sub: string }).sub = 'mallory'
    }).toThrow(TypeError)
    expect((await cache.verifyAccessToken(token)).sub).toBe('alice')
  })

  it('refuses a held token once it has expired (fake clock), and forgets it', async () => {
    const { cache, clock, issue } = setup({ ttlSeconds: 600, maxAgeSeconds: 3600 })
    const token = await issue()
    await cache.verifyAccessToken(token)
    clock.advance(599)
    expect(await reasonOf(cache.verifyAccessToken(token))).toBe('accepted')
    clock.advance(1)
    expect(await reasonOf(cache.verifyAccessToken(token))).toBe('expired')
    expect(cache.size).toBe(0)
  })

  it('verifies a held token again in full after maxAgeSeconds', async () => {
    const { cache, clock, issue, verifications } = setup({ maxAgeSeconds: 60 })
    const token = await issue()
    await cache.verifyAccessToken(token)
    clock.advance(59)
    await cache.verifyAccessToken(token)
    expect(verifications()).toBe(1)
    clock.advance(1)
    await cache.verifyAccessToken(token)
    expect(verifications()).toBe(2)
  })

  it('distrusts an entry when the clock is set back before it was verified', async () => {
    const { cache, clock, issue, verifications } = setup()
    const token = await issue()
    await cache.verifyAccessToken(token)
    clock.advance(-1)
    await cache.verifyAccessToken(token)
    expect(verifications()).toBe(2)
  })

  it('never holds a failure: a bad token is refused every time, by the wrapped service', async () => {
    const { cache, issue, verifications } = setup()
    const good = await issue()
    const [header, payload] = good.split('.')
    const tampered = `${header}.${payload}.${'A'.repeat(43)}`
    expect(await reasonOf(cache.verifyAccessToken(tampered))).toBe('signature')
    expect(await reasonOf(cache.verifyAccessToken(tampered))).toBe('signature')
    expect(verifications()).toBe(2)
    expect(cache.size).toBe(0)
  })

  it('a held token does not vouch for another string that differs from it', async () => {
    const { cache, issue } = setup()
    const token = await issue()
    await cache.verifyAccessToken(token)
    const forged = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'alice', exp: 4_102_444_800 },
      'not-the-secret',
    )
    for (const other of [`${token}x`, token.slice(0, -1), ` ${token}`, forged]) {
      expect(await reasonOf(cache.verifyAccessToken(other))).not.toBe('accepted')
    }
  })

  it('holds at most maxEntries tokens, evicting the oldest first', async () => {
    const { cache, issue, verifications } = setup({ maxEntries: 3 })
    const tokens = [await issue('u0'), await issue('u1'), await issue('u2'), await issue('u3')]
    for (const token of tokens) await cache.verifyAccessToken(token)
    expect(cache.size).toBe(3)
    expect(verifications()).toBe(4)
    await cache.verifyAccessToken(tokens[3] as string)
    await cache.verifyAccessToken(tokens[1] as string)
    expect(verifications()).toBe(4)
    await cache.verifyAccessToken(tokens[0] as string)
    expect(verifications()).toBe(5)
    expect(cache.size).toBe(3)
  })

  it('verifies long tokens every time and never holds them', async () => {
    const clock = new FakeClock()
    const inner = createTokenService({
      secret: TEST_SECRET,
      accessTokenTtlSeconds: 1800,
      now: clock.now,
    })
    const cache = createVerifiedTokenCache(inner, { now: clock.now, maxTokenLength: 100 })
    const { token } = await inner.issueAccessToken({ id: 1, username: 'alice' })
    expect(token.length).toBeGreaterThan(100)
    expect((await cache.verifyAccessToken(token)).sub).toBe('alice')
    expect(cache.size).toBe(0)
  })

  it('clear() forgets every token', async () => {
    const { cache, issue, verifications } = setup()
    const token = await issue()
    await cache.verifyAccessToken(token)
    cache.clear()
    expect(cache.size).toBe(0)
    await cache.verifyAccessToken(token)
    expect(verifications()).toBe(2)
  })

  it('refuses nonsensical bounds when it is built', () => {
    const inner = createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 60 })
    expect(() => createVerifiedTokenCache(inner, { maxEntries: 0 })).toThrow(RangeError)
    expect(() => createVerifiedTokenCache(inner, { maxEntries: 1.5 })).toThrow(RangeError)
    expect(() => createVerifiedTokenCache(inner, { maxAgeSeconds: 0 })).toThrow(RangeError)
  })
})
