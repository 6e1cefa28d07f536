import { afterEach, describe, expect, it } from 'vitest'
import { fromBase32, hotpCode, secretOfUri } from '../support/totp'
import { client, expectInvalidGrant, PASSWORD, registerUser, sleep, type TargetRef } from './target'

const MFA_GRANT = 'urn:edge-auth:params:oauth:grant-type:mfa-otp'

/**
 * An authenticator app on the real clock, with codes computed by test/support/totp.ts (node:crypto,
 * not the service's code). The servers refuse a code of a step at or before the last one accepted,
 * so it hands out each step once: the current step, then the next (both inside the service's drift
 * of one step whenever the request lands), then it waits for time to move on. It never hands out
 * the previous step, which could fall out of the window between computing and sending.
 */
class Authenticator {
  private lastStep = Number.NEGATIVE_INFINITY
  constructor(readonly secret: string) {}

  async code(): Promise<string> {
    for (;;) {
      const current = Math.floor(Date.now() / 30_000)
      const step = Math.max(current, this.lastStep + 1)
      if (step <= current + 1) {
        this.lastStep = step
        return hotpCode(fromBase32(this.secret), step)
      }
      await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() % 30_000) + 50))
    }
  }
}

/** The claims of a JWT, unverified (the other contract files check signatures). */
const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString())

/**
 * Two-factor login: TOTP enrolment with codes computed apart from the service, the `403
 * mfa_required` answer and the mfa-otp grant, recovery codes, `amr`, the second factor on password
 * change, deletion and disabling, and what never reaches the logs. Code windows (drift, replay within
 * a window) and the expiry of mfa_tokens and enrolments run on the server's two-factor clock, which
 * every leg lets the suite move (MFA_TEST_CLOCK, `PUT /_test/mfa-clock`); test/mfa.test.ts runs them
 * again in process, on a fake clock, with what needs the tables.
 */
export function mfaContract(target: TargetRef): void {
  const { login, bearer, refresh } = client(target)
  const mfaGrant = (fields: Record<string, string>) => login({ grant_type: MFA_GRANT, ...fields })

  /** A fresh user with TOTP on: name, authenticator, recovery codes, and a password-only session's access token. */
  async function enrolledUser(prefix = 'mfa') {
    const { id, username } = await registerUser(target, prefix)
    const first = await login({ username, password: PASSWORD })
    expect(first.status).toBe(200)
    const { access_token: access } = await first.json()
    const started = await bearer('POST', '/me/mfa/totp', access, { current_password: PASSWORD })
    expect(started.status, await started.clone().text()).toBe(200)
    const enrolment = await started.json()
    const app = new Authenticator(secretOfUri(enrolment.otpauth_uri))
    expect(enrolment.secret).toBe(app.secret)
    const confirmed = await bearer('POST', '/me/mfa/totp/confirm', access, {
      otp: await app.code(),
    })
    expect(confirmed.status, await confirmed.clone().text()).toBe(200)
    const { recovery_codes } = await confirmed.json()
    return { id, username, app, access, recoveryCodes: recovery_codes as string[] }
  }

  /** The mfa_token of a right password for an account with TOTP on. */
  async function mfaToken(username: string): Promise<string> {
    const res = await login({ username, password: PASSWORD })
    expect(res.status, await res.clone().text()).toBe(403)
    return (await res.json()).mfa_token
  }

  describe('TOTP enrolment', () => {
    it('gives a secret and an otpauth:// URI; a code computed from it turns TOTP on and returns 10 recovery codes', async () => {
      const { id, username } = await registerUser(target, 'enrol')
      const { access_token } = await (await login({ username, password: PASSWORD })).json()
      expect((await (await bearer('GET', '/me', access_token)).json()).totp_enabled).toBe(false)
      const started = await bearer('POST', '/me/mfa/totp', access_token, {
        current_password: PASSWORD,
      })
      expect(started.status).toBe(200)
      const body = await started.json()
      expect(body).toEqual({
        secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
        otpauth_uri: expect.any(String),
        expires_in: 600,
      })
      const uri = new URL(body.otpauth_uri)
      expect(uri.protocol).toBe('otpauth:')
      expect(uri.host).toBe('totp')
      expect(decodeURIComponent(uri.pathname)).toBe(`/edge-auth:${username}`)
      expect(Object.fromEntries(uri.searchParams)).toEqual({
        secret: body.secret,
        issuer: 'edge-auth',
        algorithm: 'SHA1',
        digits: '6',
        period: '30',
      })
      const app = new Authenticator(body.secret)
      // A wrong code leaves TOTP off.
      const good = await app.code()
      const wrong = good === '000000' ? '000001' : '000000'
      const refused = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: wrong })
      expect(refused.status).toBe(403)
      expect((await (await bearer('GET', '/me', access_token)).json()).totp_enabled).toBe(false)
      expect((await login({ username, password: PASSWORD })).status).toBe(200)

      const confirmed = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: good })
      expect(confirmed.status).toBe(200)
      const { recovery_codes } = await confirmed.json()
      expect(recovery_codes).toHaveLength(10)
      expect(new Set(recovery_codes).size).toBe(10)
      for (const code of recovery_codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/)
      const me = await (await bearer('GET', '/me', access_token)).json()
      expect(me).toMatchObject({ id, totp_enabled: true })
      // Shown once: confirming again hands out nothing, and no read of the account shows them.
      const again = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: good })
      expect(again.status).toBe(409)
      const seen = (await again.text()) + JSON.stringify(me)
      for (const code of recovery_codes) expect(seen).not.toContain(code)
    })

    it('wrong confirmation codes count against the account: 5 failures block the confirmation and the login', async () => {
      const { username } = await registerUser(target, 'confirmbf')
      const { access_token } = await (await login({ username, password: PASSWORD })).json()
      const started = await bearer('POST', '/me/mfa/totp', access_token, {
        current_password: PASSWORD,
      })
      const app = new Authenticator(secretOfUri((await started.json()).otpauth_uri))
      const right = await app.code()
      const wrong = right === '000000' ? '000001' : '000000'
      for (let i = 0; i < 5; i++) {
        const res = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: wrong })
        expect(res.status).toBe(403)
      }
      const refused = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: right })
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await bearer('GET', '/me', access_token)).status).toBe(200)
      expect((await (await bearer('GET', '/me', access_token)).json()).totp_enabled).toBe(false)
      expect((await login({ username, password: PASSWORD })).status).toBe(429)
    })

    it('confirming with no enrolment started is a 409', async () => {
      const { username } = await registerUser(target, 'noenrol')
      const { access_token } = await (await login({ username, password: PASSWORD })).json()
      const res = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: '123456' })
      expect(res.status).toBe(409)
      expect(await res.json()).toEqual({ detail: expect.any(String) })
    })

    it('re-enrolment needs the current password and a code', async () => {
      const user = await enrolledUser('reenrol')
      const bare = await bearer('POST', '/me/mfa/totp', user.access, {})
      expect(bare.status).toBe(422)
      const noPassword = await bearer('POST', '/me/mfa/totp', user.access, {
        recovery_code: user.recoveryCodes[0],
      })
      expect(noPassword.status).toBe(422)
      const noCode = await bearer('POST', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
      })
      expect(noCode.status).toBe(403)
      expect(await noCode.json()).toEqual({ detail: expect.stringMatching(/otp/) })
      const wrongPassword = await bearer('POST', '/me/mfa/totp', user.access, {
        current_password: 'not the password',
        recovery_code: user.recoveryCodes[0],
      })
      expect(wrongPassword.status).toBe(403)
      expect(await wrongPassword.json()).toEqual({ detail: 'Incorrect password' })
      const wrongCode = await bearer('POST', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
        recovery_code: 'aaaa-bbbb-cccc-dddd',
      })
      expect(wrongCode.status).toBe(403)
      expect(await wrongCode.json()).toEqual({ detail: 'Incorrect or already used code' })
      const ok = await bearer('POST', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
        recovery_code: user.recoveryCodes[1],
      })
      expect(ok.status).toBe(200)
      const next = new Authenticator(secretOfUri((await ok.json()).otpauth_uri))
      expect(next.secret).not.toBe(user.app.secret)
      // The old secret stays in force until the new one is confirmed.
      const pending = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        otp: await user.app.code(),
      })
      expect(pending.status).toBe(200)
      const confirmed = await bearer('POST', '/me/mfa/totp/confirm', user.access, {
        otp: await next.code(),
      })
      expect(confirmed.status).toBe(200)
      const { recovery_codes } = await confirmed.json()
      // The new secret's codes and recovery codes log in; the old recovery codes do not.
      const old = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        recovery_code: user.recoveryCodes[2] as string,
      })
      await expectInvalidGrant(old)
      const fresh = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        otp: await next.code(),
      })
      expect(fresh.status).toBe(200)
      const recovered = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        recovery_code: recovery_codes[0],
      })
      expect(recovered.status).toBe(200)
    })

    it('the first enrolment needs the current password too: none is a 422, a wrong one a 403 that counts as a failed login', async () => {
      const { username } = await registerUser(target, 'enrolpw')
      const { access_token } = await (await login({ username, password: PASSWORD })).json()
      const start = (body: object) => bearer('POST', '/me/mfa/totp', access_token, body)
      const none = await start({})
      expect(none.status).toBe(422)
      expect((await none.json()).detail).toEqual([
        expect.objectContaining({ loc: ['body', 'current_password'], type: 'missing' }),
      ])
      const wrong = await start({ current_password: 'not the password' })
      expect(wrong.status).toBe(403)
      expect(await wrong.json()).toEqual({ detail: 'Incorrect password' })
      // Nothing was started: there is no secret to confirm (an attempt of its own, counted too).
      const confirm = await bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: '123456' })
      expect(confirm.status).toBe(409)
      for (let i = 0; i < 3; i++) {
        expect((await start({ current_password: `wrong password ${i}` })).status).toBe(403)
      }
      // Five failed logins: the start is refused with the right password, and so is the login.
      const blocked = await start({ current_password: PASSWORD })
      expect(blocked.status).toBe(429)
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await login({ username, password: PASSWORD })).status).toBe(429)
      expect((await (await bearer('GET', '/me', access_token)).json()).totp_enabled).toBe(false)
    })

    it('the right password starts the enrolment and resets the count of failed logins, as a login does', async () => {
      const { username } = await registerUser(target, 'enrolpw2')
      const { access_token } = await (await login({ username, password: PASSWORD })).json()
      for (let i = 0; i < 4; i++) {
        const wrong = await bearer('POST', '/me/mfa/totp', access_token, {
          current_password: `wrong password ${i}`,
        })
        expect(wrong.status).toBe(403)
      }
      const right = await bearer('POST', '/me/mfa/totp', access_token, {
        current_password: PASSWORD,
      })
      expect(right.status).toBe(200)
      // Counted from zero again: four more wrong passwords are not enough to block.
      for (let i = 0; i < 4; i++) {
        expect((await login({ username, password: `wrong password ${i}` })).status).toBe(401)
      }
      const app = new Authenticator(secretOfUri((await right.json()).otpauth_uri))
      const confirmed = await bearer('POST', '/me/mfa/totp/confirm', access_token, {
        otp: await app.code(),
      })
      expect(confirmed.status).toBe(200)
      expect((await (await bearer('GET', '/me', access_token)).json()).totp_enabled).toBe(true)
    })

    it('without a token: 401', async () => {
      const res = await target().fetch('/me/mfa/totp', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ current_password: PASSWORD }),
      })
      expect(res.status).toBe(401)
    })
  })

  describe('logging in with TOTP on', () => {
    it('a right password answers 403 mfa_required with an mfa_token; the code completes the login with amr', async () => {
      const user = await enrolledUser('login')
      const res = await login({ username: user.username, password: PASSWORD })
      expect(res.status).toBe(403)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const body = await res.json()
      expect(body).toEqual({
        error: 'mfa_required',
        error_description: expect.any(String),
        detail: expect.any(String),
        mfa_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      })
      const done = await mfaGrant({ mfa_token: body.mfa_token, otp: await user.app.code() })
      expect(done.status, await done.clone().text()).toBe(200)
      expect(done.headers.get('cache-control')).toBe('no-store')
      const tokens = await done.json()
      expect(tokens).toEqual({
        access_token: expect.any(String),
        token_type: 'bearer',
        expires_in: expect.any(Number),
        refresh_token: expect.any(String),
      })
      expect(claimsOf(tokens.access_token)).toMatchObject({ uid: user.id, amr: ['pwd', 'otp'] })
      expect((await client(target).validate(`Bearer ${tokens.access_token}`)).status).toBe(200)
      // A refresh keeps how the session was authenticated.
      const refreshed = await refresh(tokens.refresh_token)
      expect(refreshed.status).toBe(200)
      expect(claimsOf((await refreshed.json()).access_token).amr).toEqual(['pwd', 'otp'])
      // The password-only token of before the enrolment says so.
      expect(claimsOf(user.access).amr).toEqual(['pwd'])
    })

    it('a wrong password is still a 401 without an mfa_token', async () => {
      const user = await enrolledUser('wrongpw')
      const res = await login({ username: user.username, password: 'not the password' })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Incorrect username or password' })
    })

    it('an mfa_token dies on use: a wrong code uses it up, and a used one is refused', async () => {
      const user = await enrolledUser('single')
      const token = await mfaToken(user.username)
      await expectInvalidGrant(await mfaGrant({ mfa_token: token, otp: '1234567' }))
      await expectInvalidGrant(await mfaGrant({ mfa_token: token, otp: await user.app.code() }))
      const next = await mfaToken(user.username)
      expect(
        (await mfaGrant({ mfa_token: next, recovery_code: user.recoveryCodes[0] as string }))
          .status,
      ).toBe(200)
      await expectInvalidGrant(
        await mfaGrant({ mfa_token: next, recovery_code: user.recoveryCodes[1] as string }),
      )
    })

    it('a logout or a password change cuts off logins still waiting for their code', async () => {
      const user = await enrolledUser('cutoff')
      const waiting = await mfaToken(user.username)
      const other = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        recovery_code: user.recoveryCodes[0] as string,
      })
      expect(other.status).toBe(200)
      const logout = await bearer('POST', '/logout', (await other.json()).access_token)
      expect(logout.status).toBe(204)
      await expectInvalidGrant(
        await mfaGrant({ mfa_token: waiting, recovery_code: user.recoveryCodes[1] as string }),
      )
      // A login begun after the logout goes through.
      const after = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        recovery_code: user.recoveryCodes[1] as string,
      })
      expect(after.status).toBe(200)

      const beforeChange = await mfaToken(user.username)
      const changed = await bearer('PUT', '/me/password', (await after.json()).access_token, {
        current_password: PASSWORD,
        new_password: 'another good passphrase',
        recovery_code: user.recoveryCodes[2] as string,
      })
      expect(changed.status).toBe(204)
      await expectInvalidGrant(
        await mfaGrant({ mfa_token: beforeChange, recovery_code: user.recoveryCodes[3] as string }),
      )
    })

    it('10 concurrent attempts with one mfa_token and the right code: exactly one logs in', async () => {
      const user = await enrolledUser('race')
      const token = await mfaToken(user.username)
      const code = await user.app.code()
      const results = await Promise.all(
        Array.from({ length: 10 }, () => mfaGrant({ mfa_token: token, otp: code })),
      )
      const statuses = results.map((r) => r.status)
      expect(statuses.filter((s) => s === 200)).toHaveLength(1)
      expect(statuses.filter((s) => s === 400)).toHaveLength(9)
    })

    it('an unknown or malformed mfa_token is invalid_grant; missing parameters are invalid_request', async () => {
      await expectInvalidGrant(await mfaGrant({ mfa_token: 'A'.repeat(43), otp: '123456' }))
      await expectInvalidGrant(await mfaGrant({ mfa_token: 'short', otp: '123456' }))
      const cases: Record<string, string>[] = [
        { otp: '123456' },
        { mfa_token: 'A'.repeat(43) },
        { mfa_token: 'A'.repeat(43), otp: '123456', recovery_code: 'abcd-efgh-ijkl-mnop' },
      ]
      for (const fields of cases) {
        const res = await mfaGrant(fields)
        expect(res.status).toBe(400)
        expect((await res.json()).error).toBe('invalid_request')
      }
    })

    it('a recovery code logs in once, in any case and with or without dashes', async () => {
      const user = await enrolledUser('recover')
      const code = user.recoveryCodes[0] as string
      const typed = code.replaceAll('-', '').toUpperCase()
      const ok = await mfaGrant({ mfa_token: await mfaToken(user.username), recovery_code: typed })
      expect(ok.status).toBe(200)
      expect(claimsOf((await ok.json()).access_token).amr).toEqual(['pwd', 'otp'])
      await expectInvalidGrant(
        await mfaGrant({ mfa_token: await mfaToken(user.username), recovery_code: code }),
      )
    })

    it('wrong codes count against the account: 5 failures block the login, also with the right password and code', async () => {
      const user = await enrolledUser('throttled')
      const held = await mfaToken(user.username)
      for (let i = 0; i < 5; i++) {
        const token = await mfaToken(user.username)
        await expectInvalidGrant(await mfaGrant({ mfa_token: token, otp: 'nope' }))
      }
      const blocked = await login({ username: user.username, password: PASSWORD })
      expect(blocked.status).toBe(429)
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      // An mfa_token handed out before the block does not get past it, even with a right code.
      const second = await mfaGrant({
        mfa_token: held,
        recovery_code: user.recoveryCodes[0] as string,
      })
      expect(second.status).toBe(429)
      expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0)
      // Nor do the account changes that take a password.
      const change = await bearer('PUT', '/me/password', user.access, {
        current_password: PASSWORD,
        new_password: 'another good passphrase',
        recovery_code: user.recoveryCodes[1] as string,
      })
      expect(change.status).toBe(429)
    })

    it('recovery codes are replaced as a set, with the password and a code', async () => {
      const user = await enrolledUser('regen')
      const bare = await bearer('POST', '/me/mfa/recovery-codes', user.access, {
        current_password: PASSWORD,
      })
      expect(bare.status).toBe(403)
      const codeOnly = await bearer('POST', '/me/mfa/recovery-codes', user.access, {
        recovery_code: user.recoveryCodes[1],
      })
      expect(codeOnly.status).toBe(422)
      const wrongPassword = await bearer('POST', '/me/mfa/recovery-codes', user.access, {
        current_password: 'not the password',
        recovery_code: user.recoveryCodes[1],
      })
      expect(wrongPassword.status).toBe(403)
      const wrongCode = await bearer('POST', '/me/mfa/recovery-codes', user.access, {
        current_password: PASSWORD,
        otp: '12345x',
      })
      expect(wrongCode.status).toBe(403)
      const res = await bearer('POST', '/me/mfa/recovery-codes', user.access, {
        current_password: PASSWORD,
        otp: await user.app.code(),
      })
      expect(res.status).toBe(200)
      const { recovery_codes } = await res.json()
      expect(recovery_codes).toHaveLength(10)
      await expectInvalidGrant(
        await mfaGrant({
          mfa_token: await mfaToken(user.username),
          recovery_code: user.recoveryCodes[0] as string,
        }),
      )
      const fresh = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        recovery_code: recovery_codes[9],
      })
      expect(fresh.status).toBe(200)
    })
  })

  describe("code windows and expiries, on the server's two-factor clock", () => {
    let offsetMs = 0
    /** Sets how far the server's two-factor clock runs from the real one. */
    async function moveClock(ms: number) {
      const res = await target().fetch('/_test/mfa-clock', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ offset_ms: Math.round(ms) }),
      })
      expect(res.status, await res.clone().text()).toBe(200)
      offsetMs = Math.round(ms)
    }
    afterEach(() => moveClock(0))
    /** The time step of the server's two-factor clock now. */
    const serverStep = () => Math.floor((Date.now() + offsetMs) / 30_000)
    /** Moves the server's clock so that it is 5 seconds into `step` (25 s before the next one). */
    const pinTo = (step: number) => moveClock(step * 30_000 + 5_000 - Date.now())
    const codeAt = (secret: string, step: number) => hotpCode(fromBase32(secret), step)

    it("accepts a code one step before or after the server's, not two, and each step once", async () => {
      const user = await enrolledUser('drift')
      // Ten minutes ahead, clear of the steps the enrolment used.
      const step = serverStep() + 20
      const attempt = async (otpStep: number) => {
        await pinTo(step)
        const mfa_token = await mfaToken(user.username)
        return mfaGrant({ mfa_token, otp: codeAt(user.app.secret, otpStep) })
      }
      await expectInvalidGrant(await attempt(step - 2))
      await expectInvalidGrant(await attempt(step + 2))
      expect((await attempt(step - 1)).status).toBe(200)
      // Replay within the window: the same code again, then through another request at once.
      await expectInvalidGrant(await attempt(step - 1))
      expect((await attempt(step)).status).toBe(200)
      await expectInvalidGrant(await attempt(step))
      // An older step's code, still inside the drift, after a newer one was used.
      await expectInvalidGrant(await attempt(step - 1))
      expect((await attempt(step + 1)).status).toBe(200)
    })

    it('an mfa_token lives 5 minutes', async () => {
      const user = await enrolledUser('ttl')
      const issuedAt = Date.now()
      const [early, late] = [await mfaToken(user.username), await mfaToken(user.username)]
      await moveClock(issuedAt + 290_000 - Date.now())
      const inTime = await mfaGrant({
        mfa_token: early,
        otp: codeAt(user.app.secret, serverStep()),
      })
      expect(inTime.status, await inTime.clone().text()).toBe(200)
      await moveClock(issuedAt + 301_000 - Date.now())
      // The next step's code (inside the drift), so the code is fresh whichever step 290 s fell in.
      const expired = await mfaGrant({
        mfa_token: late,
        otp: codeAt(user.app.secret, serverStep() + 1),
      })
      expect((await expired.clone().json()).error_description).toMatch(/mfa_token/)
      await expectInvalidGrant(expired)
    })

    it('an enrolment waits 10 minutes for its code', async () => {
      for (const [waitSeconds, status] of [
        [590, 200],
        [601, 409],
      ] as const) {
        const { username } = await registerUser(target, 'enrolttl')
        const { access_token } = await (await login({ username, password: PASSWORD })).json()
        const startedAt = Date.now()
        const started = await bearer('POST', '/me/mfa/totp', access_token, {
          current_password: PASSWORD,
        })
        expect(started.status).toBe(200)
        const secret = secretOfUri((await started.json()).otpauth_uri)
        await moveClock(startedAt + waitSeconds * 1000 - Date.now())
        const confirmed = await bearer('POST', '/me/mfa/totp/confirm', access_token, {
          otp: codeAt(secret, serverStep()),
        })
        expect(confirmed.status, `after ${waitSeconds} s`).toBe(status)
        expect((await (await bearer('GET', '/me', access_token)).json()).totp_enabled).toBe(
          status === 200,
        )
        await moveClock(0)
      }
    })
  })

  describe('the account endpoints with TOTP on', () => {
    it('a password change needs a second factor: none or a wrong one is a 403, a right one a 204', async () => {
      const user = await enrolledUser('chpw')
      const change = (extra: Record<string, string>) =>
        bearer('PUT', '/me/password', user.access, {
          current_password: PASSWORD,
          new_password: 'another good passphrase',
          ...extra,
        })
      const none = await change({})
      expect(none.status).toBe(403)
      expect(await none.json()).toEqual({ detail: expect.stringMatching(/otp/) })
      expect((await change({ otp: '000000' })).status).toBe(403)
      const ok = await change({ recovery_code: user.recoveryCodes[0] as string })
      expect(ok.status).toBe(204)
      const res = await login({ username: user.username, password: 'another good passphrase' })
      expect(res.status).toBe(403)
    })

    it('deleting the account needs a second factor', async () => {
      const user = await enrolledUser('delete')
      const none = await bearer('DELETE', '/me', user.access, { current_password: PASSWORD })
      expect(none.status).toBe(403)
      const wrong = await bearer('DELETE', '/me', user.access, {
        current_password: PASSWORD,
        recovery_code: 'aaaa-bbbb-cccc-dddd',
      })
      expect(wrong.status).toBe(403)
      expect((await bearer('GET', '/me', user.access)).status).toBe(200)
      const ok = await bearer('DELETE', '/me', user.access, {
        current_password: PASSWORD,
        otp: await user.app.code(),
      })
      expect(ok.status).toBe(204)
      expect((await login({ username: user.username, password: PASSWORD })).status).toBe(401)
    })

    it('turning TOTP off needs the password and a code; the password alone logs in again', async () => {
      const user = await enrolledUser('disable')
      const noCode = await bearer('DELETE', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
      })
      expect(noCode.status).toBe(403)
      const wrongCode = await bearer('DELETE', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
        otp: '12345x',
      })
      expect(wrongCode.status).toBe(403)
      expect((await (await bearer('GET', '/me', user.access)).json()).totp_enabled).toBe(true)
      const wrongPassword = await bearer('DELETE', '/me/mfa/totp', user.access, {
        current_password: 'not the password',
        recovery_code: user.recoveryCodes[0],
      })
      expect(wrongPassword.status).toBe(403)
      const ok = await bearer('DELETE', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
        recovery_code: user.recoveryCodes[0],
      })
      expect(ok.status).toBe(204)
      expect((await (await bearer('GET', '/me', user.access)).json()).totp_enabled).toBe(false)
      const res = await login({ username: user.username, password: PASSWORD })
      expect(res.status).toBe(200)
      expect(claimsOf((await res.json()).access_token).amr).toEqual(['pwd'])
      const again = await bearer('DELETE', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
      })
      expect(again.status).toBe(409)
    })
  })

  describe('logs and documentation', () => {
    it('never log a secret, a code, a recovery code or an mfa_token, on success or failure', async () => {
      const user = await enrolledUser('mfalog')
      const [wrongOtp, wrongRecovery] = ['98765x', 'zzzz-yyyy-xxxx-wwww']
      const failed = [await mfaToken(user.username), await mfaToken(user.username)]
      await expectInvalidGrant(await mfaGrant({ mfa_token: failed[0] as string, otp: wrongOtp }))
      await expectInvalidGrant(
        await mfaGrant({ mfa_token: failed[1] as string, recovery_code: wrongRecovery }),
      )
      const unknown = 'U'.repeat(43)
      await expectInvalidGrant(await mfaGrant({ mfa_token: unknown, otp: '123456' }))
      const token = await mfaToken(user.username)
      const code = await user.app.code()
      const ok = await mfaGrant({ mfa_token: token, otp: code })
      expect(ok.status).toBe(200)
      const tokens = await ok.json()
      const recovered = await mfaGrant({
        mfa_token: await mfaToken(user.username),
        recovery_code: user.recoveryCodes[0] as string,
      })
      expect(recovered.status).toBe(200)
      const renewed = await bearer('POST', '/me/mfa/recovery-codes', user.access, {
        current_password: PASSWORD,
        recovery_code: user.recoveryCodes[1],
      })
      expect(renewed.status).toBe(200)
      const { recovery_codes } = await renewed.json()
      const started = await bearer('POST', '/me/mfa/totp', user.access, {
        current_password: PASSWORD,
        recovery_code: recovery_codes[0],
      })
      expect(started.status).toBe(200)
      const pending = (await started.json()).secret
      // Servers write a moment after answering: wait for the re-enrolment's line (the second).
      const startedLine = '"event":"mfa_enrolment_started"'
      const mine = `"user_id":${user.id}`
      for (let waited = 0; waited < 5000; waited += 50) {
        const lines = target().logs().split('\n')
        if (lines.filter((l) => l.includes(startedLine) && l.includes(mine)).length >= 2) break
        await sleep(50)
      }
      const logs = target().logs()
      for (const event of ['mfa_enabled', 'authn_mfa_fail', 'mfa_recovery_code_used']) {
        expect(logs).toContain(`"event":"${event}"`)
      }
      const secrets = [
        user.app.secret,
        pending,
        ...failed,
        unknown,
        token,
        tokens.access_token,
        tokens.refresh_token,
        wrongRecovery,
        ...user.recoveryCodes,
        ...recovery_codes,
      ]
      for (const secret of secrets) {
        expect(logs).not.toContain(secret)
        expect(logs).not.toContain(secret.replaceAll('-', ''))
      }
      // A six-digit code could occur inside a random id by chance: look for it as a logged value.
      for (const sent of [code, wrongOtp]) expect(logs).not.toContain(`"${sent}"`)
    })

    it('the OpenAPI document has the TOTP routes, the mfa_required answer and the grant', async () => {
      const doc = await (await target().fetch('/openapi.json')).json()
      for (const path of ['/me/mfa/totp', '/me/mfa/totp/confirm', '/me/mfa/recovery-codes']) {
        expect(doc.paths[path]).toBeDefined()
      }
      expect(doc.paths['/token'].post.responses['403']).toBeDefined()
      expect(doc.components.schemas.MfaRequired).toBeDefined()
      expect(JSON.stringify(doc.paths['/token'])).toContain(MFA_GRANT)
    })
  })
}
