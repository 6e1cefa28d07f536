/**
 * `bun run admin` (scripts/admin.ts) against the app in process: the tool's fetch is `app.request`,
 * so each command goes through the same HTTP API as any client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AdminCliIo, runAdminCli } from '../scripts/admin'
import { adminKeyHash, newAdminKey } from '../src/auth/admin-keys'
import { parseConfig } from '../src/config'
import { makeTestApp, type TestApp } from './support/app'
import { secretOfUri, totpNow } from './support/totp'

const password = 'correct horse battery staple'
const KEY = newAdminKey()
let t: TestApp

beforeAll(async () => {
  t = await makeTestApp({ admin: { keys: [{ name: 'cli', sha256: await adminKeyHash(KEY) }] } })
  for (const username of ['alice', 'alicia', 'bob']) {
    expect((await t.register({ name: username, username, password })).status).toBe(201)
  }
})
afterAll(() => t.close())

/** Runs the tool; returns its exit code and what it printed. */
async function admin(
  argv: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
) {
  const out: string[] = []
  const err: string[] = []
  const io: AdminCliIo = {
    env: options.env ?? { EDGE_AUTH_ADMIN_KEY: KEY, EDGE_AUTH_URL: 'http://auth.internal' },
    fetch: (input, init) => t.app.request(input, init),
    readStdin: async () => options.stdin ?? '',
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  }
  const code = await runAdminCli(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

describe('bun run admin', () => {
  it('ban alice --reason spam: alice is locked out; unban lets her in', async () => {
    const banned = await admin(['ban', 'alice', '--reason', 'spam'])
    expect(banned.code, banned.err).toBe(0)
    expect(JSON.parse(banned.out)).toMatchObject({ username: 'alice', banned: true })
    expect((await t.login({ username: 'alice', password })).status).toBe(403)
    // Alicia, whose name starts the same, is untouched.
    expect((await t.login({ username: 'alicia', password })).status).toBe(200)
    const shown = await admin(['show', 'ALICE'])
    expect(JSON.parse(shown.out)).toMatchObject({ ban: { reason: 'spam', until: null } })
    expect((await admin(['unban', 'alice'])).code).toBe(0)
    expect((await t.login({ username: 'alice', password })).status).toBe(200)
  })

  it('ban --for sets an end; list, end-sessions, set-password from stdin, delete by #id', async () => {
    const timed = await admin(['ban', 'bob', '--reason', 'cool off', '--for', '2h'])
    const until = Date.parse(JSON.parse(timed.out).ban.until)
    expect(until - Date.now()).toBeGreaterThan(7_000_000)
    expect(until - Date.now()).toBeLessThanOrEqual(7_200_000)
    await admin(['unban', 'bob'])

    const listed = await admin(['list', '--username', 'ali'])
    const names = JSON.parse(listed.out).users.map((u: { username: string }) => u.username)
    expect(names).toEqual(['alice', 'alicia'])

    expect((await admin(['end-sessions', 'alicia'])).code).toBe(0)
    const changed = await admin(['set-password', 'alicia'], { stdin: 'a brand new password\n' })
    expect(changed.code, changed.err).toBe(0)
    expect((await t.login({ username: 'alicia', password })).status).toBe(401)
    expect((await t.login({ username: 'alicia', password: 'a brand new password' })).status).toBe(
      200,
    )

    const id = JSON.parse((await admin(['show', 'alicia'])).out).id
    expect((await admin(['delete', `#${id}`])).code).toBe(2)
    expect((await admin(['delete', `#${id}`, '--yes'])).code).toBe(0)
    expect((await t.login({ username: 'alicia', password: 'a brand new password' })).status).toBe(
      401,
    )
  })

  it('reset-mfa carol: her second factor is removed, and the password alone logs her in', async () => {
    expect((await t.register({ name: 'carol', username: 'carol', password })).status).toBe(201)
    const { access_token } = await (await t.login({ username: 'carol', password })).json()
    const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
      current_password: password,
    })
    const secret = secretOfUri((await started.json()).otpauth_uri)
    const confirmed = await t.bearer('POST', '/me/mfa/totp/confirm', access_token, {
      otp: totpNow(secret, t.clock.now()),
    })
    expect(confirmed.status).toBe(200)
    expect(JSON.parse((await admin(['show', 'carol'])).out)).toMatchObject({ totp_enabled: true })
    expect((await t.login({ username: 'carol', password })).status).toBe(403)

    const reset = await admin(['reset-mfa', 'carol'])
    expect(reset.code, reset.err).toBe(0)
    expect(JSON.parse(reset.out)).toMatchObject({
      username: 'carol',
      totp_enabled: false,
      active_sessions: 0,
    })
    expect((await t.login({ username: 'carol', password })).status).toBe(200)
    // Her old session ended with it.
    expect((await t.bearer('GET', '/me', access_token)).status).toBe(401)
    expect(await admin(['reset-mfa'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/needs a USER/),
    })
    const unknown = await admin(['reset-mfa', '#2147483647'])
    expect(unknown.code).toBe(1)
    expect(unknown.err).toMatch(/^404: User not found/)
  })

  it('says what is wrong: usage (2) or the API refusal (1), never the key', async () => {
    const cases: [string[], number, RegExp][] = [
      [[], 2, /no command/],
      [['ban', 'alice'], 2, /--reason/],
      [['ban', 'alice', '--reason', 'x', '--for', 'soon'], 2, /--for soon/],
      [['frobnicate', 'alice'], 2, /unknown command/],
      [['show', 'nobody_at_all'], 1, /no account named nobody_at_all/],
      [['set-password', 'bob'], 2, /stdin/],
      [['ban', 'alice', '--reason', 'x', '--until', 'yesterday'], 1, /^422: /],
    ]
    for (const [argv, code, message] of cases) {
      const result = await admin(argv)
      expect(result.code, argv.join(' ')).toBe(code)
      expect(result.err).toMatch(message)
      expect(result.err).not.toContain(KEY)
    }
    const noKey = await admin(['show', 'alice'], { env: {} })
    expect(noKey.code).toBe(2)
    expect(noKey.err).toMatch(/EDGE_AUTH_ADMIN_KEY/)
    const wrongKey = await admin(['show', 'alice'], { env: { EDGE_AUTH_ADMIN_KEY: newAdminKey() } })
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.err).toMatch(/^401: /)
  })

  it('new-key prints a key and the ADMIN_API_KEYS entry that lets it in', async () => {
    const made = await admin(['new-key', 'ci'], { env: {} })
    expect(made.code).toBe(0)
    const key = /key[^:]*: (eak_\S+)/.exec(made.out)?.[1]
    const entry = /entry[^:]*: (ci:[0-9a-f]{64})/.exec(made.out)?.[1]
    expect(key).toBeDefined()
    const config = parseConfig({ ADMIN_API_KEYS: entry })
    expect(config.admin.keys[0]?.sha256).toBe(await adminKeyHash(key ?? ''))
  })
})
