import { describe, expect, it } from 'vitest'
import {
  CONTRACT_REFRESH_MAX,
  CONTRACT_REUSE_GRACE_SECONDS,
  CONTRACT_TTL_SECONDS,
  client,
  expect429,
  expectInvalidGrant,
  expectInvalidToken,
  logIn,
  registerUser,
  rotate,
  type SessionTokens,
  sleep,
  type TargetRef,
} from './target'

/** `<family>.<secret>`: 16 bytes, then 32, in base64url. */
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/

/**
 * Refresh tokens (rotation, reuse detection, the grace window, concurrent use, the refresh limit),
 * `/revoke` and `/logout`. Reuse after the grace window waits for it on the server's real clock
 * ({@link CONTRACT_REUSE_GRACE_SECONDS}); lifetimes counted in days stay in the in-process tests,
 * which move a fake clock (test/sessions.test.ts).
 */
export function sessionsContract(target: TargetRef): void {
  const { login, refresh, revoke, bearer, validate } = client(target)
  const validates = async (access: string) => (await validate(`Bearer ${access}`)).status === 200

  /** Registers a fresh user and logs in once. */
  async function newSession(prefix = 'sess'): Promise<{ username: string } & SessionTokens> {
    const { username } = await registerUser(target, prefix)
    return { username, ...(await logIn(target, username)) }
  }

  describe('refresh tokens', () => {
    it('the password grant returns an opaque refresh token, different on every login', async () => {
      const s = await newSession()
      const again = await logIn(target, s.username)
      expect(s.refresh).toMatch(REFRESH_TOKEN)
      expect(again.refresh).toMatch(REFRESH_TOKEN)
      expect(again.refresh).not.toBe(s.refresh)
    })

    it('grant_type=refresh_token returns a new access token and a new refresh token', async () => {
      const s = await newSession()
      const res = await refresh(s.refresh)
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const body = await res.json()
      expect(body).toEqual({
        access_token: expect.any(String),
        token_type: 'bearer',
        expires_in: CONTRACT_TTL_SECONDS,
        refresh_token: expect.stringMatching(REFRESH_TOKEN),
      })
      expect(body.refresh_token).not.toBe(s.refresh)
      const validation = await validate(`Bearer ${body.access_token}`)
      expect(await validation.json()).toEqual({ username: s.username, valid: true })
    })

    it('rotates: each successor works once, along a chain', async () => {
      const s = await newSession()
      let current = s.refresh
      for (let i = 0; i < 3; i++) {
        const next = await rotate(target, current)
        expect(await validates(next.access)).toBe(true)
        current = next.refresh
      }
    })

    it('a used refresh token is refused (400 invalid_grant); within the grace window its successor keeps working', async () => {
      const s = await newSession()
      const next = await rotate(target, s.refresh)
      await expectInvalidGrant(await refresh(s.refresh))
      const after = await rotate(target, next.refresh)
      expect(await validates(after.access)).toBe(true)
    })

    it('a used refresh token presented after the grace window ends every session of its user: refresh and access tokens, on /validate and /me', async () => {
      const s = await newSession('theft')
      const other = await logIn(target, s.username)
      const first = await rotate(target, s.refresh)
      const second = await rotate(target, first.refresh)
      expect(await validates(second.access)).toBe(true)
      await sleep(CONTRACT_REUSE_GRACE_SECONDS * 1000 + 300)
      await expectInvalidGrant(await refresh(s.refresh))
      await expectInvalidGrant(await refresh(second.refresh))
      await expectInvalidGrant(await refresh(other.refresh))
      for (const access of [s.access, first.access, second.access, other.access]) {
        await expectInvalidToken(await validate(`Bearer ${access}`))
        await expectInvalidToken(await bearer('GET', '/me', access))
      }
      const fresh = await logIn(target, s.username)
      expect(await validates(fresh.access)).toBe(true)
    })

    it(`more than ${CONTRACT_REFRESH_MAX} refreshes of one session in a minute: 429 with Retry-After; other sessions refresh on`, async () => {
      const s = await newSession('limit')
      const other = await logIn(target, s.username)
      let current = s.refresh
      for (let i = 0; i < CONTRACT_REFRESH_MAX; i++)
        current = (await rotate(target, current)).refresh
      const retryAfter = await expect429(await refresh(current))
      expect(retryAfter).toBeLessThanOrEqual(60)
      expect((await refresh(other.refresh)).status).toBe(200)
    })

    it('concurrent refreshes of one token: exactly one wins, and the winner stays logged in', async () => {
      const s = await newSession()
      const responses = await Promise.all(Array.from({ length: 10 }, () => refresh(s.refresh)))
      const winners = responses.filter((r) => r.status === 200)
      expect(winners).toHaveLength(1)
      for (const loser of responses.filter((r) => r.status !== 200)) await expectInvalidGrant(loser)
      const { refresh_token } = await (winners[0] as Response).json()
      expect((await refresh(refresh_token)).status).toBe(200)
    })

    it('an access token is no refresh token', async () => {
      const s = await newSession()
      await expectInvalidGrant(await refresh(s.access))
      expect((await refresh(s.refresh)).status).toBe(200)
    })

    describe('bad requests', () => {
      it.each([
        ['no refresh_token', { grant_type: 'refresh_token' }],
        ['an empty refresh_token', { grant_type: 'refresh_token', refresh_token: '' }],
        [
          'an overlong refresh_token',
          { grant_type: 'refresh_token', refresh_token: 'a'.repeat(600) },
        ],
      ])('%s -> 400 invalid_request, with detail', async (_case, fields) => {
        const res = await login(fields)
        expect(res.status).toBe(400)
        expect(await res.json()).toEqual({
          error: 'invalid_request',
          error_description: expect.any(String),
          detail: expect.any(String),
        })
      })

      it.each([
        ['garbage', 'not-a-token'],
        ['an unknown token of the right shape', `${'A'.repeat(22)}.${'A'.repeat(43)}`],
        ['an unknown token of the earlier shape', 'A'.repeat(43)],
        ['a token with a NUL', `${'A'.repeat(42)}\u0000`],
      ])('%s -> 400 invalid_grant', async (_case, token) => {
        await expectInvalidGrant(await refresh(token))
      })

      it('a repeated refresh_token -> 400 invalid_request, and the token is not used up', async () => {
        const s = await newSession()
        const res = await target().fetch('/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=refresh_token&refresh_token=${s.refresh}&refresh_token=${s.refresh}`,
        })
        expect(res.status).toBe(400)
        expect((await res.json()).error).toBe('invalid_request')
        expect((await refresh(s.refresh)).status).toBe(200)
      })
    })
  })

  describe('POST /revoke (RFC 7009)', () => {
    it('revokes a refresh token and its whole family: 200, empty body', async () => {
      const s = await newSession()
      const next = await rotate(target, s.refresh)
      const res = await revoke({ token: s.refresh, token_type_hint: 'refresh_token' })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('')
      await expectInvalidGrant(await refresh(next.refresh))
    })

    it('revoking the current token ends that session only', async () => {
      const s = await newSession()
      const other = await logIn(target, s.username)
      expect((await revoke({ token: s.refresh })).status).toBe(200)
      await expectInvalidGrant(await refresh(s.refresh))
      expect((await refresh(other.refresh)).status).toBe(200)
    })

    it.each([
      ['an unknown token', { token: 'A'.repeat(43) }],
      ['garbage', { token: 'garbage' }],
      ['an unknown hint', { token: 'A'.repeat(43), token_type_hint: 'id_token' }],
    ])('answers 200 for %s', async (_case, fields) => {
      expect((await revoke(fields)).status).toBe(200)
    })

    it('answers 200 for an access token and leaves it valid (use /logout to end it)', async () => {
      const s = await newSession()
      const res = await revoke({ token: s.access, token_type_hint: 'access_token' })
      expect(res.status).toBe(200)
      expect(await validates(s.access)).toBe(true)
    })

    it('answers 200 for a token revoked twice', async () => {
      const s = await newSession()
      expect((await revoke({ token: s.refresh })).status).toBe(200)
      expect((await revoke({ token: s.refresh })).status).toBe(200)
    })

    it.each([
      ['nothing', {}],
      ['an empty token', { token: '' }],
      ['only a hint', { token_type_hint: 'refresh_token' }],
    ])('%s -> 400 invalid_request, with detail', async (_case, fields) => {
      const res = await revoke(fields as Record<string, string>)
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({
        error: 'invalid_request',
        error_description: expect.any(String),
        detail: expect.any(String),
      })
    })

    it('JSON instead of a form -> 415', async () => {
      const res = await target().fetch('/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: 'x' }),
      })
      expect(res.status).toBe(415)
    })
  })

  describe('POST /logout', () => {
    it('204, then every refresh token and every earlier access token of the user is refused, by /validate at once', async () => {
      const s = await newSession()
      const other = await logIn(target, s.username)
      expect(await validates(s.access)).toBe(true)
      expect(await validates(other.access)).toBe(true)
      const res = await bearer('POST', '/logout', s.access)
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
      await expectInvalidToken(await validate(`Bearer ${s.access}`))
      await expectInvalidToken(await validate(`Bearer ${other.access}`))
      await expectInvalidGrant(await refresh(s.refresh))
      await expectInvalidGrant(await refresh(other.refresh))
      await expectInvalidToken(await bearer('GET', '/me', other.access))
    })

    it('a login right after a logout works at once, in the same second', async () => {
      const s = await newSession()
      expect((await bearer('POST', '/logout', s.access)).status).toBe(204)
      const fresh = await logIn(target, s.username)
      expect(await validates(fresh.access)).toBe(true)
      expect((await bearer('GET', '/me', fresh.access)).status).toBe(200)
      const next = await rotate(target, fresh.refresh)
      expect(await validates(next.access)).toBe(true)
    })

    it('logout, login, logout in quick succession: the second logout ends the second login too', async () => {
      const s = await newSession()
      expect((await bearer('POST', '/logout', s.access)).status).toBe(204)
      const second = await logIn(target, s.username)
      expect(await validates(second.access)).toBe(true)
      expect((await bearer('POST', '/logout', second.access)).status).toBe(204)
      await expectInvalidToken(await validate(`Bearer ${second.access}`))
      await expectInvalidGrant(await refresh(second.refresh))
      const third = await logIn(target, s.username)
      expect(await validates(third.access)).toBe(true)
    })

    it('leaves other users logged in', async () => {
      const a = await newSession()
      const b = await newSession()
      expect(await validates(b.access)).toBe(true)
      expect((await bearer('POST', '/logout', a.access)).status).toBe(204)
      expect(await validates(b.access)).toBe(true)
      expect((await refresh(b.refresh)).status).toBe(200)
    })

    it('a logged-out token cannot log out again: 401 invalid_token', async () => {
      const s = await newSession()
      expect((await bearer('POST', '/logout', s.access)).status).toBe(204)
      await expectInvalidToken(await bearer('POST', '/logout', s.access))
    })

    it('without a token: 401 Not authenticated, WWW-Authenticate: Bearer', async () => {
      const res = await target().fetch('/logout', { method: 'POST' })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(await res.json()).toEqual({ detail: 'Not authenticated' })
    })

    it('a refresh token is no bearer token: 401 invalid_token', async () => {
      const s = await newSession()
      await expectInvalidToken(await bearer('POST', '/logout', s.refresh))
    })
  })
}
