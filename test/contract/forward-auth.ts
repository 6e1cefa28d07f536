import { beforeAll, describe, expect, it } from 'vitest'
import { forgeJwt, nowSeconds as now } from '../support/jwt'
import type { RawResponse } from '../support/raw-http'
import { CONTRACT_SECRET, loginToken, registerUser, type TargetRef } from './target'

const HS256 = { alg: 'HS256', typ: 'JWT' }

/**
 * Raw targets under the forward-auth prefix that the runtimes' URL parsers resolve to another
 * route (`..` and its `%2e` spellings, `\` read as `/`, an absolute-form target). Sent as they are.
 */
const DOT_SEGMENT_TRICKS = [
  '/validate/api/x/../../../healthz',
  '/validate/../healthz',
  '/validate/../healthz?probe=1',
  '/validate/%2e%2e/healthz',
  '/validate/.%2E/readyz',
  '/validate/%2E%2e/openapi.json',
  '/validate/x/../../docs',
  '/validate//../../healthz',
  '/validate\\..\\healthz',
  '/validate/..\\healthz',
  '/validate/..',
  '/validate/.',
  '/validate/%2e%2e/',
  'http://elsewhere.example/validate/../healthz',
]

/** Raw targets under the prefix through a percent-encoded separator, which no URL parser resolves. */
const ENCODED_SEPARATOR_TRICKS = [
  '/validate%2f..%2fhealthz',
  '/validate%2F..%2Freadyz',
  '/validate%5c..%5chealthz',
  '/validate%5C..%5Cdocs',
]

/** `GET`/`HEAD /validate` and `/validate/*`: what gateways call (nginx, Traefik, Envoy). */
export function forwardAuthContract(target: TargetRef): void {
  let username: string
  let userId: number
  let token: string
  const call = (method: string, path: string, authorization?: string) =>
    target().fetch(path, {
      method,
      headers: authorization === undefined ? {} : { authorization },
    })

  describe('forward-auth: GET, HEAD and any method on /validate/*', () => {
    beforeAll(async () => {
      const user = await registerUser(target, 'gate')
      username = user.username
      userId = user.id
      token = await loginToken(target, username)
    })

    it('GET with a valid token: 200, X-Auth-User and X-Auth-User-Id, and the JSON body', async () => {
      const res = await call('GET', '/validate', `Bearer ${token}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-auth-user')).toBe(username)
      expect(res.headers.get('x-auth-user-id')).toBe(String(userId))
      expect(await res.json()).toEqual({ username, valid: true })
    })

    it('HEAD with a valid token: the same status and headers, no body', async () => {
      const res = await call('HEAD', '/validate', `Bearer ${token}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-auth-user')).toBe(username)
      expect(await res.text()).toBe('')
    })

    it.each(['GET', 'HEAD'])(
      '%s without a token: 401, WWW-Authenticate: Bearer, no user',
      async (m) => {
        const res = await call(m, '/validate')
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
        expect(res.headers.get('x-auth-user')).toBeNull()
      },
    )

    it('an expired token: 401 invalid_token, no user', async () => {
      const expired = forgeJwt(HS256, { sub: username, exp: now() - 1 }, CONTRACT_SECRET)
      const res = await call('GET', '/validate', `Bearer ${expired}`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(res.headers.get('x-auth-user')).toBeNull()
    })

    it('POST answers with the same headers', async () => {
      const res = await call('POST', '/validate', `Bearer ${token}`)
      expect(res.headers.get('x-auth-user')).toBe(username)
      expect(res.headers.get('x-auth-user-id')).toBe(String(userId))
    })

    it('never reads a token from the query string', async () => {
      expect((await call('GET', `/validate?access_token=${token}`)).status).toBe(401)
    })

    it.each([
      ['DELETE', '/validate/api/messages/7'],
      ['PATCH', '/validate/api/rooms/1'],
      ['PUT', '/validate'],
      ['OPTIONS', '/validate/'],
      ['POST', '/validate/api/messages'],
      ['GET', '/validate/api/messages?room=1'],
    ])('Envoy ext_authz: %s %s answers like GET', async (method, path) => {
      const ok = await call(method, path, `Bearer ${token}`)
      expect(ok.status).toBe(200)
      expect(ok.headers.get('x-auth-user')).toBe(username)
      expect(ok.headers.get('x-auth-user-id')).toBe(String(userId))
      const denied = await call(method, path)
      expect(denied.status).toBe(401)
      expect(denied.headers.get('www-authenticate')).toBe('Bearer')
    })

    it('Envoy ext_authz: HEAD on a sub-path', async () => {
      const res = await call('HEAD', '/validate/api/x', `Bearer ${token}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-auth-user')).toBe(username)
    })
  })

  describe('forward-auth: no path under /validate/ reaches another route', () => {
    const raw = (method: string, path: string, authorization?: string): Promise<RawResponse> => {
      const send = target().raw
      if (send === undefined) throw new Error('this leg cannot send raw targets')
      return send(method, path, authorization === undefined ? {} : { authorization })
    }
    const canSendRaw = () => target().raw !== undefined

    beforeAll(async () => {
      if (username === undefined) {
        const user = await registerUser(target, 'gate')
        username = user.username
        token = await loginToken(target, username)
      }
    })

    it.for([
      ...DOT_SEGMENT_TRICKS.map((path) => [path, 'dots'] as const),
      ...ENCODED_SEPARATOR_TRICKS.map((path) => [path, 'encoded'] as const),
    ])('%s gets the token check: 401 without a token, 200 with one', async ([path, kind], ctx) => {
      if (!canSendRaw()) ctx.skip()
      // workerd resolves dot segments before the Worker's code runs (docs/gateways.md)
      if (kind === 'dots' && target().normalisesDotSegments === true) ctx.skip()
      for (const method of ['GET', 'POST']) {
        const denied = await raw(method, path)
        expect(denied.status, `${method} ${path}: ${denied.body}`).toBe(401)
        expect(denied.headers['www-authenticate']).toBe('Bearer')
        expect(JSON.parse(denied.body)).toEqual({ detail: 'Not authenticated' })
      }
      const ok = await raw('GET', path, `Bearer ${token}`)
      expect(ok.status, ok.body).toBe(200)
      expect(ok.headers['x-auth-user']).toBe(username)
      const bad = await raw('GET', path, 'Bearer not.a.token')
      expect(bad.status).toBe(401)
      expect(bad.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    })

    it('the same routes answer as before when asked directly, and /validate stays the check', async (ctx) => {
      if (!canSendRaw()) ctx.skip()
      expect((await raw('GET', '/healthz')).status).toBe(200)
      expect((await raw('GET', '/openapi.json')).status).toBe(200)
      expect((await raw('GET', '/validate')).status).toBe(401)
      expect((await raw('GET', '/validate?x=/../healthz')).status).toBe(401)
      expect((await raw('GET', '/validate/api/v1.2/items', `Bearer ${token}`)).status).toBe(200)
    })
  })
}
