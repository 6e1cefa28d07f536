/**
 * `bun run dev:worker` as the README describes it with a `.dev.vars` (in a copy of the repository,
 * so none is left behind): settings from both the file and the environment reach the Worker, and
 * `--port` wins. A file of its own, so that it runs beside the zero-setup test (test/dev-worker.test.ts).
 */
import { createHmac } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CONTRACT_ENV, PASSWORD, uniqueName } from './contract/target'
import { BUN, cleanEnv, ROOT, type ServerProcess, startServer } from './support/process'

describe('bun run dev:worker with a .dev.vars, as the README describes', () => {
  const copy = mkdtempSync(join(tmpdir(), 'edge-auth-dev-worker-copy-'))
  let copyServer: ServerProcess | undefined
  afterAll(async () => {
    await copyServer?.stop()
    rmSync(copy, { recursive: true, force: true })
  })

  it('passes settings from .dev.vars and the environment to the Worker; --port beats PORT', async () => {
    const files = ['package.json', 'wrangler.toml', 'tsconfig.json', 'worker-configuration.d.ts']
    for (const name of [...files, 'scripts', 'src', 'drizzle']) {
      cpSync(join(ROOT, name), join(copy, name), { recursive: true })
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
    const secret = 'dev-vars-secret-$HOME-0123456789abcdef0123456789'
    const example = readFileSync(join(ROOT, '.dev.vars.example'), 'utf8')
    writeFileSync(
      join(copy, '.dev.vars'),
      `${example.replace(/^JWT_SECRET=$/m, `JWT_SECRET='${secret}'`)}\nTHROTTLE_LOGIN_ACCOUNT_MAX=1\n`,
    )
    const { ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM } = CONTRACT_ENV
    copyServer = await startServer({
      name: 'bun run dev:worker (.dev.vars)',
      command: BUN,
      args: ['run', 'dev:worker', '--port', '0', '--ip=127.0.0.1', '--inspector-port=0'],
      env: cleanEnv({
        // wrangler refuses two --port arguments; the one on the command line must win.
        PORT: '1',
        DATABASE_URL: 'memory://',
        CORS_ORIGINS: 'https://app.example.com',
        ARGON2_MEMORY_KIB: ARGON2_MEMORY_KIB ?? '',
        ARGON2_ITERATIONS: ARGON2_ITERATIONS ?? '',
        ARGON2_PARALLELISM: ARGON2_PARALLELISM ?? '',
      }),
      cwd: copy,
      ready: /Ready on (http:\/\/\S+)/,
      timeoutMs: 120_000,
    })
    const url = copyServer.url
    expect(new URL(url).port).not.toBe('1')
    const output = () => copyServer?.output() ?? ''

    const username = uniqueName('devvars')
    const register = await fetch(`${url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://app.example.com' },
      body: JSON.stringify({ name: 'Dev', username, password: PASSWORD }),
    })
    expect(register.status, output()).toBe(201)
    // CORS_ORIGINS came from the environment.
    expect(register.headers.get('access-control-allow-origin')).toBe('https://app.example.com')

    const login = await fetch(`${url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ username, password: PASSWORD }),
    })
    expect(login.status, output()).toBe(200)
    const { access_token: token } = (await login.json()) as { access_token: string }
    // Signed with the JWT_SECRET of .dev.vars, taken whole ($HOME is not expanded).
    const [header, payload, signature] = token.split('.')
    const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
    expect(signature).toBe(expected)
    expect(output()).not.toContain('random one')
    expect(output()).not.toContain(secret)

    // THROTTLE_LOGIN_ACCOUNT_MAX=1 came from .dev.vars: one failure blocks the account.
    const wrong = await fetch(`${url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ username, password: 'wrong password, surely' }),
    })
    expect(wrong.status).toBe(401)
    const blocked = await fetch(`${url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ username, password: PASSWORD }),
    })
    expect(blocked.status).toBe(429)
  }, 300_000)
})
