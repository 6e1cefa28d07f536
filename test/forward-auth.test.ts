import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app'
import { usernameKey } from '../src/auth/credentials'
import { createPasswordHasher } from '../src/auth/password'
import type { TokenService } from '../src/auth/tokens'
import {
  atForwardAuth,
  FORWARD_AUTH_PATH,
  forwardAuthRequest,
  forwardAuthRewrite,
} from '../src/entry/forward-auth'
import { ApiError } from '../src/errors'
import { createLogger } from '../src/logger'
import { FAST_ARGON2, makeTestApp, TEST_SECRET, type TestApp } from './support/app'
import { forgeJwt } from './support/jwt'

let t: TestApp
const password = 'correct horse battery staple'
const username = 'erin_gateway'
let token: string

beforeAll(async () => {
  t = await makeTestApp()
  await t.register({ name: 'Erin', username, password })
  token = (await (await t.login({ username, password })).json()).access_token
})
afterAll(() => t.close())

const now = () => Math.floor(t.clock.now() / 1000)
const HS256 = { alg: 'HS256', typ: 'JWT' }
const call = (method: string, path: string, authorization?: string) =>
  t.app.request(path, { method, headers: authorization === undefined ? {} : { authorization } })

/**
 * Forward-auth cases that need the inside: accounts adopted from the Python service, usernames the
 * rules refuse, and a token check that fails. The HTTP behaviour every runtime shares is in
 * test/contract/forward-auth.ts.
 */
describe('forward-auth: GET and HEAD /validate, inside', () => {
  /** An account adopted from the Python service: never logged out here, so tokens_valid_after is NULL. */
  const adopt = (username: string) =>
    t.query(
      "insert into users (name, username, username_key, hashed_password, tokens_valid_after) values ('Legacy', $1, $2, 'x', null)",
      [username, usernameKey(username)],
    )

  it('a token from the Python service (no uid): X-Auth-User only, no X-Auth-User-Id', async () => {
    await adopt('legacy_user')
    const legacy = forgeJwt(HS256, { sub: 'legacy_user', exp: now() + 600 }, TEST_SECRET)
    const res = await call('GET', '/validate', `Bearer ${legacy}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-auth-user')).toBe('legacy_user')
    expect(res.headers.get('x-auth-user-id')).toBeNull()
  })

  it('percent-encodes a Unicode username, which decodes back to the name', async () => {
    const name = 'żółw_用户'
    const created = await t.register({ name: 'Zolw', username: name, password })
    expect(created.status).toBe(201)
    const login = await (await t.login({ username: name, password })).json()
    const res = await call('GET', '/validate', `Bearer ${login.access_token}`)
    expect(res.status).toBe(200)
    const header = res.headers.get('x-auth-user') ?? ''
    expect(header).toMatch(/^[\x21-\x7e]+$/)
    expect(decodeURIComponent(header)).toBe(name)
  })

  it('a legacy username with CR/LF cannot add a header (it is percent-encoded)', async () => {
    const sub = 'mallory\r\nX-Admin: yes'
    await adopt(sub)
    const legacy = forgeJwt(HS256, { sub, exp: now() + 600 }, TEST_SECRET)
    const res = await call('GET', '/validate', `Bearer ${legacy}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-admin')).toBeNull()
    expect(res.headers.get('x-auth-user')).toBe('mallory%0D%0AX-Admin%3A%20yes')
  })
})

describe('only 200, 401 or 503', () => {
  const methods = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')
  const paths = fc.oneof(
    fc.constant('/validate'),
    fc.webPath().map((p) => `/validate/${p.replace(/^\/+/, '')}`),
  )
  const headers = fc.oneof(
    fc.string(),
    fc.string().map((s) => `Bearer ${s}`),
    fc.constant(`Bearer ${token}`),
    fc.nat({ max: 40 }).map((cut) => `Bearer ${token.slice(0, -cut - 1)}`),
    fc.string().map((s) => `Bearer ${token}${s}`),
  )

  it('whatever the method, sub-path and Authorization header: 200 or 401', async () => {
    await fc.assert(
      fc.asyncProperty(methods, paths, fc.option(headers, { nil: undefined }), async (m, p, h) => {
        const res = await call(m, p, h?.trim() === '' ? undefined : h)
        expect([200, 401]).toContain(res.status)
      }),
      { numRuns: 300 },
    )
  })

  describe('when the check itself fails', () => {
    const logs: string[] = []
    const build = (verifyAccessToken: TokenService['verifyAccessToken']) =>
      createApp({
        db: t.handle.db,
        passwords: createPasswordHasher({ params: FAST_ARGON2 }),
        tokens: { ...t.tokens, verifyAccessToken },
        logger: createLogger((line) => logs.push(line)),
      })

    it.each([
      ['GET', '/validate'],
      ['HEAD', '/validate'],
      ['POST', '/validate'],
      ['DELETE', '/validate/api/x'],
    ])('%s %s: 503, never a 500, and the failure is logged', async (method, path) => {
      const app = build(async () => {
        throw new Error('key store unreachable')
      })
      logs.length = 0
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(503)
      expect(res.headers.get('x-auth-user')).toBeNull()
      if (method !== 'HEAD') expect(await res.json()).toEqual({ detail: 'Service Unavailable' })
      expect(logs.some((line) => JSON.parse(line).event === 'unhandled_error')).toBe(true)
      expect(logs.join('\n')).not.toContain('key store unreachable')
    })

    it('a 401 decided by the check stays a 401', async () => {
      const app = build(async () => {
        throw new ApiError(401, 'Invalid token', {
          'WWW-Authenticate': 'Bearer error="invalid_token"',
        })
      })
      const res = await app.request('/validate', { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(401)
    })

    it('another client error from the check becomes a 503, not a verdict', async () => {
      const app = build(async () => {
        throw new ApiError(429, 'Too Many Requests')
      })
      const res = await app.request('/validate', { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(503)
    })
  })
})

/**
 * The entry points' decision on the raw target (src/entry/forward-auth.ts). Over HTTP, with raw
 * targets on every server, it is tested in test/contract/forward-auth.ts.
 */
describe('forward-auth: the raw target decides', () => {
  /** What a WHATWG URL parser (Node's adapter, Bun, workerd) makes of a raw target's path. */
  const normalised = (target: string) => new URL(target, 'http://gateway.test').pathname

  it.each([
    '/validate/../healthz',
    '/validate/x/../../readyz',
    '/validate/%2e%2e/openapi.json',
    '/validate/.%2E/docs',
    '/validate\\..\\healthz',
    '/validate/..\\healthz',
    '/validate/..',
    '/validate/.',
    '/validate//../../healthz',
    '/validate%2f..%2fhealthz',
    '/validate%2F..',
    '/validate%5c..%5chealthz',
    '/validate%5C..',
    '/validate/a%2f..%2f..%2fhealthz',
    'http://elsewhere.example/validate/../healthz',
    'HTTPS://elsewhere.example\\validate\\..\\healthz',
  ])('%s is handed to the app as /validate/', (target) => {
    expect(forwardAuthRewrite(target)).toBe(FORWARD_AUTH_PATH)
  })

  it.each([
    '/validate',
    '/validate?x=/../healthz',
    '/validate/api/messages/7',
    '/validate/api/v1.2/items?room=1&q=../x',
    '/validate/',
    '/healthz',
    '/token',
    '/validatex/../healthz',
    '/VALIDATE/x',
    '/',
  ])('%s is routed as it is', (target) => {
    expect(forwardAuthRewrite(target)).toBeUndefined()
  })

  it('whatever follows /validate/, what is routed as it is stays under /validate/ once parsed', () => {
    const piece = fc.constantFrom(
      '/',
      '\\',
      '.',
      '..',
      '%2e',
      '%2E',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '%',
      'a',
      ';',
      '?',
      '#',
      '\t',
      '@',
      ':',
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const target = `/validate/${pieces.join('')}`
        const rewritten = forwardAuthRewrite(target)
        expect(rewritten === FORWARD_AUTH_PATH || normalised(target).startsWith('/validate/')).toBe(
          true,
        )
      }),
      { numRuns: 2000 },
    )
  })

  it('a normalised request keeps its URL when it is still under /validate/, else is re-addressed', async () => {
    const kept = new Request('http://gateway.test/validate/api/x?y=1')
    expect(atForwardAuth(kept)).toBe(kept)
    const escaped = new Request('http://gateway.test/healthz?y=1', {
      method: 'POST',
      headers: { authorization: 'Bearer t' },
      body: 'x',
    })
    const moved = atForwardAuth(escaped)
    expect(moved.url).toBe('http://gateway.test/validate/')
    expect(moved.method).toBe('POST')
    expect(moved.headers.get('authorization')).toBe('Bearer t')
    expect(await moved.text()).toBe('x')
  })

  it('the Worker re-addresses a percent-encoded separator, and nothing else', () => {
    const encoded = new Request('http://gateway.test/validate%2f..%2fhealthz')
    expect(forwardAuthRequest(encoded).url).toBe('http://gateway.test/validate/')
    for (const url of [
      'http://gateway.test/validate',
      'http://gateway.test/validate/a',
      'http://gateway.test/me',
    ]) {
      const request = new Request(url)
      expect(forwardAuthRequest(request)).toBe(request)
    }
  })
})
