/**
 * Two-factor login in process, where the clock can move: code windows (drift of one step, replay
 * within a window, codes of older steps), the mfa_token's expiry, enrolment expiry, the login
 * throttle across password and code attempts, what the tables hold (encrypted secret, hashed
 * recovery codes and mfa_tokens), and the RFC 6238 test vectors of src/auth/totp.ts. The flows a
 * user sees run on every runtime and driver in test/contract/mfa.ts.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MFA_OTP_GRANT } from '../src/auth/mfa'
import { createSecretBox } from '../src/auth/secret-box'
import { base32Decode, base32Encode, matchTotpStep, otpauthUri, totpCode } from '../src/auth/totp'
import { parseConfig } from '../src/config'
import { ConfigError } from '../src/config-error'
import { makeTestApp, type TestApp } from './support/app'
import { hotpCode, secretOfUri, totpNow } from './support/totp'

const password = 'correct horse battery staple'
let counter = 0
const uniqueName = (prefix: string) =>
  `${prefix}${++counter}_${Math.random().toString(36).slice(2, 8)}`

describe('RFC 6238 (src/auth/totp.ts)', () => {
  // RFC 6238 Appendix B, SHA-1: the 8-digit values' last 6 digits.
  const secret = new TextEncoder().encode('12345678901234567890')
  it.each([
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
    [20000000000, '353130'],
  ])('at %i s the code is %s', async (seconds, code) => {
    expect(await totpCode(secret, Math.floor(seconds / 30))).toBe(code)
    expect(hotpCode(Buffer.from(secret), Math.floor(seconds / 30))).toBe(code)
  })

  it('base32 round-trips and matches RFC 4648 vectors', () => {
    expect(base32Encode(new TextEncoder().encode('foobar'))).toBe('MZXW6YTBOI')
    expect(new TextDecoder().decode(base32Decode('mzxw 6ytb oi=='))).toBe('foobar')
    expect(() => base32Decode('M1')).toThrow(RangeError)
  })

  it('accepts one step of drift either way, not two, and never a used step again', async () => {
    const now = 1_750_000_000_000
    const step = Math.floor(now / 30_000)
    const at = (offset: number) => hotpCode(Buffer.from(secret), step + offset)
    expect(await matchTotpStep(secret, at(0), now, null)).toBe(step)
    expect(await matchTotpStep(secret, at(-1), now, null)).toBe(step - 1)
    expect(await matchTotpStep(secret, at(1), now, null)).toBe(step + 1)
    expect(await matchTotpStep(secret, at(2), now, null)).toBeUndefined()
    expect(await matchTotpStep(secret, at(-2), now, null)).toBeUndefined()
    expect(await matchTotpStep(secret, at(0), now, step)).toBeUndefined()
    expect(await matchTotpStep(secret, at(-1), now, step - 1)).toBeUndefined()
    expect(await matchTotpStep(secret, at(1), now, step)).toBe(step + 1)
    expect(await matchTotpStep(secret, '12345', now, null)).toBeUndefined()
    expect(await matchTotpStep(secret, '１２３４５６', now, null)).toBeUndefined()
  })

  it('writes the key URI authenticator apps read', () => {
    const uri = otpauthUri('JBSWY3DPEHPK3PXP', 'alice smith', 'Chat & Co')
    const url = new URL(uri)
    expect(url.protocol).toBe('otpauth:')
    expect(url.host).toBe('totp')
    expect(decodeURIComponent(url.pathname)).toBe('/Chat & Co:alice smith')
    expect(Object.fromEntries(url.searchParams)).toEqual({
      secret: 'JBSWY3DPEHPK3PXP',
      issuer: 'Chat & Co',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    })
  })
})

describe('MFA_ENCRYPTION_KEY', () => {
  const key = Buffer.alloc(32, 7)
  it('takes 32 bytes in base64 or base64url', () => {
    for (const text of [key.toString('base64'), key.toString('base64url')]) {
      const { mfa } = parseConfig({ MFA_ENCRYPTION_KEY: text })
      expect(Buffer.from(mfa.encryptionKey ?? [])).toEqual(key)
      expect(mfa.ephemeralKey).toBe(false)
    }
  })

  it('refuses another length, naming the setting and never the value', () => {
    const text = Buffer.alloc(16, 9).toString('base64')
    const parse = () => parseConfig({ MFA_ENCRYPTION_KEY: text })
    expect(parse).toThrow(ConfigError)
    expect(parse).toThrow(/MFA_ENCRYPTION_KEY/)
    try {
      parse()
    } catch (error) {
      expect(String(error)).not.toContain(text)
    }
  })

  it('without it: a key for the process in development, two-factor login off in production', () => {
    const dev = parseConfig({})
    expect(dev.mfa.encryptionKey).toHaveLength(32)
    expect(dev.mfa.ephemeralKey).toBe(true)
    expect(dev.warnings.join('\n')).toMatch(/MFA_ENCRYPTION_KEY is not set: using a random key/)
    const prod = parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) })
    expect(prod.mfa.encryptionKey).toBeUndefined()
    expect(prod.warnings.join('\n')).toMatch(/two-factor login is off/)
  })
})

describe('MFA_TEST_CLOCK', () => {
  it('is refused outside NODE_ENV=test, naming the setting', () => {
    for (const NODE_ENV of ['production', 'development']) {
      const parse = () =>
        parseConfig({ NODE_ENV, MFA_TEST_CLOCK: 'true', JWT_SECRET: 'x'.repeat(32) })
      expect(parse).toThrow(ConfigError)
      expect(parse).toThrow(/MFA_TEST_CLOCK/)
    }
    expect(parseConfig({ NODE_ENV: 'test', MFA_TEST_CLOCK: 'true' }).mfa.testClock).toBe(true)
    expect(parseConfig({ NODE_ENV: 'test' }).mfa.testClock).toBe(false)
  })

  it('without it there is no clock to move: PUT /_test/mfa-clock is a 404', async () => {
    const t = await makeTestApp()
    try {
      const res = await t.app.request('/_test/mfa-clock', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ offset_ms: 301_000 }),
      })
      expect(res.status).toBe(404)
    } finally {
      await t.close()
    }
  })
})

describe('the secret box', () => {
  it('decrypts only with its key, for the account it was sealed for', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32))
    const box = createSecretBox(key)
    const sealed = await box.seal('JBSWY3DPEHPK3PXP', 7)
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP')
    expect(await box.open(sealed, 7)).toBe('JBSWY3DPEHPK3PXP')
    await expect(box.open(sealed, 8)).rejects.toThrow()
    const other = createSecretBox(crypto.getRandomValues(new Uint8Array(32)))
    await expect(other.open(sealed, 7)).rejects.toThrow()
    expect(await box.seal('JBSWY3DPEHPK3PXP', 7)).not.toBe(sealed)
  })
})

describe('two-factor login on a fake clock', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp()
  })
  afterAll(() => t.close())

  const form = (fields: Record<string, string>) =>
    t.app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  const mfaGrant = (mfaToken: string, fields: Record<string, string>) =>
    form({ grant_type: MFA_OTP_GRANT, mfa_token: mfaToken, ...fields })

  /** A user with TOTP on: their id, name, secret and recovery codes, and the app's clock moved past the enrolment code's step. */
  async function enrolled(prefix = 'mfa') {
    const username = uniqueName(prefix)
    const created = await t.register({ name: 'Mfa User', username, password })
    const { id } = await created.json()
    const login = await t.login({ username, password })
    const { access_token } = await login.json()
    const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
      current_password: password,
    })
    expect(started.status).toBe(200)
    const secret = secretOfUri((await started.json()).otpauth_uri)
    const confirmed = await t.bearer('POST', '/me/mfa/totp/confirm', access_token, {
      otp: totpNow(secret, t.clock.now()),
    })
    expect(confirmed.status).toBe(200)
    const { recovery_codes } = await confirmed.json()
    t.clock.advance(30)
    return { id: id as number, username, secret, recoveryCodes: recovery_codes as string[] }
  }

  async function challenge(username: string): Promise<string> {
    const res = await t.login({ username, password })
    expect(res.status).toBe(403)
    return (await res.json()).mfa_token
  }

  it('stores the secret encrypted, the recovery codes and the mfa_token as hashes', async () => {
    const user = await enrolled()
    const [row] = await t.query(
      'select secret, recovery_codes, enabled_at, last_used_step, pending_secret from user_totp where user_id = $1',
      [user.id],
    )
    expect(row?.secret).toMatch(/^v1\./)
    expect(String(row?.secret)).not.toContain(user.secret)
    expect(row?.pending_secret).toBeNull()
    const stored = row?.recovery_codes as string[]
    // Exactly the SHA-256 of each code shown (lower case, no dashes), computed here apart from the service.
    const sha256 = (code: string) =>
      createHash('sha256').update(code.replaceAll('-', '')).digest('hex')
    expect([...stored].sort()).toEqual(user.recoveryCodes.map(sha256).sort())
    for (const code of user.recoveryCodes) {
      expect(stored.join()).not.toContain(code)
      expect(stored.join()).not.toContain(code.replaceAll('-', ''))
    }
    const mfaToken = await challenge(user.username)
    const challenges = await t.query('select token_hash from mfa_challenges where user_id = $1', [
      user.id,
    ])
    expect(challenges).toHaveLength(1)
    expect(challenges[0]?.token_hash).not.toBe(mfaToken)
    for (const line of t.logs) {
      expect(line).not.toContain(user.secret)
      expect(line).not.toContain(mfaToken)
      for (const code of user.recoveryCodes) expect(line).not.toContain(code)
    }
  })

  it('stores a pending secret encrypted too', async () => {
    const username = uniqueName('pending')
    const { id } = await (await t.register({ name: 'Pending', username, password })).json()
    const { access_token } = await (await t.login({ username, password })).json()
    const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
      current_password: password,
    })
    const { secret } = await started.json()
    const [row] = await t.query('select pending_secret, secret from user_totp where user_id = $1', [
      id,
    ])
    expect(row?.secret).toBeNull()
    expect(row?.pending_secret).toMatch(/^v1\./)
    expect(String(row?.pending_secret)).not.toContain(secret)
  })

  it('the start of an enrolment checks the current password under the login throttle: a wrong one writes nothing and is counted, the right one resets the count', async () => {
    const username = uniqueName('startpw')
    const { id } = await (await t.register({ name: 'Start', username, password })).json()
    const { access_token } = await (await t.login({ username, password })).json()
    const start = (current_password: string) =>
      t.bearer('POST', '/me/mfa/totp', access_token, { current_password })
    const counted = async () =>
      (await t.query('select attempts from auth_throttle where key = $1', [`login-user:${id}`]))[0]
        ?.attempts
    const wrong = await start('not the password')
    expect(wrong.status).toBe(403)
    expect(await wrong.json()).toEqual({ detail: 'Incorrect password' })
    expect(await t.query('select 1 from user_totp where user_id = $1', [id])).toEqual([])
    expect(await counted()).toBe(1)
    const failure = t.logs
      .map((line) => JSON.parse(line))
      .find((line) => line.event === 'mfa_enrolment_fail' && line.user_id === id)
    expect(failure).toMatchObject({ reason: 'wrong_password' })
    expect(t.logs.join('\n')).not.toContain('not the password')

    const right = await start(password)
    expect(right.status).toBe(200)
    const [row] = await t.query('select pending_secret from user_totp where user_id = $1', [id])
    expect(row?.pending_secret).toMatch(/^v1\./)
    expect(await counted()).toBeUndefined()
  })

  it('accepts a code one step old or ahead, not two', async () => {
    const user = await enrolled()
    // Clear of the enrolment code's step, so the previous step's code is a fresh one.
    t.clock.advance(30)
    const now = t.clock.now()
    const ok = await mfaGrant(await challenge(user.username), {
      otp: totpNow(user.secret, now, -1),
    })
    expect(ok.status).toBe(200)
    t.clock.advance(90)
    const ahead = await mfaGrant(await challenge(user.username), {
      otp: totpNow(user.secret, t.clock.now(), 1),
    })
    expect(ahead.status).toBe(200)
    t.clock.advance(120)
    for (const offset of [-2, 2]) {
      const res = await mfaGrant(await challenge(user.username), {
        otp: totpNow(user.secret, t.clock.now(), offset),
      })
      expect(res.status).toBe(400)
      expect((await res.json()).error).toBe('invalid_grant')
    }
  })

  it('refuses a code again within its window, and an older step after a newer one', async () => {
    const user = await enrolled()
    const code = totpNow(user.secret, t.clock.now())
    expect((await mfaGrant(await challenge(user.username), { otp: code })).status).toBe(200)
    t.clock.advance(10)
    const replay = await mfaGrant(await challenge(user.username), { otp: code })
    expect(replay.status).toBe(400)
    // The previous step's code is within the drift, but older than the one used.
    const older = await mfaGrant(await challenge(user.username), {
      otp: totpNow(user.secret, t.clock.now(), -1),
    })
    expect(older.status).toBe(400)
    t.clock.advance(30)
    const next = await mfaGrant(await challenge(user.username), {
      otp: totpNow(user.secret, t.clock.now()),
    })
    expect(next.status).toBe(200)
  })

  it('one code sent with two mfa_tokens at once logs in once', async () => {
    const user = await enrolled()
    const [a, b] = [await challenge(user.username), await challenge(user.username)]
    const code = totpNow(user.secret, t.clock.now())
    const results = await Promise.all([mfaGrant(a, { otp: code }), mfaGrant(b, { otp: code })])
    expect(results.map((r) => r.status).sort()).toEqual([200, 400])
  })

  it('an mfa_token expires after 5 minutes', async () => {
    const user = await enrolled()
    const mfaToken = await challenge(user.username)
    t.clock.advance(301)
    const res = await mfaGrant(mfaToken, { otp: totpNow(user.secret, t.clock.now()) })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(/mfa_token/)
  })

  it('an mfa_token works once, also after a wrong code', async () => {
    const user = await enrolled()
    const mfaToken = await challenge(user.username)
    expect((await mfaGrant(mfaToken, { otp: '000000' })).status).toBe(400)
    const again = await mfaGrant(mfaToken, { otp: totpNow(user.secret, t.clock.now()) })
    expect(again.status).toBe(400)
    expect((await again.json()).error_description).toMatch(/mfa_token/)
  })

  it('wrong codes count against the account like wrong passwords; a login resets the count', async () => {
    const user = await enrolled()
    const wrong = async () => {
      const mfaToken = await challenge(user.username)
      return mfaGrant(mfaToken, { otp: '000000' })
    }
    // Each round: a right password (given back) and a wrong code (counted).
    for (let i = 0; i < 5; i++) expect((await wrong()).status).toBe(400)
    const blocked = await t.login({ username: user.username, password })
    expect(blocked.status).toBe(429)
    t.clock.advance(901)
    const mfaToken = await challenge(user.username)
    const ok = await mfaGrant(mfaToken, { otp: totpNow(user.secret, t.clock.now()) })
    expect(ok.status).toBe(200)
    const [row] = await t.query('select key from auth_throttle where key = $1', [
      `login-user:${user.id}`,
    ])
    expect(row).toBeUndefined()
  })

  it('wrong passwords and wrong codes share one count: four of one and one of the other block', async () => {
    const user = await enrolled()
    for (let i = 0; i < 4; i++) {
      const res = await t.login({ username: user.username, password: 'wrong password' })
      expect(res.status).toBe(401)
    }
    const mfaToken = await challenge(user.username)
    expect((await mfaGrant(mfaToken, { otp: '000000' })).status).toBe(400)
    expect((await t.login({ username: user.username, password })).status).toBe(429)
  })

  it('a ban comes before the second factor: no mfa_token for a banned account, no session for one banned between the steps', async () => {
    const user = await enrolled('banned')
    const mfaToken = await challenge(user.username)
    // A ban as the admin API writes it (its own tests are in admin.test.ts).
    const ban = (id: number) =>
      t.query('update users set banned_at = $2, ban_reason = $3 where id = $1', [
        id,
        new Date(t.clock.now()).toISOString(),
        'test',
      ])
    const sessionsOf = (id: number) =>
      t.query('select 1 from refresh_tokens where user_id = $1', [id])
    const before = (await sessionsOf(user.id)).length
    await ban(user.id)
    const between = await mfaGrant(mfaToken, { otp: totpNow(user.secret, t.clock.now()) })
    expect(between.status).toBe(403)
    expect(await between.json()).toEqual({ detail: 'This account is banned' })
    expect(await sessionsOf(user.id)).toHaveLength(before)

    const login = await t.login({ username: user.username, password })
    expect(login.status).toBe(403)
    const body = await login.json()
    expect(body).toEqual({ detail: 'This account is banned' })
    const waiting = await t.query(
      'select 1 from mfa_challenges where user_id = $1 and consumed_at is null',
      [user.id],
    )
    expect(waiting).toHaveLength(0)
  })

  it('a recovery code logs in once, and regenerating replaces the set', async () => {
    const user = await enrolled()
    const [first, second] = user.recoveryCodes as [string, string]
    const ok = await mfaGrant(await challenge(user.username), {
      recovery_code: first.toUpperCase(),
    })
    expect(ok.status).toBe(200)
    const again = await mfaGrant(await challenge(user.username), { recovery_code: first })
    expect(again.status).toBe(400)
    const [row] = await t.query(
      'select cardinality(recovery_codes) as left from user_totp where user_id = $1',
      [user.id],
    )
    expect(row?.left).toBe(9)
    const { access_token } = await ok.json()
    const renewed = await t.bearer('POST', '/me/mfa/recovery-codes', access_token, {
      current_password: password,
      otp: totpNow(user.secret, t.clock.now()),
    })
    expect(renewed.status).toBe(200)
    const { recovery_codes } = await renewed.json()
    expect(recovery_codes).toHaveLength(10)
    const old = await mfaGrant(await challenge(user.username), { recovery_code: second })
    expect(old.status).toBe(400)
    const fresh = await mfaGrant(await challenge(user.username), {
      recovery_code: recovery_codes[0],
    })
    expect(fresh.status).toBe(200)
  })

  it('wrong confirmation codes count as failed logins; a right one gives back its own attempt only', async () => {
    const username = uniqueName('confirm')
    await t.register({ name: 'Confirm', username, password })
    const { access_token } = await (await t.login({ username, password })).json()
    const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
      current_password: password,
    })
    const secret = secretOfUri((await started.json()).otpauth_uri)
    const right = totpNow(secret, t.clock.now())
    const wrong = right === '000000' ? '000001' : '000000'
    for (let i = 0; i < 4; i++) {
      const res = await t.bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: wrong })
      expect(res.status).toBe(403)
    }
    const confirmed = await t.bearer('POST', '/me/mfa/totp/confirm', access_token, { otp: right })
    expect(confirmed.status).toBe(200)
    // Four failures stay counted: one wrong password more blocks the account.
    expect((await t.login({ username, password: 'wrong password' })).status).toBe(401)
    const blocked = await t.login({ username, password })
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('an enrolment not confirmed within 10 minutes expires', async () => {
    const username = uniqueName('late')
    await t.register({ name: 'Late', username, password })
    const { access_token } = await (await t.login({ username, password })).json()
    const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
      current_password: password,
    })
    const secret = secretOfUri((await started.json()).otpauth_uri)
    t.clock.advance(601)
    const res = await t.bearer('POST', '/me/mfa/totp/confirm', access_token, {
      otp: totpNow(secret, t.clock.now()),
    })
    expect(res.status).toBe(409)
    expect((await t.login({ username, password })).status).toBe(200)
  })

  it('the secret cannot be read under another key: a login with a code is refused, never let through', async () => {
    const user = await enrolled()
    await t.query(
      `update user_totp set secret = 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' where user_id = $1`,
      [user.id],
    )
    const res = await mfaGrant(await challenge(user.username), {
      otp: totpNow(user.secret, t.clock.now()),
    })
    expect(res.status).toBe(400)
    expect(t.logs.join('\n')).toContain('"reason":"unreadable_secret"')
    // Recovery codes are hashed, not encrypted: they still log in, so TOTP can be turned off.
    const recovered = await mfaGrant(await challenge(user.username), {
      recovery_code: user.recoveryCodes[0] as string,
    })
    expect(recovered.status).toBe(200)
    const off = await t.bearer('DELETE', '/me/mfa/totp', (await recovered.json()).access_token, {
      current_password: password,
      recovery_code: user.recoveryCodes[1],
    })
    expect(off.status).toBe(204)
  })
})

describe('two-factor login off (no MFA_ENCRYPTION_KEY in production)', () => {
  it('refuses enrolment, and a password alone never logs in an account that has TOTP', async () => {
    const t = await makeTestApp()
    try {
      const username = uniqueName('off')
      await t.register({ name: 'Off', username, password })
      const { access_token } = await (await t.login({ username, password })).json()
      const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
        current_password: password,
      })
      const secret = secretOfUri((await started.json()).otpauth_uri)
      await t.bearer('POST', '/me/mfa/totp/confirm', access_token, {
        otp: totpNow(secret, t.clock.now()),
      })
      const off = t.instance(undefined, {
        encryptionKey: undefined,
        ephemeralKey: false,
        issuer: 'x',
      })
      const login = await off.request('/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password }).toString(),
      })
      expect(login.status).toBe(503)
      const enrol = await off.request('/me/mfa/totp', {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ current_password: password }),
      })
      expect(enrol.status).toBe(503)
    } finally {
      await t.close()
    }
  })
})
