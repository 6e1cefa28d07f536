import { describe, expect, it } from 'vitest'
import {
  client,
  expect429,
  expectInvalidGrant,
  expectInvalidToken,
  logIn,
  PASSWORD,
  registerUser,
  type SessionTokens,
  type TargetRef,
} from './target'

const NEW_PASSWORD = 'a brand new passphrase'

/**
 * The account endpoints: `GET /me`, `PUT /me/password` and `DELETE /me`, including the login
 * throttle that guards their password check.
 */
export function accountContract(target: TargetRef): void {
  const { login, register, refresh, bearer, validate } = client(target)
  const validates = async (access: string) => (await validate(`Bearer ${access}`)).status === 200

  async function newSession(
    prefix = 'acct',
  ): Promise<{ id: number; username: string } & SessionTokens> {
    const { id, username } = await registerUser(target, prefix)
    return { id, username, ...(await logIn(target, username)) }
  }

  describe('GET /me', () => {
    it('200 {id, name, username, created_at, totp_enabled}, nothing else', async () => {
      const s = await newSession()
      const res = await bearer('GET', '/me', s.access)
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body).toEqual({
        id: s.id,
        name: 'Test User',
        username: s.username,
        created_at: expect.any(String),
        totp_enabled: false,
      })
      expect(new Date(body.created_at).toISOString()).toBe(body.created_at)
      expect(Math.abs(Date.parse(body.created_at) - Date.now())).toBeLessThan(600_000)
    })

    it('accepts the access token of a refresh', async () => {
      const s = await newSession()
      const res = await refresh(s.refresh)
      const { access_token } = await res.json()
      expect((await bearer('GET', '/me', access_token)).status).toBe(200)
    })

    it('without a token: 401 Not authenticated; with a bad one: 401 invalid_token', async () => {
      const res = await target().fetch('/me')
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(await res.json()).toEqual({ detail: 'Not authenticated' })
      await expectInvalidToken(await bearer('GET', '/me', 'not.a.token'))
    })
  })

  describe('PUT /me/password', () => {
    it('204; the new password logs in, the old one does not, and every session has ended', async () => {
      const s = await newSession()
      const other = await logIn(target, s.username)
      expect(await validates(s.access)).toBe(true)
      const res = await bearer('PUT', '/me/password', s.access, {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
      })
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
      expect((await login({ username: s.username, password: PASSWORD })).status).toBe(401)
      await expectInvalidToken(await validate(`Bearer ${s.access}`))
      await expectInvalidToken(await bearer('GET', '/me', other.access))
      await expectInvalidGrant(await refresh(s.refresh))
      await expectInvalidGrant(await refresh(other.refresh))
      const fresh = await logIn(target, s.username, NEW_PASSWORD)
      expect(await validates(fresh.access)).toBe(true)
      expect((await refresh(fresh.refresh)).status).toBe(200)
    })

    it('a wrong current password -> 403, and nothing changes', async () => {
      const s = await newSession()
      const res = await bearer('PUT', '/me/password', s.access, {
        current_password: 'not my password',
        new_password: NEW_PASSWORD,
      })
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: 'Incorrect password' })
      expect(await validates(s.access)).toBe(true)
      expect((await refresh(s.refresh)).status).toBe(200)
      expect((await login({ username: s.username, password: PASSWORD })).status).toBe(200)
    })

    it.each([
      ['too short', 'short'],
      ['too long', 'x'.repeat(129)],
    ])('a new password %s -> 422 on new_password, and nothing changes', async (_case, pw) => {
      const s = await newSession()
      const res = await bearer('PUT', '/me/password', s.access, {
        current_password: PASSWORD,
        new_password: pw,
      })
      expect(res.status).toBe(422)
      const { detail } = await res.json()
      expect(detail.map((d: { loc: string[] }) => d.loc.join('.'))).toEqual(['body.new_password'])
      expect((await login({ username: s.username, password: PASSWORD })).status).toBe(200)
      expect(await validates(s.access)).toBe(true)
    })

    it('a new password equal to the username -> 422, as at registration', async () => {
      const s = await newSession()
      const res = await bearer('PUT', '/me/password', s.access, {
        current_password: PASSWORD,
        new_password: s.username.toUpperCase(),
      })
      expect(res.status).toBe(422)
    })

    it.each([
      ['no new_password', { current_password: PASSWORD }],
      ['no current_password', { new_password: NEW_PASSWORD }],
      ['a number', { current_password: PASSWORD, new_password: 12345678 }],
    ])('%s -> 422', async (_case, body) => {
      const s = await newSession()
      const res = await bearer('PUT', '/me/password', s.access, body)
      expect(res.status).toBe(422)
      expect(Array.isArray((await res.json()).detail)).toBe(true)
    })

    it('a form instead of JSON -> 415', async () => {
      const s = await newSession()
      const res = await target().fetch('/me/password', {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${s.access}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'current_password=x&new_password=y',
      })
      expect(res.status).toBe(415)
    })

    it('without a token -> 401, whatever the body', async () => {
      const res = await target().fetch('/me/password', { method: 'PUT', body: 'junk' })
      expect(res.status).toBe(401)
    })
  })

  describe('DELETE /me', () => {
    it('204; the user can no longer log in, and its tokens stop working', async () => {
      const s = await newSession()
      expect(await validates(s.access)).toBe(true)
      const res = await bearer('DELETE', '/me', s.access, { current_password: PASSWORD })
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
      expect((await login({ username: s.username, password: PASSWORD })).status).toBe(401)
      await expectInvalidToken(await validate(`Bearer ${s.access}`))
      await expectInvalidToken(await bearer('GET', '/me', s.access))
      await expectInvalidGrant(await refresh(s.refresh))
    })

    it('the username can be registered again: a new account, which the old tokens do not reach', async () => {
      const s = await newSession()
      const deleted = await bearer('DELETE', '/me', s.access, { current_password: PASSWORD })
      expect(deleted.status).toBe(204)
      const again = await register({
        name: 'Someone Else',
        username: s.username,
        password: PASSWORD,
      })
      expect(again.status).toBe(201)
      expect((await again.json()).id).not.toBe(s.id)
      await expectInvalidToken(await validate(`Bearer ${s.access}`))
      await expectInvalidGrant(await refresh(s.refresh))
      const fresh = await logIn(target, s.username)
      const me = await (await bearer('GET', '/me', fresh.access)).json()
      expect(me.name).toBe('Someone Else')
    })

    it('a wrong password -> 403, and the account stays', async () => {
      const s = await newSession()
      const res = await bearer('DELETE', '/me', s.access, { current_password: 'wrong password' })
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: 'Incorrect password' })
      expect((await bearer('GET', '/me', s.access)).status).toBe(200)
      expect((await login({ username: s.username, password: PASSWORD })).status).toBe(200)
    })

    it('no password -> 422; no JSON -> 415; no token -> 401', async () => {
      const s = await newSession()
      expect((await bearer('DELETE', '/me', s.access, {})).status).toBe(422)
      expect((await bearer('DELETE', '/me', s.access)).status).toBe(415)
      expect((await target().fetch('/me', { method: 'DELETE' })).status).toBe(401)
      expect((await bearer('GET', '/me', s.access)).status).toBe(200)
    })
  })

  describe('the password check of PUT /me/password and DELETE /me is throttled like a login', () => {
    it('5 wrong current passwords block the account: 429 + Retry-After on both, and on /token, also for the right password', async () => {
      const s = await newSession('guess')
      const wrongChange = (i: number) =>
        bearer('PUT', '/me/password', s.access, {
          current_password: `wrong-${i}`,
          new_password: NEW_PASSWORD,
        })
      const wrongDelete = (i: number) =>
        bearer('DELETE', '/me', s.access, { current_password: `wrong-${i}` })
      for (let i = 0; i < 5; i++) {
        expect((await (i % 2 === 0 ? wrongChange(i) : wrongDelete(i))).status).toBe(403)
      }
      const retryAfter = await expect429(
        await bearer('PUT', '/me/password', s.access, {
          current_password: PASSWORD,
          new_password: NEW_PASSWORD,
        }),
      )
      expect(retryAfter).toBeLessThanOrEqual(900)
      expect(retryAfter).toBeGreaterThan(800)
      await expect429(await bearer('DELETE', '/me', s.access, { current_password: PASSWORD }))
      await expect429(await login({ username: s.username, password: PASSWORD }))
      expect((await bearer('GET', '/me', s.access)).status).toBe(200)
    })

    it('failed logins count too: after 5, the password change is a 429', async () => {
      const s = await newSession('guess')
      for (let i = 0; i < 5; i++) {
        expect((await login({ username: s.username, password: `wrong-${i}` })).status).toBe(401)
      }
      await expect429(
        await bearer('PUT', '/me/password', s.access, {
          current_password: PASSWORD,
          new_password: NEW_PASSWORD,
        }),
      )
    })

    it('a right current password resets the count', async () => {
      const s = await newSession('guess')
      for (let i = 0; i < 4; i++) {
        const res = await bearer('DELETE', '/me', s.access, { current_password: `wrong-${i}` })
        expect(res.status).toBe(403)
      }
      const changed = await bearer('PUT', '/me/password', s.access, {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
      })
      expect(changed.status).toBe(204)
      for (let i = 0; i < 5; i++) {
        expect((await login({ username: s.username, password: `wrong-${i}` })).status).toBe(401)
      }
      await expect429(await login({ username: s.username, password: NEW_PASSWORD }))
    })
  })
}
