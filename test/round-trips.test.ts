import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminKeyHash, newAdminKey } from '../src/auth/admin-keys'
import { createPasswordHasher } from '../src/auth/password'
import { makeTestApp, TEST_PEER_HEADER, type TestApp } from './support/app'

/**
 * Database round trips per request: every statement the app sends goes through the PGlite
 * client's `query` (drizzle's PGlite session calls nothing else for these routes), so counting
 * calls there counts round trips, whatever SQL drizzle builds.
 */
let t: TestApp
let statements = 0
const password = 'correct horse battery staple'

beforeAll(async () => {
  t = await makeTestApp()
  const client = (t.handle.db as unknown as { $client: Record<string, unknown> }).$client
  for (const method of ['query', 'exec', 'transaction'] as const) {
    const original = client[method] as (...args: unknown[]) => Promise<unknown>
    client[method] = (...args: unknown[]) => {
      statements++
      return original.apply(client, args)
    }
  }
})
afterAll(() => t.close())

/** Runs `send` and returns how many statements reached the database meanwhile. */
async function roundTrips(
  send: () => Response | Promise<Response>,
  status: number,
): Promise<number> {
  statements = 0
  const res = await send()
  expect(res.status).toBe(status)
  return statements
}

describe('database round trips per request', () => {
  it('register: 1, with or without a known client address (the count and the INSERT are one statement)', async () => {
    const register = () => t.register({ name: 'Rita', username: 'rita', password })
    expect(await roundTrips(register, 201)).toBe(1)
    expect(await roundTrips(register, 409)).toBe(1)
    const fromAddress = (username: string) => () =>
      t.app.request('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TEST_PEER_HEADER]: '192.0.2.7' },
        body: JSON.stringify({ name: 'Ray', username, password }),
      })
    // The first throttled request of a minute also sweeps stale counters.
    await fromAddress('ray')()
    expect(await roundTrips(fromAddress('roy'), 201)).toBe(1)
    expect(await roundTrips(fromAddress('roy'), 409)).toBe(1)
    const [counter] = await t.query(
      `select attempts from auth_throttle where key like 'register-ip:%'`,
    )
    expect(counter?.attempts).toBe(3)
  })

  // Counted with a known client address, as in production: the address is throttled too.
  it('login: 2 on success (the account with the attempt counted; the session with the count reset), 1 on failure, 2 with a rehash', async () => {
    await t.register({ name: 'Lou', username: 'lou', password })
    const login =
      (username: string, pw = password) =>
      () =>
        t.app.request('/token', {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            [TEST_PEER_HEADER]: '192.0.2.8',
          },
          body: new URLSearchParams({ username, password: pw }),
        })
    await login('lou')()
    expect(await roundTrips(login('lou'), 200)).toBe(2)
    expect(await roundTrips(login('lou', 'wrong password'), 401)).toBe(1)
    expect(await roundTrips(login('nobody'), 401)).toBe(1)

    const legacy = createPasswordHasher({
      params: { memoryKiB: 128, iterations: 1, parallelism: 1 },
    })
    const phc = await legacy.hash(password)
    await t.query(
      `insert into users (name, username, username_key, hashed_password) values ('Old', 'old', 'old', $1)`,
      [phc],
    )
    expect(await roundTrips(login('old'), 200)).toBe(2)
    const [row] = await t.query(`select hashed_password from users where username = 'old'`)
    expect(row?.hashed_password).not.toBe(phc)
    expect(await roundTrips(login('old'), 200)).toBe(2)
  })

  it('PUT /me/password and DELETE /me: 3 on success (the account; the attempt counted; the change with the count reset), 2 for a wrong password', async () => {
    await t.register({ name: 'Pat', username: 'pat', password })
    const token = async (pw: string) =>
      (
        await (
          await t.app.request('/token', {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ username: 'pat', password: pw }),
          })
        ).json()
      ).access_token as string
    const send = (method: string, path: string, access: string, body: unknown) => () =>
      t.app.request(path, {
        method,
        headers: {
          authorization: `Bearer ${access}`,
          'content-type': 'application/json',
          [TEST_PEER_HEADER]: '192.0.2.9',
        },
        body: JSON.stringify(body),
      })
    const newPassword = 'another horse battery staple'
    let access = await token(password)
    const wrong = { current_password: 'not the password', new_password: newPassword }
    await send('PUT', '/me/password', access, wrong)()
    expect(await roundTrips(send('PUT', '/me/password', access, wrong), 403)).toBe(2)
    const change = { current_password: password, new_password: newPassword }
    expect(await roundTrips(send('PUT', '/me/password', access, change), 204)).toBe(3)
    // The two wrong passwords stay counted against the address; the account's count is reset.
    const [pat] = await t.query(`select id from users where username = 'pat'`)
    const counters = await t.query(
      `select key, attempts from auth_throttle where key in ($1, $2) order by key`,
      ['login-ip:192.0.2.9', `login-user:${pat?.id}`],
    )
    expect(counters).toEqual([{ key: 'login-ip:192.0.2.9', attempts: 2 }])

    access = await token(newPassword)
    const remove = (pw: string) => send('DELETE', '/me', access, { current_password: pw })
    expect(await roundTrips(remove('not the password'), 403)).toBe(2)
    expect(await roundTrips(remove(newPassword), 204)).toBe(3)
    expect(await t.query(`select id from users where username = 'pat'`)).toEqual([])
  })

  it('POST /me/mfa/totp (a first enrolment): 3 on success (the account; the attempt counted; the pending secret with the count reset), 2 for a wrong password', async () => {
    await t.register({ name: 'Eno', username: 'eno', password })
    const login = await t.app.request('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'eno', password }),
    })
    const { access_token } = (await login.json()) as { access_token: string }
    const start = (current_password: string) => () =>
      t.app.request('/me/mfa/totp', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${access_token}`,
          'content-type': 'application/json',
          [TEST_PEER_HEADER]: '192.0.2.13',
        },
        body: JSON.stringify({ current_password }),
      })
    expect(await roundTrips(start('not the password'), 403)).toBe(2)
    expect(await roundTrips(start(password), 200)).toBe(3)
    const [eno] = await t.query(`select id from users where username = 'eno'`)
    const counters = await t.query(
      `select key, attempts from auth_throttle where key in ($1, $2) order by key`,
      ['login-ip:192.0.2.13', `login-user:${eno?.id}`],
    )
    expect(counters).toEqual([{ key: 'login-ip:192.0.2.13', attempts: 1 }])
  })

  it('a throttled login: 0 once this instance has seen the block (account, unknown name, address), 1 again once it has ended', async () => {
    const from = (address: string) => (username: string, pw: string) => () =>
      t.app.request('/token', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          [TEST_PEER_HEADER]: address,
        },
        body: new URLSearchParams({ username, password: pw }),
      })
    const login = from('192.0.2.10')
    /** Sends `send` expecting a 429; returns [statements, Retry-After]. */
    const throttled = async (send: () => Response | Promise<Response>) => {
      statements = 0
      const res = await send()
      expect(res.status).toBe(429)
      return [statements, Number(res.headers.get('retry-after'))]
    }

    await t.register({ name: 'Lock', username: 'locked', password })
    const access = (await (await login('locked', password)()).json()).access_token as string
    for (const name of ['locked', 'no_such_user']) {
      for (let i = 0; i < 5; i++) await login(name, 'wrong password')()
      expect(await throttled(login(name, 'wrong password'))).toEqual([1, 900])
      for (let i = 0; i < 10; i++) {
        expect(await throttled(login(name, i % 2 ? password : 'wrong'))).toEqual([0, 900])
      }
      t.clock.advance(100)
      // From another address too: the name's block is known whatever the address.
      expect(await throttled(from('192.0.2.11')(name, password))).toEqual([0, 800])
    }
    // The password check of DELETE /me reads the account, and counts nothing while it is blocked.
    const remove = () =>
      t.app.request('/me', {
        method: 'DELETE',
        headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json' },
        body: JSON.stringify({ current_password: password }),
      })
    expect(await throttled(remove)).toEqual([1, 700])

    t.clock.advance(800)
    // The first attempt of a new minute also sweeps stale counters: count the one after it.
    expect((await login('locked', password)()).status).toBe(200)
    expect(await roundTrips(login('no_such_user', 'wrong password'), 401)).toBe(1)
    expect(await roundTrips(login('locked', password), 200)).toBe(2)

    const sprayer = from('192.0.2.12')
    for (let i = 0; i < 50; i++) await sprayer(`spray_${i}`, 'Summer2024!')()
    expect(await throttled(sprayer('spray_x', 'Summer2024!'))).toEqual([1, 900])
    for (let i = 0; i < 10; i++) {
      expect(await throttled(sprayer(`spray_y${i}`, 'Summer2024!'))).toEqual([0, 900])
    }
    expect(await throttled(sprayer('locked', password))).toEqual([0, 900])
    t.clock.advance(900)
    expect((await sprayer('locked', password)()).status).toBe(200)
    expect(await roundTrips(sprayer('spray_z', 'Summer2024!'), 401)).toBe(1)
  })

  it('refresh: 1 on success (the count, the rotation and the pruning are one statement), 2 for a used token in the grace window, 3 on reuse detection', async () => {
    await t.register({ name: 'Ria', username: 'ria', password })
    const login = await (await t.login({ username: 'ria', password })).json()
    const refresh = (token: string) => () => t.refresh(token)
    expect(await roundTrips(refresh(login.refresh_token), 200)).toBe(1)
    expect(await roundTrips(refresh(login.refresh_token), 400)).toBe(2)
    t.clock.advance(11)
    expect(await roundTrips(refresh(login.refresh_token), 400)).toBe(3)
  })

  it('validate: 0 for a token it has already seen, and 0 for a malformed one', async () => {
    await t.register({ name: 'Val', username: 'val', password })
    const token = (await (await t.login({ username: 'val', password })).json()).access_token
    const validate = () => t.validate(`Bearer ${token}`)
    await roundTrips(validate, 200)
    for (let i = 0; i < 5; i++) expect(await roundTrips(validate, 200)).toBe(0)
    expect(await roundTrips(() => t.validate('Bearer not.a.token'), 401)).toBe(0)
  })
})

describe('admin API: each write is one statement', () => {
  const key = newAdminKey()
  let admin: TestApp
  /** The SQL of every statement since the last call of {@link sent}. */
  let log: string[] = []

  beforeAll(async () => {
    admin = await makeTestApp({
      admin: { keys: [{ name: 'ops', sha256: await adminKeyHash(key) }] },
    })
    const client = (admin.handle.db as unknown as { $client: Record<string, unknown> }).$client
    for (const method of ['query', 'exec', 'transaction'] as const) {
      const original = client[method] as (...args: unknown[]) => Promise<unknown>
      client[method] = (...args: unknown[]) => {
        log.push(typeof args[0] === 'string' ? args[0] : `<${method}>`)
        return original.apply(client, args)
      }
    }
  })
  afterAll(() => admin.close())

  const isWrite = (sql: string) => /\b(insert|update|delete)\b/i.test(sql) || sql.startsWith('<')

  /** Sends one admin request; returns [statements, of which writes]. */
  async function sent(
    method: string,
    path: string,
    status: number,
    options: { body?: unknown; authorization?: string } = {},
  ): Promise<[number, number]> {
    log = []
    const res = await admin.app.request(path, {
      method,
      headers: {
        // A known client address, as in production: a failure is counted against it.
        [TEST_PEER_HEADER]: '192.0.2.9',
        authorization: options.authorization ?? `Bearer ${key}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    })
    expect(res.status, `${method} ${path}`).toBe(status)
    return [log.length, log.filter(isWrite).length]
  }

  it('ban, unban, end sessions, set password, remove the second factor, delete: one write each (ban, unban and the second factor then read the account to answer)', async () => {
    const registered = await admin.register({ name: 'Wes', username: 'wes', password })
    const { id } = (await registered.json()) as { id: number }
    await admin.login({ username: 'wes', password })
    const user = `/admin/users/${id}`
    expect(await sent('POST', `${user}/ban`, 200, { body: { reason: 'spam' } })).toEqual([2, 1])
    expect(await sent('DELETE', `${user}/ban`, 200)).toEqual([2, 1])
    expect(await sent('DELETE', `${user}/sessions`, 204)).toEqual([1, 1])
    // TOTP off, recovery codes and waiting mfa_tokens deleted, sessions ended: one statement.
    expect(await sent('DELETE', `${user}/mfa`, 200)).toEqual([2, 1])
    // The account is read first, for the rule that a password may not be the username.
    const newPassword = { new_password: 'a brand new password' }
    expect(await sent('PUT', `${user}/password`, 204, { body: newPassword })).toEqual([2, 1])
    expect(await sent('GET', user, 200)).toEqual([1, 0])
    expect(await sent('GET', '/admin/users?username=we', 200)).toEqual([1, 0])
    expect(await sent('DELETE', user, 204)).toEqual([1, 1])
    // Nothing to change: the write finds no row, and nothing else is sent.
    expect(await sent('POST', `${user}/ban`, 404, { body: { reason: 'spam' } })).toEqual([1, 1])
    expect(await sent('DELETE', `${user}/mfa`, 404)).toEqual([1, 1])
  })

  it('a wrong key: one statement, the failure counted; a refused input: none', async () => {
    expect(await sent('GET', '/admin/users', 401, { authorization: 'Bearer nope' })).toEqual([1, 1])
    expect(await sent('GET', '/admin/users/0x1', 422)).toEqual([0, 0])
    expect(await sent('POST', '/admin/users/1/ban', 422, { body: { reason: 'a\u0000b' } })).toEqual(
      [0, 0],
    )
  })
})
