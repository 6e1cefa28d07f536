import { beforeAll, describe, expect, it } from 'vitest'
import { secretOfUri, totpNow } from '../support/totp'
import {
  CONTRACT_ADMIN_KEY,
  CONTRACT_INTROSPECTION_CLIENT,
  client,
  expectInvalidGrant,
  expectInvalidToken,
  logIn,
  PASSWORD,
  registerUser,
  sleep,
  type TargetRef,
} from './target'

/** An id no account has (the largest a serial column holds). */
const NO_SUCH_ID = 2_147_483_647

interface Page {
  users: { id: number; username: string }[]
  next_cursor: string | null
}

/** The admin API (`/admin/users`, ADMIN_API_KEYS): lock-out by a ban, account management, refusals. */
export function adminContract(target: TargetRef): void {
  const call = (
    method: string,
    path: string,
    options: { body?: unknown; key?: string | null; type?: string } = {},
  ) => {
    const key = options.key === undefined ? CONTRACT_ADMIN_KEY : options.key
    const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` }
    if (options.body !== undefined) headers['content-type'] = options.type ?? 'application/json'
    const body =
      options.body === undefined || typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body)
    return target().fetch(path, { method, headers, ...(body === undefined ? {} : { body }) })
  }
  const api = client(target)

  describe('admin: a banned user is locked out', () => {
    let user: { id: number; username: string }
    let session: { access: string; refresh: string }
    let other: { access: string; refresh: string }

    beforeAll(async () => {
      user = await registerUser(target, 'banned')
      session = await logIn(target, user.username)
      other = await logIn(target, user.username)
      // /validate has read the account and keeps it (30 s on the legs): the ban must drop that.
      expect((await api.validate(`Bearer ${session.access}`)).status).toBe(200)
      expect((await api.validate(`Bearer ${other.access}`)).status).toBe(200)
      const res = await call('POST', `/admin/users/${user.id}/ban`, { body: { reason: 'spam' } })
      expect(res.status, await res.clone().text()).toBe(200)
      expect(await res.json()).toMatchObject({
        id: user.id,
        username: user.username,
        banned: true,
        ban: { reason: 'spam', since: expect.any(String), until: null },
        active_sessions: 0,
      })
    })

    it('login with the right password: 403 with a clear detail', async () => {
      const res = await api.login({ username: user.username, password: PASSWORD })
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: 'This account is banned' })
    })

    it('login with a wrong password: the usual 401, which tells nothing of the ban', async () => {
      const res = await api.login({ username: user.username, password: 'not the password' })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Incorrect username or password' })
    })

    it('refresh with a token of a session the ban ended: 403', async () => {
      const res = await api.refresh(session.refresh)
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: 'This account is banned' })
    })

    it('/validate, /introspect and the account endpoints refuse its access tokens at once, also those /validate had cached', async () => {
      for (const access of [session.access, other.access]) {
        await expectInvalidToken(await api.validate(`Bearer ${access}`))
        await expectInvalidToken(await api.bearer('GET', '/me', access))
        await expectInvalidToken(
          await api.bearer('PUT', '/me/password', access, {
            current_password: PASSWORD,
            new_password: 'another good password',
          }),
        )
        await expectInvalidToken(
          await api.bearer('DELETE', '/me', access, { current_password: PASSWORD }),
        )
      }
      expect((await api.refresh(other.refresh)).status).toBe(403)
      // And by introspection, which gateways that ask instead of verifying use.
      const { id, secret } = CONTRACT_INTROSPECTION_CLIENT
      const introspected = await target().fetch('/introspect', {
        method: 'POST',
        headers: {
          authorization: `Basic ${btoa(`${id}:${secret}`)}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: session.access }).toString(),
      })
      expect(await introspected.json()).toEqual({ active: false })
    })

    it('unban lets it log in again; the old session stays ended', async () => {
      const other = await registerUser(target, 'unbanned')
      const old = await logIn(target, other.username)
      expect(
        (await call('POST', `/admin/users/${other.id}/ban`, { body: { reason: 'x' } })).status,
      ).toBe(200)
      const lifted = await call('DELETE', `/admin/users/${other.id}/ban`)
      expect(lifted.status).toBe(200)
      expect(await lifted.json()).toMatchObject({ banned: false, ban: null })
      const fresh = await logIn(target, other.username)
      expect((await api.validate(`Bearer ${fresh.access}`)).status).toBe(200)
      await expectInvalidToken(await api.validate(`Bearer ${old.access}`))
    })

    it('a ban with an end time ends by itself at that time', async () => {
      const other = await registerUser(target, 'expiring')
      const s = await logIn(target, other.username)
      // Whole seconds ahead of both clocks (the test's and the server's, one machine), so the ban
      // is in the future when it lands and over after the wait.
      const until = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000)
      const res = await call('POST', `/admin/users/${other.id}/ban`, {
        body: { reason: 'short', until: until.toISOString() },
      })
      expect(res.status, await res.clone().text()).toBe(200)
      const refused = await api.login({ username: other.username, password: PASSWORD })
      expect(refused.status).toBe(403)
      expect(await refused.json()).toEqual({
        detail: `This account is banned until ${until.toISOString()}`,
      })
      await sleep(until.getTime() - Date.now() + 500)
      const read = await (await call('GET', `/admin/users/${other.id}`)).json()
      expect(read).toMatchObject({ banned: false, ban: null })
      const fresh = await logIn(target, other.username)
      expect((await api.validate(`Bearer ${fresh.access}`)).status).toBe(200)
      // The sessions the ban ended stay ended.
      await expectInvalidToken(await api.validate(`Bearer ${s.access}`))
      expect((await api.refresh(s.refresh)).status).toBe(400)
    }, 15_000)

    it('a ban with an end time says until when', async () => {
      const other = await registerUser(target, 'tempban')
      const until = new Date(Date.now() + 86_400_000).toISOString()
      const res = await call('POST', `/admin/users/${other.id}/ban`, {
        body: { reason: 'cool off', until },
      })
      expect(await res.json()).toMatchObject({ banned: true, ban: { until } })
      const login = await api.login({ username: other.username, password: PASSWORD })
      expect(login.status).toBe(403)
      expect(await login.json()).toEqual({ detail: `This account is banned until ${until}` })
    })
  })

  describe('admin: authentication', () => {
    let userToken: string

    beforeAll(async () => {
      const user = await registerUser(target, 'notadmin')
      userToken = (await logIn(target, user.username)).access
    })

    it('no credentials or a wrong key: 401; a user token: 403', async () => {
      for (const key of [null, 'eak_0000000000000000000000000000000000000000000', 'garbage']) {
        const res = await call('GET', '/admin/users', { key })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="admin"')
        expect(await res.json()).toEqual({ detail: expect.any(String) })
      }
      const res = await call('GET', '/admin/users', { key: userToken })
      expect(res.status).toBe(403)
      expect(await res.json()).toEqual({ detail: 'Not an administrator' })
      const write = await call('DELETE', '/admin/users/1', { key: userToken })
      expect(write.status).toBe(403)
      // Not even for a user's own second factor: that needs the password and a code (/me/mfa/totp).
      const own = await call('DELETE', '/admin/users/1/mfa', { key: userToken })
      expect(own.status).toBe(403)
    })

    it('an access token whose session ended is no credential: 401, as a wrong key', async () => {
      const user = await registerUser(target, 'loggedout')
      const { access } = await logIn(target, user.username)
      expect((await api.bearer('POST', '/logout', access)).status).toBe(204)
      const res = await call('GET', '/admin/users', { key: access })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="admin"')
    })

    it('an admin key is checked before anything else of the request: 401 whatever the input', async () => {
      for (const [method, path] of [
        ['GET', '/admin/users?limit=0&bogus=1'],
        ['GET', '/admin/users/abc'],
        ['POST', '/admin/users/1/ban'],
        ['DELETE', '/admin/users/1'],
        ['DELETE', '/admin/users/1/mfa'],
      ] as const) {
        const res = await call(method, path, { key: null })
        expect(res.status, `${method} ${path}`).toBe(401)
      }
    })

    it('nothing under /admin is reachable through the forward-auth prefix', async () => {
      const res = await call('GET', '/validate/admin/users')
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Invalid token' })
      // `fetch` resolves dot segments itself: the tricks go raw, on the legs with a request line.
      const raw = target().raw
      if (raw === undefined) return
      const tricks = ['/validate%2F..%2Fadmin/users', '/validate%5c..%5cadmin/users']
      if (target().normalisesDotSegments !== true) {
        tricks.push('/validate/../admin/users', '/validate/%2e%2e/admin/users')
      }
      for (const path of tricks) {
        const res = await raw('GET', path, { authorization: `Bearer ${CONTRACT_ADMIN_KEY}` })
        expect(res.status, path).toBe(401)
        expect(JSON.parse(res.body)).toEqual({ detail: 'Invalid token' })
      }
    })
  })

  describe('admin: finding and managing accounts', () => {
    it('lists by username prefix (case-insensitively) in creation order, page by page', async () => {
      const prefix = `pg${crypto.randomUUID().slice(0, 8)}`
      const made: number[] = []
      for (const n of [1, 2, 3]) {
        const username = `${prefix}_${n}`
        const res = await api.register({ name: 'Paged', username, password: PASSWORD })
        expect(res.status).toBe(201)
        made.push(((await res.json()) as { id: number }).id)
      }
      const seen: number[] = []
      let cursor: string | null = null
      do {
        const after: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`
        const res = await call(
          'GET',
          `/admin/users?username=${prefix.toUpperCase()}&limit=2${after}`,
        )
        expect(res.status).toBe(200)
        const page = (await res.json()) as Page
        expect(page.users.length).toBeLessThanOrEqual(2)
        seen.push(...page.users.map((u) => u.id))
        cursor = page.next_cursor
      } while (cursor !== null)
      expect(seen).toEqual(made)
      const byId = (await (await call('GET', `/admin/users?id=${made[1]}`)).json()) as Page
      expect(byId.users.map((u) => u.username)).toEqual([`${prefix}_2`])
    })

    it('reads one account: id, name, username, created, last login, ban, active sessions', async () => {
      const user = await registerUser(target, 'readme')
      const unseen = await (await call('GET', `/admin/users/${user.id}`)).json()
      expect(unseen).toEqual({
        id: user.id,
        name: 'Test User',
        username: user.username,
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        last_login_at: null,
        banned: false,
        ban: null,
        active_sessions: 0,
        totp_enabled: false,
      })
      await logIn(target, user.username)
      await logIn(target, user.username)
      const seen = await (await call('GET', `/admin/users/${user.id}`)).json()
      expect(seen.active_sessions).toBe(2)
      expect(Date.parse(seen.last_login_at)).toBeGreaterThanOrEqual(Date.parse(seen.created_at))
    })

    it('ends every session of an account', async () => {
      const user = await registerUser(target, 'endall')
      const session = await logIn(target, user.username)
      // Cached by /validate first: ending the sessions must reach it at once, as a logout does.
      expect((await api.validate(`Bearer ${session.access}`)).status).toBe(200)
      expect((await call('DELETE', `/admin/users/${user.id}/sessions`)).status).toBe(204)
      await expectInvalidToken(await api.validate(`Bearer ${session.access}`))
      expect((await api.refresh(session.refresh)).status).toBe(400)
      const read = await (await call('GET', `/admin/users/${user.id}`)).json()
      expect(read.active_sessions).toBe(0)
      expect((await api.login({ username: user.username, password: PASSWORD })).status).toBe(200)
    })

    it('sets a new password: the old one and every session stop working', async () => {
      const user = await registerUser(target, 'newpass')
      const session = await logIn(target, user.username)
      expect((await api.validate(`Bearer ${session.access}`)).status).toBe(200)
      const res = await call('PUT', `/admin/users/${user.id}/password`, {
        body: { new_password: 'a brand new password' },
      })
      expect(res.status).toBe(204)
      await expectInvalidToken(await api.validate(`Bearer ${session.access}`))
      expect((await api.refresh(session.refresh)).status).toBe(400)
      expect((await api.login({ username: user.username, password: PASSWORD })).status).toBe(401)
      await logIn(target, user.username, 'a brand new password')
    })

    it('removes the second factor of a user who lost it: TOTP off, recovery codes and waiting logins gone, every session ended; the password alone logs in', async () => {
      const user = await registerUser(target, 'lostphone')
      const first = await logIn(target, user.username)
      const started = await api.bearer('POST', '/me/mfa/totp', first.access, {
        current_password: PASSWORD,
      })
      expect(started.status, await started.clone().text()).toBe(200)
      const secret = secretOfUri((await started.json()).otpauth_uri)
      const confirmed = await api.bearer('POST', '/me/mfa/totp/confirm', first.access, {
        otp: totpNow(secret),
      })
      expect(confirmed.status, await confirmed.clone().text()).toBe(200)
      const { recovery_codes: codes } = (await confirmed.json()) as { recovery_codes: string[] }
      expect((await (await call('GET', `/admin/users/${user.id}`)).json()).totp_enabled).toBe(true)
      const mfaToken = async () => {
        const res = await api.login({ username: user.username, password: PASSWORD })
        expect(res.status).toBe(403)
        return ((await res.json()) as { mfa_token: string }).mfa_token
      }
      // A session with the second factor, and a login still waiting for its code.
      const mfaGrant = (mfa_token: string, recovery_code: string) =>
        api.login({
          grant_type: 'urn:edge-auth:params:oauth:grant-type:mfa-otp',
          mfa_token,
          recovery_code,
        })
      const withCode = await mfaGrant(await mfaToken(), codes[0] as string)
      expect(withCode.status).toBe(200)
      const session = (await withCode.json()) as { access_token: string; refresh_token: string }
      const waiting = await mfaToken()
      expect((await api.validate(`Bearer ${session.access_token}`)).status).toBe(200)

      const res = await call('DELETE', `/admin/users/${user.id}/mfa`)
      expect(res.status, await res.clone().text()).toBe(200)
      expect(await res.json()).toMatchObject({
        id: user.id,
        username: user.username,
        totp_enabled: false,
        active_sessions: 0,
      })
      // Every session ended, at once also where /validate had cached the token.
      for (const access of [first.access, session.access_token]) {
        await expectInvalidToken(await api.validate(`Bearer ${access}`))
        await expectInvalidToken(await api.bearer('GET', '/me', access))
      }
      expect((await api.refresh(session.refresh_token)).status).toBe(400)
      // The login that was waiting for its code cannot be finished, even with an unused code.
      await expectInvalidGrant(await mfaGrant(waiting, codes[1] as string))
      // The password alone logs in, and the account says TOTP is off.
      const fresh = await logIn(target, user.username)
      const me = await api.bearer('GET', '/me', fresh.access)
      expect(await me.json()).toMatchObject({ id: user.id, totp_enabled: false })
      // The user may enrol again, with a new secret.
      const again = await api.bearer('POST', '/me/mfa/totp', fresh.access, {
        current_password: PASSWORD,
      })
      expect(again.status).toBe(200)
      expect(secretOfUri((await again.json()).otpauth_uri)).not.toBe(secret)
      // With nothing to remove the answer is the same, and sessions still end.
      const none = await call('DELETE', `/admin/users/${user.id}/mfa`)
      expect(none.status).toBe(200)
      expect(await none.json()).toMatchObject({ totp_enabled: false, active_sessions: 0 })
      await expectInvalidToken(await api.validate(`Bearer ${fresh.access}`))
      // The pending enrolment went with it: there is nothing to confirm.
      const relogged = await logIn(target, user.username)
      const late = await api.bearer('POST', '/me/mfa/totp/confirm', relogged.access, {
        otp: '123456',
      })
      expect(late.status).toBe(409)
    })

    it('deletes an account: its token and its login stop working', async () => {
      const user = await registerUser(target, 'gone')
      const session = await logIn(target, user.username)
      expect((await api.validate(`Bearer ${session.access}`)).status).toBe(200)
      expect((await call('DELETE', `/admin/users/${user.id}`)).status).toBe(204)
      await expectInvalidToken(await api.validate(`Bearer ${session.access}`))
      expect((await api.login({ username: user.username, password: PASSWORD })).status).toBe(401)
      expect((await call('GET', `/admin/users/${user.id}`)).status).toBe(404)
    })
  })

  describe('admin: bad input gets a clear 4xx on every endpoint', () => {
    let id: number
    beforeAll(async () => {
      id = (await registerUser(target, 'badinput')).id
    })

    const expectDetail = async (res: Response, status: number, what: string) => {
      expect(res.status, what).toBe(status)
      expect(res.headers.get('content-type'), what).toMatch(/^application\/json/)
      const body = (await res.json()) as { detail: unknown }
      expect(body.detail, what).toBeDefined()
      return body
    }

    it('GET /admin/users: limit, id, cursor and username are checked (422)', async () => {
      for (const query of [
        'limit=0',
        'limit=101',
        'limit=many',
        'id=0',
        'id=-3',
        'id=x',
        'limit=1e2',
        'limit=0x10',
        'limit=%2B5',
        'limit=',
        'limit=1&limit=2',
        'id=1e3',
        'id=2147483648',
        'id=%201',
        'cursor=not-a-cursor',
        `cursor=${btoa('2026-01-01|1')}`,
        // Of the right shape, but no moment Postgres holds: not a 500.
        ...[
          '2026-02-30T00:00:00.000000Z|1',
          '2026-01-01T25:00:00.000000Z|1',
          '9999-99-99T99:99:99.999999Z|1',
          '0000-01-01T00:00:00.000000Z|1',
        ].map((c) => `cursor=${btoa(c)}`),
        'username=',
        'username=%00',
        `username=${'a'.repeat(257)}`,
        'usernme=alice',
      ]) {
        const body = await expectDetail(await call('GET', `/admin/users?${query}`), 422, query)
        expect(body.detail).toEqual([
          expect.objectContaining({ loc: expect.arrayContaining(['query']) }),
        ])
      }
    })

    it('an id in the path that is not a positive int: 422; an unknown one: 404', async () => {
      const paths = (user: string) =>
        [
          ['GET', `/admin/users/${user}`, undefined],
          ['POST', `/admin/users/${user}/ban`, { reason: 'spam' }],
          ['DELETE', `/admin/users/${user}/ban`, undefined],
          ['DELETE', `/admin/users/${user}/sessions`, undefined],
          ['PUT', `/admin/users/${user}/password`, { new_password: 'a brand new password' }],
          ['DELETE', `/admin/users/${user}/mfa`, undefined],
          ['DELETE', `/admin/users/${user}`, undefined],
        ] as const
      for (const bad of ['abc', '0', '-1', '1.5', '99999999999', '0x1', '1e0', '%2B1', '%201']) {
        for (const [method, path, body] of paths(bad)) {
          const res = await call(method, path, body === undefined ? {} : { body })
          const detail = await expectDetail(res, 422, `${method} ${path}`)
          expect(detail.detail).toEqual([expect.objectContaining({ loc: ['path', 'id'] })])
        }
      }
      for (const [method, path, body] of paths(String(NO_SUCH_ID))) {
        const res = await call(method, path, body === undefined ? {} : { body })
        expect(await expectDetail(res, 404, `${method} ${path}`)).toEqual({
          detail: 'User not found',
        })
      }
    })

    it('POST /admin/users/{id}/ban: the body is checked (415, 422), and nothing changes', async () => {
      const path = `/admin/users/${id}/ban`
      await expectDetail(
        await call('POST', path, { body: 'reason=spam', type: 'text/plain' }),
        415,
        'text',
      )
      await expectDetail(await call('POST', path, { body: '{"reason": ' }), 422, 'bad JSON')
      for (const body of [
        {},
        { reason: '' },
        { reason: '   ' },
        { reason: 7 },
        { reason: 'x'.repeat(501) },
        { reason: 'a\u0000b' },
        { reason: '\ud800' },
        { reason: 'spam', until: 'tomorrow' },
        { reason: 'spam', until: '2020-01-01T00:00:00Z' },
        { reason: 'spam', until: '2099-02-30T00:00:00Z' },
        { reason: 'spam', until: '2099-01-01T00:00:00' },
        { reason: 'spam', until: 1767225600 },
        // A misspelt field would otherwise make a ban without end.
        { reason: 'spam', untill: '2099-01-01T00:00:00Z' },
        [],
        null,
      ]) {
        await expectDetail(
          await call('POST', path, { body }),
          422,
          JSON.stringify(body).slice(0, 80),
        )
      }
      const read = await (await call('GET', `/admin/users/${id}`)).json()
      expect(read.banned).toBe(false)
    })

    it('POST /admin/users/{id}/ban: an unknown field is a 422 (named in loc when it looks like a field name); a body over the limit is a 413', async () => {
      const path = `/admin/users/${id}/ban`
      const res = await call('POST', path, {
        body: { reason: 'spam', untill: '2099-01-01T00:00:00Z' },
      })
      expect(await expectDetail(res, 422, 'unknown field')).toEqual({
        detail: [
          {
            loc: ['body', 'untill'],
            msg: 'Extra inputs are not permitted',
            type: 'extra_forbidden',
          },
        ],
      })
      // A name that is not a field name is input, and input is never echoed.
      const odd = await call('POST', path, { body: { reason: 'spam', 'x <script>': 1 } })
      expect(await expectDetail(odd, 422, 'odd field')).toEqual({
        detail: [{ loc: ['body'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }],
      })
      const huge = await call('POST', path, { body: { reason: 'x'.repeat(10_000) } })
      await expectDetail(huge, 413, 'huge body')
      const read = await (await call('GET', `/admin/users/${id}`)).json()
      expect(read.banned).toBe(false)
    })

    it('PUT /admin/users/{id}/password: the registration rules apply (422), a non-JSON body is a 415', async () => {
      const path = `/admin/users/${id}/password`
      for (const body of [
        {},
        { new_password: 'short' },
        { new_password: 12345678 },
        { new_password: 'a brand new password', current_password: 'x' },
      ]) {
        await expectDetail(await call('PUT', path, { body }), 422, JSON.stringify(body))
      }
      await expectDetail(await call('PUT', path, { body: 'x', type: 'text/plain' }), 415, 'text')
    })

    it('a method the path does not have: 405', async () => {
      const res = await call('PATCH', `/admin/users/${id}`)
      expect(res.status).toBe(405)
    })
  })
}
