import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CONTRACT_ENV, PASSWORD, uniqueName } from './contract/target'
import { BUN, cleanEnv, ROOT, type ServerProcess, startServer } from './support/process'

const dataDir = mkdtempSync(join(tmpdir(), 'edge-auth-dev-worker-'))
let server: ServerProcess | undefined

const start = async () => {
  const { ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM } = CONTRACT_ENV
  server = await startServer({
    name: 'bun run dev:worker',
    command: BUN,
    args: ['run', 'dev:worker', '--ip=127.0.0.1', '--inspector-port=0'],
    env: cleanEnv({
      PORT: '0',
      PGLITE_DATA_DIR: join(dataDir, 'pglite'),
      ARGON2_MEMORY_KIB: ARGON2_MEMORY_KIB ?? '',
      ARGON2_ITERATIONS: ARGON2_ITERATIONS ?? '',
      ARGON2_PARALLELISM: ARGON2_PARALLELISM ?? '',
    }),
    ready: /Ready on (http:\/\/\S+)/,
    timeoutMs: 120_000,
  })
  return server.url
}

/** When each file of assets/ was last written. */
const assetTimes = () =>
  readdirSync(join(ROOT, 'assets'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name)
      return `${path} ${statSync(path).mtimeMs}`
    })
    .sort()

afterAll(async () => {
  await server?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('bun run dev:worker (zero setup)', () => {
  it('serves the API from workerd on PGlite, and keeps users across a restart (leaving assets/ alone)', async () => {
    const username = uniqueName('dev')
    let url = await start()
    const register = await fetch(`${url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Dev', username, password: PASSWORD }),
    })
    expect(register.status, server?.output()).toBe(201)
    expect(server?.output()).toContain('random one')
    expect(existsSync(join(dataDir, 'pglite', 'PG_VERSION'))).toBe(true)

    // A second run finds assets/ up to date and leaves it alone: a wrangler dev serving it
    // (the Worker leg of the contract suite, running beside this file) would restart its Worker.
    const assets = assetTimes()
    expect(assets.length).toBeGreaterThan(0)
    await server?.stop()
    url = await start()
    expect(assetTimes()).toEqual(assets)
    const login = await fetch(`${url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ username, password: PASSWORD }),
    })
    expect(login.status, server?.output()).toBe(200)
    const { access_token: token } = (await login.json()) as { access_token: string }
    const validate = await fetch(`${url}/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(await validate.json()).toEqual({ username, valid: true })
  }, 300_000)
})
