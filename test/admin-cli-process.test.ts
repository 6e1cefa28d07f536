/**
 * The operator's commands exactly as README gives them, `bun run admin -- ban alice --reason spam`
 * and `bun run admin -- reset-mfa ...`:
 * package.json's script run by Bun, its arguments after `--`, the variables EDGE_AUTH_URL and
 * EDGE_AUTH_ADMIN_KEY, against the app served on a socket. What each command does is in
 * test/admin-cli.test.ts, which runs the tool in process.
 */
import { execFile, execFileSync } from 'node:child_process'
import { type ServerType, serve } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminKeyHash, newAdminKey } from '../src/auth/admin-keys'
import { makeTestApp, type TestApp } from './support/app'
import { BUN, cleanEnv, IN_CI, ROOT } from './support/process'
import { secretOfUri, totpNow } from './support/totp'

const password = 'correct horse battery staple'
const KEY = newAdminKey()

function hasBun(): boolean {
  try {
    execFileSync(BUN, ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const skip = !hasBun() && !IN_CI
if (skip) console.warn('Skipping `bun run admin` as a process: no bun on PATH')

/** Runs `bun run admin -- ...argv`; resolves with its exit code and output. */
function bunRunAdmin(argv: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      BUN,
      ['run', 'admin', '--', ...argv],
      { cwd: ROOT, env: cleanEnv(env), timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

describe.skipIf(skip)('bun run admin -- ban alice --reason spam (a process)', () => {
  let t: TestApp
  let server: ServerType
  let url: string

  beforeAll(async () => {
    t = await makeTestApp({ admin: { keys: [{ name: 'ops', sha256: await adminKeyHash(KEY) }] } })
    expect((await t.register({ name: 'Alice', username: 'alice', password })).status).toBe(201)
    url = await new Promise<string>((done) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        done(`http://127.0.0.1:${info.port}`),
      )
    })
  })
  afterAll(async () => {
    await new Promise((done) => server?.close(done))
    await t?.close()
  })

  it('bans alice: exit 0, the account printed, her login refused with 403', async () => {
    const run = await bunRunAdmin(['ban', 'alice', '--reason', 'spam'], {
      EDGE_AUTH_URL: url,
      EDGE_AUTH_ADMIN_KEY: KEY,
    })
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout.slice(run.stdout.indexOf('{')))).toMatchObject({
      username: 'alice',
      banned: true,
      ban: { reason: 'spam', until: null },
    })
    const login = await t.login({ username: 'alice', password })
    expect(login.status).toBe(403)
    expect(`${run.stdout}${run.stderr}`).not.toContain(KEY)
  })

  it('bun run admin -- reset-mfa bob: exit 0, TOTP off, the password alone logs him in', async () => {
    expect((await t.register({ name: 'Bob', username: 'bob', password })).status).toBe(201)
    const { access_token } = await (await t.login({ username: 'bob', password })).json()
    const started = await t.bearer('POST', '/me/mfa/totp', access_token, {
      current_password: password,
    })
    const secret = secretOfUri((await started.json()).otpauth_uri)
    const confirmed = await t.bearer('POST', '/me/mfa/totp/confirm', access_token, {
      otp: totpNow(secret, t.clock.now()),
    })
    expect(confirmed.status).toBe(200)
    expect((await t.login({ username: 'bob', password })).status).toBe(403)
    const run = await bunRunAdmin(['reset-mfa', 'bob'], {
      EDGE_AUTH_URL: url,
      EDGE_AUTH_ADMIN_KEY: KEY,
    })
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout.slice(run.stdout.indexOf('{')))).toMatchObject({
      username: 'bob',
      totp_enabled: false,
    })
    expect((await t.login({ username: 'bob', password })).status).toBe(200)
  })

  it('a wrong key: exit 1 with the API status; no key: exit 2', async () => {
    const wrong = await bunRunAdmin(['show', 'alice'], {
      EDGE_AUTH_URL: url,
      EDGE_AUTH_ADMIN_KEY: newAdminKey(),
    })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/401: /)
    const none = await bunRunAdmin(['show', 'alice'], { EDGE_AUTH_URL: url })
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/EDGE_AUTH_ADMIN_KEY/)
  })
})
