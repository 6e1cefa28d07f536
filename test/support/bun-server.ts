import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { TEST_SECRET } from './app'
import { migratedPgliteCopy } from './pglite'

/** A real `bun src/entry/bun.ts` process on a free port, with an in-memory database. */
export interface BunServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  /** Everything the process printed, for failure messages. */
  output(): string
  stop(): Promise<void>
}

const ROOT = resolve(import.meta.dirname, '..', '..')

/**
 * Starts the service's Bun entry point (PORT=0, so the kernel picks a free port), with
 * `JWT_SECRET` = {@link TEST_SECRET} so a test can forge tokens, cheap Argon2 parameters and a
 * PGlite database of its own, copied from the migrated one the test run saved (the contract's
 * Bun + PGlite leg is the one that starts from `memory://`). Resolves once the server prints where
 * it listens.
 */
export async function startBunServer(env: Record<string, string> = {}): Promise<BunServer> {
  const database = migratedPgliteCopy()
  const child = spawn('bun', ['src/entry/bun.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      PORT: '0',
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_SECRET,
      ARGON2_MEMORY_KIB: '256',
      ARGON2_ITERATIONS: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.once('exit', database.remove)
  let output = ''
  const port = await new Promise<number>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`Bun server did not start:\n${output}`)), 90_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Listening on http:\/\/localhost:(\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        done(Number(match[1]))
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      fail(new Error(`Bun server exited (${code}):\n${output}`))
    })
  })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output: () => output,
    stop: () => stopProcess(child),
  }
}

/** Sends SIGTERM and waits for the process to end (SIGKILL after 5 s). */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Registers a user and logs in over HTTP; returns the access token. */
export async function registerAndLogin(
  baseUrl: string,
  user: { name: string; username: string; password: string },
): Promise<string> {
  const registered = await fetch(`${baseUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
  })
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`)
  const login = await fetch(`${baseUrl}/token`, {
    method: 'POST',
    body: new URLSearchParams({ username: user.username, password: user.password }),
  })
  if (login.status !== 200) throw new Error(`login: ${login.status}`)
  return ((await login.json()) as { access_token: string }).access_token
}
