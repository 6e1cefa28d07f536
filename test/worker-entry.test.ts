/**
 * The Worker entry point's own logic, called in process: configuration from the bindings, the
 * Neon HTTP driver only, the client address from CF-Connecting-IP, and a 503 with a JSON body
 * (details in the log only, once per isolate) when the bindings are wrong.
 * The Worker itself, in workerd, runs the whole contract suite (test/contract.test.ts).
 */
import type { ExecutionContext } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import worker from '../src/entry/worker'

const ctx = {
  waitUntil() {},
  passThroughOnException() {},
  props: {},
} as unknown as ExecutionContext
const SECRET = 'worker-secret-0123456789abcdef0123456789'

afterEach(() => vi.restoreAllMocks())

async function call(env: Record<string, string>, path = '/validate') {
  const errors: string[] = []
  vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line))
  vi.spyOn(console, 'log').mockImplementation(() => {})
  const res = await worker.fetch(
    new Request(`http://worker.test${path}`, { method: 'POST' }),
    env as unknown as Env,
    ctx,
  )
  return { res, errors: errors.join('\n') }
}

describe('src/entry/worker.ts', () => {
  it('serves the app from its bindings (no database needed to refuse a missing token)', async () => {
    const { res } = await call({
      NODE_ENV: 'production',
      JWT_SECRET: SECRET,
      DATABASE_URL: 'postgres://u@db.example/auth',
    })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: 'Not authenticated' })
  })

  it('hashes passwords on the statically imported WebAssembly engine, and says so once', async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const env = { JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u@db.example/wasm-engine' }
    // As on workerd: no node:fs to load the module from the package's file, only the import.
    vi.spyOn(process, 'getBuiltinModule').mockImplementation(() => {
      throw new Error('no node: modules on Workers')
    })
    for (let i = 0; i < 2; i++) {
      const res = await worker.fetch(
        new Request('http://worker.test/healthz'),
        env as unknown as Env,
        ctx,
      )
      expect(res.status).toBe(200)
    }
    const engines = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'password_engine')
    expect(engines).toEqual([expect.objectContaining({ level: 'info', engine: 'wasm' })])
  })

  it('takes the client address from CF-Connecting-IP, never from X-Forwarded-For', async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const env = { JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u@db.example/auth' }
    const res = await worker.fetch(
      new Request('http://worker.test/healthz', {
        headers: { 'cf-connecting-ip': '2001:db8::7', 'x-forwarded-for': '203.0.113.9' },
      }),
      env as unknown as Env,
      ctx,
    )
    expect(res.status).toBe(200)
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.event === 'http_request')
    expect(line?.ip).toBe('2001:db8::7')
  })

  it('honours LOG_LEVEL: warn drops the access lines, keeps failed validations', async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const env = {
      JWT_SECRET: SECRET,
      DATABASE_URL: 'postgres://u@db.example/auth',
      LOG_LEVEL: 'warn',
      // Set, so that the start logs no warning: only the failed validation is expected.
      MFA_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    }
    const res = await worker.fetch(
      new Request('http://worker.test/validate', {
        method: 'POST',
        headers: { authorization: 'Bearer not-a-token' },
      }),
      env as unknown as Env,
      ctx,
    )
    expect(res.status).toBe(401)
    expect(lines.map((line) => JSON.parse(line).event)).toEqual(['authn_token_invalid'])
  })

  it.each([
    ['no DATABASE_URL', { NODE_ENV: 'production', JWT_SECRET: SECRET }, 'DATABASE_URL'],
    [
      'no JWT_SECRET in production',
      { NODE_ENV: 'production', DATABASE_URL: 'postgres://u@db.example/auth' },
      'JWT_SECRET',
    ],
    [
      'a driver other than neon-http',
      { JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u@db.example/auth', DB_DRIVER: 'postgres' },
      'DB_DRIVER',
    ],
    ['a PGlite URL', { JWT_SECRET: SECRET, DATABASE_URL: 'memory://' }, 'DB_DRIVER'],
  ])('%s: a 503 with a JSON detail, the reason in the log only', async (_case, env, name) => {
    const { res, errors } = await call(env)
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({
      detail: 'Service unavailable: the server is not configured correctly',
    })
    expect(JSON.parse(errors)).toMatchObject({ level: 'error', event: 'config_error' })
    expect(errors).toContain(name)
    expect(errors).not.toContain(SECRET)
  })

  it('logs a configuration error once per isolate, not once per request', async () => {
    const env = { JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u@db.example/auth' }
    const bad = { ...env, THROTTLE_LOGIN_ACCOUNT_MAX: 'many' }
    const first = await call(bad)
    const again = await call({ ...bad })
    expect([first.res.status, again.res.status]).toEqual([503, 503])
    expect(first.errors).toContain('THROTTLE_LOGIN_ACCOUNT_MAX')
    expect(again.errors).toBe('')
  })
})
