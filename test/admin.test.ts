/**
 * The admin API in process, where the clock moves and settings differ from the contract servers':
 * a ban's end passing by itself, the address limit on failed admin credentials (429), paging
 * through accounts created in one millisecond, last login, a ban that lands while a login is
 * checking the password, what the removal of a second factor deletes (and leaves), ADMIN_API_KEYS
 * parsing, and what the logs say. What a user and an operator
 * see over HTTP (lock-out, refusals, every endpoint's bad input) is in the contract suite
 * (test/contract/admin.ts), which runs on every runtime and driver.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { adminKeyHash, matchAdminKey, newAdminKey } from '../src/auth/admin-keys'
import { createPasswordHasher } from '../src/auth/password'
import { createSessionService, DEFAULT_SESSION_OPTIONS } from '../src/auth/sessions'
import { DEFAULT_SECURITY, parseConfig } from '../src/config'
import { ConfigError } from '../src/config-error'
import { makeTestApp, TEST_PEER_HEADER, type TestApp, type TestAppOptions } from './support/app'
import { secretOfUri, totpNow } from './support/totp'

const password = 'correct horse battery staple'
const KEY = newAdminKey()

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

async function adminApp(options: TestAppOptions = {}) {
  t = await makeTestApp({
    admin: { keys: [{ name: 'ops', sha256: await adminKeyHash(KEY) }] },
    ...options,
  })
  return t
}

const asAdmin = (app: TestApp, method: string, path: string, body?: unknown, key = KEY) =>
  app.app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

async function register(app: TestApp, username: string) {
  const res = await app.register({ name: 'Admin Test', username, password })
  expect(res.status).toBe(201)
  return ((await res.json()) as { id: number }).id
}

describe('admin API keys', () => {
  it('match only a configured key, by its SHA-256', async () => {
    const other = newAdminKey()
    expect(other).toMatch(/^eak_[A-Za-z0-9_-]{43}$/)
    expect(other).not.toBe(KEY)
    const keys = [
      { name: 'a', sha256: await adminKeyHash(other) },
      { name: 'b', sha256: await adminKeyHash(KEY) },
    ]
    expect((await matchAdminKey(keys, KEY))?.name).toBe('b')
    expect(await matchAdminKey(keys, newAdminKey())).toBeUndefined()
    expect(await matchAdminKey(keys, keys[1]?.sha256 ?? '')).toBeUndefined()
  })

  it('are configured as name:sha256 entries, never as the key itself', async () => {
    const hash = await adminKeyHash(KEY)
    const config = parseConfig({ ADMIN_API_KEYS: `ops:${hash}, ci:${hash.toUpperCase()}` })
    expect(config.admin.keys).toEqual([
      { name: 'ops', sha256: hash },
      { name: 'ci', sha256: hash },
    ])
    expect(parseConfig({}).admin.keys).toEqual([])
    for (const bad of [KEY, `ops:${KEY}`, `:${hash}`, `ops:${hash.slice(1)}`, `a b:${hash}`]) {
      expect(() => parseConfig({ ADMIN_API_KEYS: bad })).toThrow(ConfigError)
    }
    expect(() => parseConfig({ ADMIN_API_KEYS: `ops:${hash},ops:${hash}` })).toThrow(/twice/)
    try {
      parseConfig({ ADMIN_API_KEYS: `ops:${KEY}` })
    } catch (error) {
      expect(String(error)).not.toContain(KEY)
    }
  })
})

describe('admin API', () => {
  it('is off (404) without keys', async () => {
    t = await makeTestApp()
    const res = await asAdmin(t, 'GET', '/admin/users')
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'Not Found' })
  })

  it('counts missing and wrong credentials as failed logins of the address: 429 past the limit', async () => {
    const app = await adminApp({
      security: {
        throttle: {
          ...DEFAULT_SECURITY.throttle,
          loginAddress: { max: 3, windowSeconds: 900, lockoutSeconds: 600 },
        },
      },
    })
    const from = (address: string, authorization?: string) =>
      app.app.request('/admin/users', {
        headers: {
          [TEST_PEER_HEADER]: address,
          ...(authorization === undefined ? {} : { authorization }),
        },
      })
    expect((await from('192.0.2.7')).status).toBe(401)
    expect((await from('192.0.2.7', `Bearer ${newAdminKey()}`)).status).toBe(401)
    expect((await from('192.0.2.7', 'Bearer nonsense')).status).toBe(401)
    const blocked = await from('192.0.2.7', `Bearer ${newAdminKey()}`)
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
    // While the block lasts, even the right key is refused from there, as a right password is.
    expect((await from('192.0.2.7', `Bearer ${KEY}`)).status).toBe(429)
    expect((await from('192.0.2.8', `Bearer ${KEY}`)).status).toBe(200)
    app.clock.advance(601)
    expect((await from('192.0.2.7', `Bearer ${KEY}`)).status).toBe(200)
  })

  it('lets an expired ban end by itself', async () => {
    const app = await adminApp()
    const id = await register(app, 'tempban')
    const until = new Date(app.clock.ms + 3600_000).toISOString()
    const banned = await asAdmin(app, 'POST', `/admin/users/${id}/ban`, {
      reason: 'cool off',
      until,
    })
    expect(banned.status).toBe(200)
    expect(await banned.json()).toMatchObject({ banned: true, ban: { reason: 'cool off', until } })
    const refused = await app.login({ username: 'tempban', password })
    expect(refused.status).toBe(403)
    expect(await refused.json()).toEqual({ detail: `This account is banned until ${until}` })
    app.clock.advance(3601)
    expect((await app.login({ username: 'tempban', password })).status).toBe(200)
    const read = await asAdmin(app, 'GET', `/admin/users/${id}`)
    expect(await read.json()).toMatchObject({ banned: false, ban: null, active_sessions: 1 })
  })

  it('records the last login with the session, and still upgrades an old hash in that statement', async () => {
    const app = await adminApp()
    const id = await register(app, 'lastlogin')
    const before = await (await asAdmin(app, 'GET', `/admin/users/${id}`)).json()
    expect(before.last_login_at).toBeNull()
    // A hash made with other parameters is replaced by the login (compare-and-set).
    const old = await createPasswordHasher({
      params: { memoryKiB: 512, iterations: 1, parallelism: 1 },
    }).hash(password)
    await app.query('update users set hashed_password = $1 where id = $2', [old, id])
    app.clock.advance(5)
    expect((await app.login({ username: 'lastlogin', password: 'wrong password' })).status).toBe(
      401,
    )
    const [stored] = await app.query('select hashed_password from users where id = $1', [id])
    expect(stored?.hashed_password).toContain('m=512')
    expect((await app.login({ username: 'lastlogin', password })).status).toBe(200)
    const after = await (await asAdmin(app, 'GET', `/admin/users/${id}`)).json()
    expect(after.last_login_at).toBe(new Date(app.clock.ms).toISOString())
    const [upgraded] = await app.query('select hashed_password from users where id = $1', [id])
    expect(upgraded?.hashed_password).toContain('m=256')
  })

  it('starts no session for an account banned while its login checked the password', async () => {
    const app = await adminApp()
    const id = await register(app, 'racer')
    expect((await asAdmin(app, 'POST', `/admin/users/${id}/ban`, { reason: 'race' })).status).toBe(
      200,
    )
    const sessions = createSessionService({
      db: app.handle.db,
      options: DEFAULT_SESSION_OPTIONS,
      now: app.clock.now,
    })
    expect(await sessions.start({ id, username: 'racer' })).toBeNull()
    const [row] = await app.query('select last_login_at from users where id = $1', [id])
    expect(row?.last_login_at).toBeNull()
  })

  it('pages through accounts created in the same instant without repeating or skipping one', async () => {
    const app = await adminApp()
    const ids: number[] = []
    for (let i = 0; i < 7; i++) ids.push(await register(app, `pager${i}`))
    // Postgres keeps microseconds; a cursor cut to milliseconds would repeat rows.
    await app.query(
      "update users set created_at = '2026-01-01T00:00:00.123456Z' where id = any($1)",
      [ids.slice(2)],
    )
    const seen: number[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`
      const res = await asAdmin(app, 'GET', `/admin/users?username=PAGER&limit=3${query}`)
      expect(res.status).toBe(200)
      const page = (await res.json()) as { users: { id: number }[]; next_cursor: string | null }
      expect(page.users.length).toBeLessThanOrEqual(3)
      seen.push(...page.users.map((u) => u.id))
      cursor = page.next_cursor
    } while (cursor !== null)
    expect(seen).toEqual([...ids.slice(2), ...ids.slice(0, 2)])
  })

  it('removes a second factor in one statement: the TOTP row and waiting mfa_tokens of that account only, its sessions ended, logged', async () => {
    const app = await adminApp()
    /** A user with TOTP on and a login waiting for its code; returns the id and an mfa_token. */
    const enrolled = async (username: string) => {
      const id = await register(app, username)
      const { access_token } = await (await app.login({ username, password })).json()
      const started = await app.bearer('POST', '/me/mfa/totp', access_token, {
        current_password: password,
      })
      const secret = secretOfUri((await started.json()).otpauth_uri)
      const confirmed = await app.bearer('POST', '/me/mfa/totp/confirm', access_token, {
        otp: totpNow(secret, app.clock.now()),
      })
      expect(confirmed.status).toBe(200)
      const waiting = await app.login({ username, password })
      expect(waiting.status).toBe(403)
      return { id, mfaToken: (await waiting.json()).mfa_token as string }
    }
    const lost = await enrolled('lostphone')
    const other = await enrolled('keepsphone')
    const rows = (table: string, id: number) =>
      app.query(`select 1 from ${table} where user_id = $1`, [id])
    expect(await rows('user_totp', lost.id)).toHaveLength(1)
    expect(await rows('mfa_challenges', lost.id)).toHaveLength(1)
    const live = `select 1 from refresh_tokens where user_id = $1 and revoked_at is null`

    const res = await asAdmin(app, 'DELETE', `/admin/users/${lost.id}/mfa`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ totp_enabled: false, active_sessions: 0 })
    expect(await rows('user_totp', lost.id)).toEqual([])
    expect(await rows('mfa_challenges', lost.id)).toEqual([])
    expect(await app.query(live, [lost.id])).toEqual([])
    // The other account keeps its second factor, its waiting login and its session.
    expect(await rows('user_totp', other.id)).toHaveLength(1)
    expect(await rows('mfa_challenges', other.id)).toHaveLength(1)
    expect(await app.query(live, [other.id])).toHaveLength(1)
    const loginOther = await app.login({ username: 'keepsphone', password })
    expect(loginOther.status).toBe(403)
    const login = await app.login({ username: 'lostphone', password })
    expect(login.status).toBe(200)

    // Again: nothing to remove, which the log says.
    expect((await asAdmin(app, 'DELETE', `/admin/users/${lost.id}/mfa`)).status).toBe(200)
    const resets = app.logs
      .map((line) => JSON.parse(line))
      .filter((line) => line.event === 'authz_admin' && line.action === 'reset_mfa')
    expect(resets).toEqual([
      expect.objectContaining({ admin: 'ops', user_id: lost.id, totp_was_enabled: true }),
      expect.objectContaining({ admin: 'ops', user_id: lost.id, totp_was_enabled: false }),
    ])
    expect(app.logs.join('\n')).not.toContain(lost.mfaToken)
  })

  it('logs every action with the key name and never the key, a password or a hash', async () => {
    const app = await adminApp()
    const id = await register(app, 'logged')
    const login = await app.login({ username: 'logged', password })
    const { access_token } = (await login.json()) as { access_token: string }
    const wrongKey = newAdminKey()
    expect((await asAdmin(app, 'GET', '/admin/users', undefined, wrongKey)).status).toBe(401)
    expect((await asAdmin(app, 'GET', '/admin/users', undefined, access_token)).status).toBe(403)
    await asAdmin(app, 'GET', '/admin/users?username=LOG')
    await asAdmin(app, 'GET', `/admin/users/${id}`)
    const until = new Date(app.clock.ms + 86_400_000).toISOString()
    await asAdmin(app, 'POST', `/admin/users/${id}/ban`, { reason: 'spam', until })
    await asAdmin(app, 'DELETE', `/admin/users/${id}/ban`)
    await asAdmin(app, 'PUT', `/admin/users/${id}/password`, {
      new_password: 'a brand new password',
    })
    await asAdmin(app, 'DELETE', `/admin/users/${id}/sessions`)
    await asAdmin(app, 'DELETE', `/admin/users/${id}/mfa`)
    await asAdmin(app, 'DELETE', `/admin/users/${id}`)
    const lines = app.logs.map((line) => JSON.parse(line))
    const actions = lines
      .filter((line) => line.event === 'authz_admin')
      .map(({ admin, action, user_id }) => ({ admin, action, user_id }))
    expect(actions).toEqual([
      { admin: 'ops', action: 'list', user_id: undefined },
      ...['read', 'ban', 'unban', 'set_password', 'end_sessions', 'reset_mfa', 'delete'].map(
        (action) => ({ admin: 'ops', action, user_id: id }),
      ),
    ])
    expect(lines.find((line) => line.action === 'ban')).toMatchObject({ reason: 'spam', until })
    expect(lines.find((line) => line.action === 'list')).toMatchObject({ count: 1 })
    expect(lines.filter((line) => line.event === 'authn_admin_fail')).toEqual([
      expect.objectContaining({ level: 'warn', reason: 'invalid_key' }),
    ])
    expect(lines.filter((line) => line.event === 'authz_fail')).toEqual([
      expect.objectContaining({ resource: 'admin', reason: 'not_admin' }),
    ])
    const all = app.logs.join('\n')
    for (const secret of [KEY, wrongKey, access_token, 'a brand new password', password]) {
      expect(all).not.toContain(secret)
    }
    expect(all).not.toContain('$argon2')
    expect(all).not.toContain(await adminKeyHash(KEY))
  })
})
