import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { DEFAULT_SECURITY, parseConfig } from '../src/config'
import { startService } from '../src/entry/server'
import { type AccessLog, createBatchedWriter, createLogger } from '../src/logger'
import { accessLineWanted } from '../src/middleware/hardening'
import { makeTestApp, TEST_PEER_HEADER, TEST_SECRET, type TestApp } from './support/app'
import { forgeJwt, nowSeconds } from './support/jwt'
import { migratedPgliteCopy } from './support/pglite'

type Line = Record<string, unknown> & { ts: string; level: string; event: string }

let t: TestApp
beforeAll(async () => {
  t = await makeTestApp({
    security: {
      ...DEFAULT_SECURITY,
      throttle: {
        ...DEFAULT_SECURITY.throttle,
        registerAddress: { max: 2, windowSeconds: 3600, lockoutSeconds: 3600 },
      },
    },
  })
})
afterAll(() => t.close())

/** The lines written while `run` ran, each checked to be exactly one JSON object. */
async function captured(run: () => Promise<void>): Promise<Line[]> {
  const from = t.logs.length
  await run()
  return t.logs.slice(from).map((raw) => {
    expect(raw).not.toMatch(/[\r\n]/)
    return JSON.parse(raw) as Line
  })
}

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.app.request('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  })

describe('log lines', () => {
  it('one http_request line per request: method, path, status, duration, request id, address; UTC time', async () => {
    const lines = await captured(async () => {
      const res = await t.app.request('/healthz?token=secret-in-query', {
        headers: { 'x-request-id': 'req-log-1', [TEST_PEER_HEADER]: '192.0.2.10' },
      })
      expect(res.status).toBe(200)
    })
    expect(lines).toHaveLength(1)
    const [line] = lines as [Line]
    expect(line).toEqual({
      ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: 'info',
      event: 'http_request',
      request_id: 'req-log-1',
      ip: '192.0.2.10',
      method: 'GET',
      path: '/healthz',
      status: 200,
      duration_ms: expect.any(Number),
    })
    expect(line.duration_ms as number).toBeGreaterThanOrEqual(0)
  })

  it('a generated request id is the one sent back in X-Request-Id', async () => {
    let header: string | null = null
    const lines = await captured(async () => {
      header = (await t.app.request('/nope')).headers.get('x-request-id')
    })
    expect(header).toMatch(/^[0-9a-f-]{36}$/)
    expect(lines[0]).toMatchObject({ event: 'http_request', status: 404, request_id: header })
  })

  it('security events use the OWASP vocabulary, carry the request id, and never a secret', async () => {
    const username = `logged_${Math.random().toString(36).slice(2, 8)}`
    const password = 'a-very-distinctive-password-42'
    const wrong = 'another-distinctive-wrong-one'
    const peer = { [TEST_PEER_HEADER]: '192.0.2.77' }
    const secrets: string[] = [password, wrong, TEST_SECRET]
    const lines = await captured(async () => {
      const registration = (u: string) =>
        t.app.request('/register', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...peer },
          body: JSON.stringify({ name: 'Logged', username: u, password }),
        })
      expect((await registration(username)).status).toBe(201)
      expect((await registration(`${username}_2`)).status).toBe(201)
      expect((await registration(`${username}_3`)).status).toBe(429)

      const ok = await form({ username, password }, { 'x-request-id': 'req-login-ok' })
      const token = (await ok.json()).access_token as string
      secrets.push(token, token.split('.')[2] as string)
      const checked = await t.app.request('/validate', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      })
      expect(checked.status).toBe(200)
      const forged = forgeJwt(
        { alg: 'HS256' },
        { sub: username, exp: nowSeconds() - 5 },
        TEST_SECRET,
      )
      secrets.push(forged)
      await t.app.request('/validate', {
        method: 'POST',
        headers: { authorization: `Bearer ${forged}` },
      })
      for (let i = 0; i < 6; i++) await form({ username, password: wrong }, peer)
    })
    const [row] = await t.query('select hashed_password from users where username = $1', [username])
    secrets.push(String(row?.hashed_password))

    const events = lines.map((l) => l.event)
    for (const event of [
      'user_created',
      'excess_rate_limit_exceeded',
      'authn_login_success',
      'authn_token_created',
      'authn_token_invalid',
      'authn_login_fail',
      'authn_login_lock',
    ]) {
      expect(events).toContain(event)
    }
    const success = lines.find((l) => l.event === 'authn_login_success')
    expect(success).toMatchObject({ request_id: 'req-login-ok', user_id: expect.any(Number) })
    expect(lines.find((l) => l.event === 'authn_token_created')).toMatchObject({
      request_id: 'req-login-ok',
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      exp: expect.any(Number),
    })
    expect(lines.find((l) => l.event === 'authn_login_lock')).toMatchObject({
      level: 'warn',
      ip: '192.0.2.77',
      scope: 'loginAccount',
    })
    expect(lines.find((l) => l.event === 'authn_token_invalid')).toMatchObject({
      reason: 'expired',
    })

    const all = lines.map((l) => JSON.stringify(l)).join('\n')
    for (const secret of secrets) expect(all).not.toContain(secret)
    expect(all).not.toContain('$argon2')
    expect(all).not.toContain(username)
  })

  it('a username with CR/LF cannot forge a line', async () => {
    const forged = `x\r\n{"ts":"2020-01-01T00:00:00.000Z","level":"info","event":"authn_login_success","user_id":1}\n`
    const lines = await captured(async () => {
      await form({ username: forged, password: 'whatever-password' })
      await t.app.request(`/a%0D%0A%7B%22event%22%3A%22authn_login_success%22%7D`)
    })
    expect(lines.filter((l) => l.event === 'authn_login_success')).toHaveLength(0)
    expect(lines.map((l) => l.event)).toEqual(['authn_login_fail', 'http_request', 'http_request'])
  })
})

describe('ACCESS_LOG', () => {
  /** The events logged for: a login, a valid and an invalid token on /validate, a health check, a 404, a 405. */
  async function eventsWith(accessLog: AccessLog) {
    const app = await makeTestApp({ accessLog })
    try {
      const username = `acc_${Math.random().toString(36).slice(2, 8)}`
      expect(
        (await app.register({ name: 'Access', username, password: 'correct horse battery' }))
          .status,
      ).toBe(201)
      const login = await app.login({ username, password: 'correct horse battery' })
      const token = (await login.json()).access_token as string
      const from = app.logs.length
      expect((await app.validate(`Bearer ${token}`)).status).toBe(200)
      expect(
        (
          await app.app.request(`/validate/upstream/path`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).status,
      ).toBe(200)
      expect((await app.validate('Bearer not-a-token')).status).toBe(401)
      expect((await app.app.request('/healthz')).status).toBe(200)
      expect((await app.app.request('/nope')).status).toBe(404)
      expect((await app.app.request('/token')).status).toBe(405)
      expect((await app.login({ username, password: 'wrong password here' })).status).toBe(401)
      return app.logs.slice(from).map((raw) => {
        const line = JSON.parse(raw) as Line
        return line.event === 'http_request'
          ? `${line.method} ${line.path} ${line.status}`
          : line.event
      })
    } finally {
      await app.close()
    }
  }

  it('all: one access line per request', async () => {
    expect(await eventsWith('all')).toEqual([
      'POST /validate 200',
      'GET /validate/upstream/path 200',
      'authn_token_invalid',
      'POST /validate 401',
      'GET /healthz 200',
      'GET /nope 404',
      'GET /token 405',
      'authn_login_fail',
      'POST /token 401',
    ])
  })

  it('errors-and-writes: no line for a valid token or a health check; failures and their security events kept', async () => {
    expect(await eventsWith('errors-and-writes')).toEqual([
      'authn_token_invalid',
      'POST /validate 401',
      'GET /nope 404',
      'GET /token 405',
      'authn_login_fail',
      'POST /token 401',
    ])
  })

  it('none: no access line, every security event kept', async () => {
    expect(await eventsWith('none')).toEqual(['authn_token_invalid', 'authn_login_fail'])
  })

  it('a successful write is logged under errors-and-writes', () => {
    expect(accessLineWanted('errors-and-writes', 'POST', '/register', 201)).toBe(true)
    expect(accessLineWanted('errors-and-writes', 'POST', '/token', 200)).toBe(true)
    expect(accessLineWanted('errors-and-writes', 'POST', '/introspect', 200)).toBe(false)
    expect(accessLineWanted('errors-and-writes', 'POST', '/validate', 503)).toBe(true)
  })

  it('defaults to errors-and-writes in production and all elsewhere; a bad value stops the start', () => {
    const base = { JWT_SECRET: TEST_SECRET, DATABASE_URL: 'memory://' }
    expect(
      parseConfig({ ...base, NODE_ENV: 'production', JWT_ISSUER: 'https://auth.example.com' })
        .accessLog,
    ).toBe('errors-and-writes')
    expect(parseConfig(base).accessLog).toBe('all')
    expect(parseConfig({ ...base, ACCESS_LOG: 'none' }).accessLog).toBe('none')
    expect(() => parseConfig({ ...base, ACCESS_LOG: 'some' })).toThrow(/ACCESS_LOG/)
  })
})

describe('createLogger', () => {
  it('writes one JSON line per call, escaping CR/LF inside values', () => {
    const out: string[] = []
    const log = createLogger((line) => out.push(line))
    log.warn('authn_login_fail', { user: 'evil\n{"event":"forged"}\r\n' })
    const stream = `${out.join('\n')}\n`
    const lines = stream.split(/\r?\n/).filter(Boolean)
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0] as string).user).toBe('evil\n{"event":"forged"}\r\n')
  })

  it('does not let fields replace ts, level or event', () => {
    const out: string[] = []
    createLogger((line) => out.push(line)).info('real_event', {
      event: 'forged',
      level: 'error',
      ts: '1970-01-01T00:00:00.000Z',
    })
    const line = JSON.parse(out[0] as string)
    expect(line.event).toBe('real_event')
    expect(line.level).toBe('info')
    expect(line.ts).not.toBe('1970-01-01T00:00:00.000Z')
  })
  it("a child adds its fields to every line; a line's own fields win, each key once; reserved names and undefined values are dropped", () => {
    const out: string[] = []
    const root = createLogger((line) => out.push(line))
    const request = root.child({ request_id: 'r-1', ip: undefined, event: 'forged' })
    request.info('http_request', { status: 200 })
    request.warn('override', { request_id: 'r-2', extra: true })
    request.error('bare')
    request.child({ user_id: 7 }).info('nested', { ts: 'x' })
    root.info('plain')
    const lines = out.map((line) => JSON.parse(line) as Record<string, unknown>)
    const rest = lines.map(({ ts: _ts, ...fields }) => fields)
    expect(rest).toEqual([
      { level: 'info', event: 'http_request', request_id: 'r-1', status: 200 },
      { level: 'warn', event: 'override', request_id: 'r-2', extra: true },
      { level: 'error', event: 'bare', request_id: 'r-1' },
      { level: 'info', event: 'nested', request_id: 'r-1', user_id: 7 },
      { level: 'info', event: 'plain' },
    ])
    for (const line of lines) expect(Number.isNaN(Date.parse(String(line.ts)))).toBe(false)
    expect(out[1]?.match(/"request_id"/g)).toHaveLength(1)
  })
})

describe('createBatchedWriter', () => {
  function setup(maxChars = 1000) {
    const chunks: string[] = []
    const timers: { flush: () => void; ms: number }[] = []
    const writer = createBatchedWriter((chunk) => chunks.push(chunk), {
      maxChars,
      maxDelayMs: 50,
      defer: (flush, ms) => timers.push({ flush, ms }),
    })
    return { chunks, timers, writer }
  }

  it('writes queued lines together when the delay ends, newline-terminated, one timer per chunk', () => {
    const { chunks, timers, writer } = setup()
    writer.line('{"a":1}')
    writer.line('{"b":2}')
    expect(chunks).toEqual([])
    expect(timers.map((t) => t.ms)).toEqual([50])
    timers[0]?.flush()
    expect(chunks).toEqual(['{"a":1}\n{"b":2}\n'])
    writer.line('{"c":3}')
    expect(timers).toHaveLength(2)
    timers[1]?.flush()
    expect(chunks[1]).toBe('{"c":3}\n')
  })

  it('writes at once when the buffer is full, and flush() empties it (on exit)', () => {
    const { chunks, timers, writer } = setup(20)
    writer.line('0123456789')
    writer.line('0123456789')
    expect(chunks).toEqual(['0123456789\n0123456789\n'])
    writer.line('tail')
    writer.flush()
    expect(chunks[1]).toBe('tail\n')
    writer.flush()
    for (const timer of timers) timer.flush()
    expect(chunks).toHaveLength(2)
  })
})

describe('LOG_LEVEL', () => {
  const everyLevel = (level?: 'debug' | 'info' | 'warn' | 'error') => {
    const out: string[] = []
    const log = createLogger((line) => out.push(line), level).child({ request_id: 'r' })
    log.debug('d')
    log.info('i')
    log.warn('w')
    log.error('e')
    return out.map((line) => (JSON.parse(line) as Line).event)
  }

  it('writes the lines at or above the level, children included; info by default', () => {
    expect(everyLevel('debug')).toEqual(['d', 'i', 'w', 'e'])
    expect(everyLevel()).toEqual(['i', 'w', 'e'])
    expect(everyLevel('info')).toEqual(['i', 'w', 'e'])
    expect(everyLevel('warn')).toEqual(['w', 'e'])
    expect(everyLevel('error')).toEqual(['e'])
  })

  it('Bun and Node (startService): LOG_LEVEL=warn drops access lines, keeps failed validations', async () => {
    const written: string[] = []
    const database = migratedPgliteCopy()
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      const service = await startService({
        DATABASE_URL: database.url,
        JWT_SECRET: TEST_SECRET,
        LOG_LEVEL: 'warn',
        // Set, so that the start logs no warning: only the failed validation is expected.
        MFA_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
      })
      try {
        await service.app.request('/healthz')
        const res = await service.app.request('/validate', {
          method: 'POST',
          headers: { authorization: 'Bearer not-a-token' },
        })
        expect(res.status).toBe(401)
        await new Promise((resolve) => setTimeout(resolve, 120))
      } finally {
        await service.close()
      }
    } finally {
      write.mockRestore()
      database.remove()
    }
    const events = written
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Line)
    expect(events.map((line) => line.event)).toEqual(['authn_token_invalid'])
    expect(events[0]?.level).toBe('warn')
  })
})
