import { beforeAll, describe, expect, it } from 'vitest'
import { forgeJwt, nowSeconds as now } from '../support/jwt'
import { CONTRACT_SECRET, loginToken, registerUser, type TargetRef } from './target'

const HS256 = { alg: 'HS256', typ: 'JWT' }

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
}
