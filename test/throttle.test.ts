import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { usernameKey } from '../src/auth/credentials'
import { addressBucket } from '../src/auth/throttle'
import { DEFAULT_SECURITY, type SecurityConfig } from '../src/config'
import { isInternalAddress } from '../src/middleware/client-address'
import { expect429 } from './contract/target'
import { makeTestApp, TEST_PEER_HEADER, type TestApp } from './support/app'

const password = 'correct horse battery staple'
let seq = 0
const uniqueName = (prefix = 'thr') => `${prefix}${++seq}_${Math.random().toString(36).slice(2, 8)}`
let hosts = 0
/** A fresh IPv4 address per call, so tests never share an address counter. */
const uniqueAddress = () => `198.51.${100 + Math.floor(++hosts / 250)}.${hosts % 250}`

function security(
  throttle: Partial<SecurityConfig['throttle']> = {},
  more: Partial<SecurityConfig> = {},
) {
  return { ...more, throttle: { ...DEFAULT_SECURITY.throttle, ...throttle } }
}

function loginFrom(
  t: TestApp,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return t.app.request('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  })
}

function registerFrom(t: TestApp, username: string, address?: string) {
  return t.app.request('/register', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(address === undefined ? {} : { [TEST_PEER_HEADER]: address }),
    },
    body: JSON.stringify({ name: 'Throttled', username, password }),
  })
}

/** Counts Argon2 verifications (real and dummy) made while `run` runs. */
async function countVerifications(t: TestApp, run: () => Promise<void>): Promise<number> {
  const { verify, verifyDummy } = t.passwords
  let calls = 0
  t.passwords.verify = (p, h) => {
    calls++
    return verify.call(t.passwords, p, h)
  }
  t.passwords.verifyDummy = (p) => {
    calls++
    return verifyDummy.call(t.passwords, p)
  }
  try {
    await run()
  } finally {
    t.passwords.verify = verify
    t.passwords.verifyDummy = verifyDummy
  }
  return calls
}

describe('login throttling per account (defaults: 5 failures per 15 minutes, 15 minutes block)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp()
  })
  afterAll(() => t.close())

  async function newUser() {
    const username = uniqueName()
    expect((await t.register({ name: 'Victim', username, password })).status).toBe(201)
    return username
  }

  it('blocks the account after 5 failures for 900 s, without hashing while blocked, not even the right password', async () => {
    const username = await newUser()
    for (let i = 0; i < 5; i++) {
      expect((await t.login({ username, password: `wrong-${i}` })).status).toBe(401)
    }
    let retryAfter = 0
    const hashed = await countVerifications(t, async () => {
      retryAfter = await expect429(await t.login({ username, password: 'wrong again' }))
      await expect429(await t.login({ username, password }))
    })
    expect(hashed).toBe(0)
    expect(retryAfter).toBeLessThanOrEqual(900)
    expect(retryAfter).toBeGreaterThan(890)
  })

  it('lets the block expire by itself (fake clock)', async () => {
    const username = await newUser()
    for (let i = 0; i < 5; i++) await t.login({ username, password: 'wrong-pass' })
    const retryAfter = await expect429(await t.login({ username, password }))
    t.clock.advance(retryAfter - 5)
    await expect429(await t.login({ username, password }))
    t.clock.advance(6)
    expect((await t.login({ username, password })).status).toBe(200)
  })

  it('every instance refuses exactly until the block ends, with the right Retry-After, whether it saw the block begin or learnt it from the database', async () => {
    const username = await newUser()
    const other = t.instance()
    const loginOn = (app: typeof other, pw: string) =>
      app.request('/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password: pw }).toString(),
      })
    for (let i = 0; i < 5; i++) await t.login({ username, password: 'wrong-pass' })
    expect(await expect429(await t.login({ username, password }))).toBe(900)
    t.clock.advance(100.5)
    expect(await expect429(await loginOn(other, password))).toBe(800)
    expect(await expect429(await t.login({ username, password }))).toBe(800)
    t.clock.advance(799.499)
    expect(await expect429(await t.login({ username, password }))).toBe(1)
    expect(await expect429(await loginOn(other, password))).toBe(1)
    t.clock.advance(0.001)
    expect((await t.login({ username, password })).status).toBe(200)
    expect((await loginOn(other, password)).status).toBe(200)
  })

  it('logs a refusal this instance answers from memory like any other, by user id', async () => {
    const username = await newUser()
    for (let i = 0; i < 6; i++) await t.login({ username, password: 'wrong-pass' })
    const from = t.logs.length
    await expect429(await t.login({ username, password }))
    const events = t.logs
      .slice(from)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.event === 'authn_login_fail')
    expect(events).toEqual([
      expect.objectContaining({
        reason: 'throttled',
        scope: 'loginAccount',
        user_id: expect.any(Number),
      }),
    ])
  })

  it('a name blocked while it named no account: registering it here gives the new account its own count', async () => {
    const username = uniqueName('later')
    for (let i = 0; i < 5; i++) await t.login({ username, password: 'wrong-pass' })
    await expect429(await t.login({ username, password }))
    expect((await t.register({ name: 'Late', username, password })).status).toBe(201)
    expect((await t.login({ username, password })).status).toBe(200)
  })

  it('forgets old failures when the window has passed', async () => {
    const username = await newUser()
    for (let i = 0; i < 4; i++) await t.login({ username, password: 'wrong-pass' })
    t.clock.advance(901)
    for (let i = 0; i < 4; i++) {
      expect((await t.login({ username, password: 'wrong-pass' })).status).toBe(401)
    }
    expect((await t.login({ username, password })).status).toBe(200)
  })

  it('lets no more than 5 of 30 concurrent guesses be checked', async () => {
    const username = await newUser()
    const hashed = await countVerifications(t, async () => {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => t.login({ username, password: `guess-${i}` })),
      )
    })
    expect(hashed).toBe(5)
  })

  it('treats an unknown username exactly like a known one', async () => {
    const known = await newUser()
    const unknown = uniqueName('ghost')
    const run = async (username: string) => {
      const out: string[] = []
      for (let i = 0; i < 7; i++) {
        const res = await t.login({ username, password: 'wrong-pass' })
        out.push(`${res.status} ${res.headers.get('retry-after')} ${await res.text()}`)
      }
      return out
    }
    expect(await run(unknown)).toEqual(await run(known))
  })

  it('counts an unknown name under its lookup key, so spellings the key joins share one count, as for an account', async () => {
    const digits = () => String(Math.floor(Math.random() * 1e9))
    // JS toLowerCase() turns the capital sigma before "_" into a final sigma; the key folds both
    // sigmas to one, as it does for the account lookup.
    const known = `νίκοσ_${digits()}`
    expect((await t.register({ name: 'Victim', username: known, password })).status).toBe(201)
    const unknown = `νίκοσ_${digits()}`
    const run = async (name: string) => {
      const out: string[] = []
      for (let i = 0; i < 7; i++) {
        const username = i % 2 === 0 ? name : name.toUpperCase()
        const res = await t.login({ username, password: 'wrong-pass' })
        out.push(`${res.status} ${res.headers.get('retry-after')}`)
      }
      return out
    }
    const unknownRun = await run(unknown)
    expect(unknownRun).toEqual(await run(known))
    expect(unknownRun.slice(5)).toEqual(['429 900', '429 900'])
    const digest = createHash('sha256')
      .update(usernameKey(unknown))
      .digest('base64')
      .replaceAll('+', '-')
      .replaceAll('/', '_')
    const rows = await t.query('select attempts from auth_throttle where key = $1', [
      `login-name:${digest}`,
    ])
    expect(rows).toEqual([{ attempts: 6 }])
  })

  it('keeps no username in the table (unknown names are stored hashed)', async () => {
    const username = uniqueName('secretname')
    await t.login({ username, password: 'wrong-pass' })
    const rows = await t.query('select key from auth_throttle')
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(String(row.key)).not.toContain(username.toLowerCase())
  })

  it('survives names Postgres text cannot hold (NUL, lone surrogates): 401, then 429', async () => {
    for (const username of [`nul\u0000${uniqueName()}`, `lone\ud800${uniqueName()}`]) {
      for (let i = 0; i < 5; i++) {
        expect((await t.login({ username, password: 'wrong-pass' })).status).toBe(401)
      }
      await expect429(await t.login({ username, password: 'wrong-pass' }))
    }
  })
})

describe('the password check of PUT /me/password and DELETE /me', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({
      security: security({ loginAddress: { max: 8, windowSeconds: 900, lockoutSeconds: 900 } }),
    })
  })
  afterAll(() => t.close())

  async function session() {
    const username = uniqueName('me')
    expect((await t.register({ name: 'Me', username, password })).status).toBe(201)
    const res = await t.login({ username, password })
    const { access_token: access } = (await res.json()) as { access_token: string }
    const { id } = (await (await t.bearer('GET', '/me', access)).json()) as { id: number }
    return { id, access }
  }
  const change = (access: string, current: string, headers: Record<string, string> = {}) =>
    t.app.request('/me/password', {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${access}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify({ current_password: current, new_password: 'a brand new passphrase' }),
    })

  it('counts against the account before hashing: once blocked, neither endpoint verifies a password', async () => {
    const { access } = await session()
    for (let i = 0; i < 5; i++) expect((await change(access, `wrong-${i}`)).status).toBe(403)
    let retryAfter = 0
    const hashed = await countVerifications(t, async () => {
      retryAfter = await expect429(await change(access, password))
      await expect429(await t.bearer('DELETE', '/me', access, { current_password: password }))
    })
    expect(hashed).toBe(0)
    expect(retryAfter).toBeGreaterThan(890)
  })

  it('logs each failure and the block, by user id', async () => {
    const { id, access } = await session()
    const from = t.logs.length
    for (let i = 0; i < 6; i++) {
      await t.bearer('DELETE', '/me', access, { current_password: `wrong-${i}` })
    }
    const events = t.logs
      .slice(from)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.user_id === id && line.event !== 'http_request')
      .map((line) => `${line.event} ${line.reason ?? ''}`.trim())
    expect(events).toEqual([
      ...Array(5).fill('account_delete_fail wrong_password'),
      'authn_login_lock',
      'account_delete_fail throttled',
    ])
  })

  it('counts against the client address as well, like a login', async () => {
    const address = uniqueAddress()
    for (let i = 0; i < 8; i++) {
      const { access } = await session()
      expect((await change(access, 'wrong-pass', { [TEST_PEER_HEADER]: address })).status).toBe(403)
    }
    const { access } = await session()
    await expect429(await change(access, password, { [TEST_PEER_HEADER]: address }))
    expect((await change(access, password, { [TEST_PEER_HEADER]: uniqueAddress() })).status).toBe(
      204,
    )
  })
})

describe('login throttling per client address', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({
      security: security({ loginAddress: { max: 8, windowSeconds: 900, lockoutSeconds: 600 } }),
    })
  })
  afterAll(() => t.close())

  it('blocks an address after 8 failures across many accounts; other addresses go on', async () => {
    const [attacker, someoneElse] = [uniqueAddress(), uniqueAddress()]
    for (let i = 0; i < 8; i++) {
      const res = await loginFrom(
        t,
        { username: uniqueName('spray'), password: 'Summer2024!' },
        { [TEST_PEER_HEADER]: attacker },
      )
      expect(res.status).toBe(401)
    }
    const retryAfter = await expect429(
      await loginFrom(
        t,
        { username: uniqueName('spray'), password },
        { [TEST_PEER_HEADER]: attacker },
      ),
    )
    expect(retryAfter).toBeLessThanOrEqual(600)
    const res = await loginFrom(
      t,
      { username: uniqueName('spray'), password: 'x-wrong-x' },
      { [TEST_PEER_HEADER]: someoneElse },
    )
    expect(res.status).toBe(401)
  })

  it('without TRUST_PROXY, a changing X-Forwarded-For does not reset the count', async () => {
    const address = uniqueAddress()
    for (let i = 0; i < 8; i++) {
      await loginFrom(
        t,
        { username: uniqueName('xff'), password: 'wrong-pass' },
        { [TEST_PEER_HEADER]: address, 'x-forwarded-for': `203.0.113.${i}` },
      )
    }
    await expect429(
      await loginFrom(
        t,
        { username: uniqueName('xff'), password: 'wrong-pass' },
        { [TEST_PEER_HEADER]: address, 'x-forwarded-for': '203.0.113.200' },
      ),
    )
  })

  it('counts an IPv6 /64 as one address', async () => {
    const prefix = `2001:db8:${(++seq).toString(16)}:1`
    for (let i = 0; i < 8; i++) {
      await loginFrom(
        t,
        { username: uniqueName('v6'), password: 'wrong-pass' },
        { [TEST_PEER_HEADER]: `${prefix}::${(i + 1).toString(16)}` },
      )
    }
    await expect429(
      await loginFrom(
        t,
        { username: uniqueName('v6'), password: 'wrong-pass' },
        { [TEST_PEER_HEADER]: `${prefix}:ffff:ffff:ffff:ffff` },
      ),
    )
  })

  it('successful logins do not use up the address allowance', async () => {
    const address = uniqueAddress()
    const username = uniqueName('office')
    expect((await t.register({ name: 'Office', username, password })).status).toBe(201)
    for (let i = 0; i < 20; i++) {
      const res = await loginFrom(t, { username, password }, { [TEST_PEER_HEADER]: address })
      expect(res.status).toBe(200)
    }
  })

  it('an address block expires by itself', async () => {
    const address = uniqueAddress()
    for (let i = 0; i < 9; i++) {
      await loginFrom(
        t,
        { username: uniqueName('exp'), password: 'wrong' },
        { [TEST_PEER_HEADER]: address },
      )
    }
    const retryAfter = await expect429(
      await loginFrom(
        t,
        { username: uniqueName('exp'), password: 'w' },
        { [TEST_PEER_HEADER]: address },
      ),
    )
    t.clock.advance(retryAfter)
    const res = await loginFrom(
      t,
      { username: uniqueName('exp'), password: 'wrong' },
      { [TEST_PEER_HEADER]: address },
    )
    expect(res.status).toBe(401)
  })
})

describe('TRUST_PROXY: the address comes from X-Forwarded-For', () => {
  let t: TestApp
  const proxy = '10.0.0.1'
  beforeAll(async () => {
    t = await makeTestApp({
      security: security(
        { loginAddress: { max: 3, windowSeconds: 900, lockoutSeconds: 900 } },
        { trustProxyHops: 1 },
      ),
    })
  })
  afterAll(() => t.close())

  const viaProxy = (xff: string) =>
    loginFrom(
      t,
      { username: uniqueName('proxied'), password: 'wrong-pass' },
      { [TEST_PEER_HEADER]: proxy, 'x-forwarded-for': xff },
    )

  it('counts clients behind one proxy separately, by the entry the proxy appended', async () => {
    const [a, b] = [uniqueAddress(), uniqueAddress()]
    for (let i = 0; i < 3; i++) expect((await viaProxy(a)).status).toBe(401)
    await expect429(await viaProxy(a))
    expect((await viaProxy(b)).status).toBe(401)
  })

  it('ignores what the client wrote to the left of it', async () => {
    const client = uniqueAddress()
    for (let i = 0; i < 3; i++) await viaProxy(`192.0.2.${i + 1}, ${client}`)
    await expect429(await viaProxy(`192.0.2.99, ${client}`))
  })

  it('does not report the proxy it was told about', () => {
    expect(t.logs.filter((line) => line.includes('"untrusted_proxy"'))).toEqual([])
  })
})

describe('behind a proxy the service was not told about (TRUST_PROXY off)', () => {
  let t: TestApp
  const gateway = '10.0.0.7'
  beforeAll(async () => {
    t = await makeTestApp({
      security: security({
        loginAddress: { max: 3, windowSeconds: 900, lockoutSeconds: 900 },
        registerAddress: { max: 2, windowSeconds: 3600, lockoutSeconds: 3600 },
      }),
    })
  })
  afterAll(() => t.close())

  const proxied = { [TEST_PEER_HEADER]: gateway, 'x-forwarded-for': '203.0.113.66' }
  const warnings = () =>
    t.logs.map((line) => JSON.parse(line)).filter((line) => line.event === 'untrusted_proxy')

  it('says so once, on the first request that counts attempts, naming the header and never its value', async () => {
    const validate = await t.app.request('/validate', { method: 'POST', headers: proxied })
    expect(validate.status).toBe(401)
    expect(warnings()).toEqual([])
    for (let i = 0; i < 3; i++) {
      await loginFrom(t, { username: uniqueName('gw'), password: 'wrong-pass' }, proxied)
    }
    const [warning, ...more] = warnings()
    expect(more).toEqual([])
    expect(warning).toMatchObject({ level: 'warn', header: 'x-forwarded-for' })
    expect(warning.message).toContain('TRUST_PROXY')
    expect(JSON.stringify(warning)).not.toContain('203.0.113.66')
  })

  it("one client's failures through the gateway block neither other users' logins nor registrations", async () => {
    const username = uniqueName('gwuser')
    expect((await t.register({ name: 'Behind', username, password })).status).toBe(201)
    for (let i = 0; i < 6; i++) {
      const res = await loginFrom(t, { username: uniqueName('gw'), password: 'wrong' }, proxied)
      expect(res.status).toBe(401)
    }
    expect((await loginFrom(t, { username, password }, proxied)).status).toBe(200)
    for (let i = 0; i < 3; i++) {
      const res = await t.app.request('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...proxied },
        body: JSON.stringify({ name: 'Behind', username: uniqueName('gwreg'), password }),
      })
      expect(res.status).toBe(201)
    }
  })

  it('the per-account limit still holds through the gateway', async () => {
    const username = uniqueName('gwacct')
    expect((await t.register({ name: 'Behind', username, password })).status).toBe(201)
    for (let i = 0; i < 5; i++) await loginFrom(t, { username, password: 'wrong-pass' }, proxied)
    await expect429(await loginFrom(t, { username, password }, proxied))
  })

  it('counts an internal client that sends no forwarding header, and any client from the internet', async () => {
    const cases: Record<string, string>[] = [
      { [TEST_PEER_HEADER]: '10.0.0.8' },
      { [TEST_PEER_HEADER]: uniqueAddress(), forwarded: 'for=192.0.2.1' },
      { [TEST_PEER_HEADER]: '2001:db8:77::1', 'x-real-ip': '192.0.2.1' },
    ]
    for (const headers of cases) {
      for (let i = 0; i < 3; i++) {
        await loginFrom(t, { username: uniqueName('cnt'), password: 'wrong-pass' }, headers)
      }
      await expect429(
        await loginFrom(t, { username: uniqueName('cnt'), password: 'wrong-pass' }, headers),
      )
    }
  })

  it('knows internal addresses: loopback, private, shared, link-local', () => {
    const internal = ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1']
    internal.push('100.64.0.1', '169.254.1.1', '::1', 'fd12:3456::1', 'fc00::1', 'fe80::1')
    for (const address of internal) expect(isInternalAddress(address), address).toBe(true)
    const external = ['8.8.8.8', '172.32.0.1', '100.128.0.1', '192.0.2.1', '2001:db8::1', 'fd::1']
    for (const address of external) expect(isInternalAddress(address), address).toBe(false)
  })
})

describe('registration throttling per client address', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({
      security: security({
        registerAddress: { max: 3, windowSeconds: 3600, lockoutSeconds: 3600 },
      }),
    })
  })
  afterAll(() => t.close())

  /**
   * Counts the hashes made while `run` runs; each takes at least `minMs`, as a production-cost
   * hash would, so that concurrent requests overlap whatever the test machine's speed.
   */
  async function countHashes(run: () => Promise<void>, minMs = 0): Promise<number> {
    const { hash } = t.passwords
    let hashed = 0
    t.passwords.hash = async (p) => {
      hashed++
      const [result] = await Promise.all([
        hash.call(t.passwords, p),
        new Promise((resolve) => setTimeout(resolve, minMs)),
      ])
      return result
    }
    try {
      await run()
    } finally {
      t.passwords.hash = hash
    }
    return hashed
  }

  it('allows 3 registrations per address per hour, then 429: one hash to learn the block, none after; others go on', async () => {
    const [address, other] = [uniqueAddress(), uniqueAddress()]
    for (let i = 0; i < 3; i++) {
      expect((await registerFrom(t, uniqueName('reg'), address)).status).toBe(201)
    }
    const refusedNames = [uniqueName('reg'), uniqueName('reg'), uniqueName('reg')]
    let firstRetry = 0
    const hashed = await countHashes(async () => {
      firstRetry = await expect429(await registerFrom(t, refusedNames[0] as string, address))
      for (const name of refusedNames.slice(1)) {
        const retryAfter = await expect429(await registerFrom(t, name, address))
        expect(retryAfter).toBeGreaterThan(3590)
        expect(retryAfter).toBeLessThanOrEqual(firstRetry)
      }
    })
    expect(firstRetry).toBeLessThanOrEqual(3600)
    expect(hashed).toBe(1)
    for (const name of refusedNames) {
      expect(await t.query('select id from users where username = $1', [name])).toHaveLength(0)
    }
    expect((await registerFrom(t, uniqueName('reg'), other)).status).toBe(201)
    t.clock.advance(3601)
    expect((await registerFrom(t, uniqueName('reg'), address)).status).toBe(201)
  })

  it('lets exactly 3 of 12 concurrent registrations from one address through, hashing no more than 3', async () => {
    const address = uniqueAddress()
    const names = Array.from({ length: 12 }, () => uniqueName('conc'))
    let statuses: number[] = []
    const hashed = await countHashes(async () => {
      statuses = (await Promise.all(names.map((n) => registerFrom(t, n, address)))).map(
        (r) => r.status,
      )
    }, 100)
    expect(statuses.filter((s) => s === 201)).toHaveLength(3)
    expect(statuses.filter((s) => s === 429)).toHaveLength(9)
    expect(hashed).toBe(3)
    const created = await t.query('select id from users where username = any($1)', [names])
    expect(created).toHaveLength(3)
  })

  it('a second instance on the same database learns the block from its count', async () => {
    const address = uniqueAddress()
    for (let i = 0; i < 3; i++) {
      expect((await registerFrom(t, uniqueName('reg'), address)).status).toBe(201)
    }
    const other = t.instance()
    const name = uniqueName('reg')
    const res = await other.request('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', [TEST_PEER_HEADER]: address },
      body: JSON.stringify({ name: 'Elsewhere', username: name, password }),
    })
    await expect429(res)
    expect(await t.query('select id from users where username = $1', [name])).toHaveLength(0)
  })

  it('does not count requests rejected by validation', async () => {
    const address = uniqueAddress()
    for (let i = 0; i < 5; i++) expect((await registerFrom(t, 'x', address)).status).toBe(422)
    expect((await registerFrom(t, uniqueName('reg'), address)).status).toBe(201)
  })
})

describe('the table cannot grow without bound', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp()
  })
  afterAll(() => t.close())

  it('deletes counters whose window has passed, now and then, as attempts come in', async () => {
    for (let i = 0; i < 20; i++) await t.login({ username: uniqueName('stale'), password: 'wrong' })
    const count = async () =>
      Number((await t.query('select count(*)::int as n from auth_throttle'))[0]?.n)
    expect(await count()).toBe(20)
    t.clock.advance(901 + 60)
    await t.login({ username: uniqueName('fresh'), password: 'wrong' })
    expect(await count()).toBe(1)
  })
})

describe('a backlog of stale counters', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp()
  })
  afterAll(() => t.close())

  it('is cleared batch by batch, one batch per attempt, while batches come back full', async () => {
    const past = new Date(t.clock.now() - 3_600_000).toISOString()
    await t.query(
      `insert into auth_throttle (key, attempts, resets_at)
       select 'bulk:' || g, 1, $1::timestamptz from generate_series(1, 2500) g`,
      [past],
    )
    const stale = async () =>
      Number(
        (await t.query("select count(*)::int as n from auth_throttle where key like 'bulk:%'"))[0]
          ?.n,
      )
    const attempt = () => t.login({ username: uniqueName('sweeper'), password: 'wrong' })
    await attempt()
    expect(await stale()).toBe(1500)
    await attempt()
    expect(await stale()).toBe(500)
    await attempt()
    expect(await stale()).toBe(0)
  })
})

describe('addressBucket', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['::1', '::/64'],
  ])('%s -> %s', (address, bucket) => {
    expect(addressBucket(address)).toBe(bucket)
  })
})
