import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  CONTRACT_INTROSPECTION_CLIENT,
  CONTRACT_ISSUER,
  CONTRACT_KID,
  client,
  logIn,
  registerUser,
  type TargetRef,
} from './target'

const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`
const GATEWAY = basic(CONTRACT_INTROSPECTION_CLIENT.id, CONTRACT_INTROSPECTION_CLIENT.secret)

/**
 * What a gateway that never calls the service relies on: the published key set (read by jose's
 * remote key set, a verifier nobody here wrote), the metadata that points at it, and RFC 7662
 * introspection for gateways that ask instead.
 */
export function localVerificationContract(target: TargetRef): void {
  const { validate, bearer } = client(target)
  const introspect = (fields: Record<string, string>, authorization: string | null = GATEWAY) =>
    target().fetch('/introspect', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(authorization === null ? {} : { authorization }),
      },
      body: new URLSearchParams(fields).toString(),
    })

  describe('key set (/.well-known/jwks.json)', () => {
    it('publishes the signing key only: public members, its kid and alg, cacheable with an ETag (304)', async () => {
      const res = await target().fetch('/.well-known/jwks.json')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.headers.get('cache-control')).toBe('public, max-age=300')
      const body = (await res.json()) as { keys: Record<string, unknown>[] }
      expect(body.keys).toEqual([
        {
          kty: 'OKP',
          crv: 'Ed25519',
          x: expect.any(String),
          kid: CONTRACT_KID,
          alg: 'EdDSA',
          use: 'sig',
        },
      ])
      const etag = res.headers.get('etag')
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/)
      const again = await target().fetch('/.well-known/jwks.json', {
        headers: { 'if-none-match': `W/"other", ${etag}` },
      })
      expect(again.status).toBe(304)
      expect(again.headers.get('etag')).toBe(etag)
      expect(again.headers.get('cache-control')).toBe('public, max-age=300')
    })

    it("jose's remote key set verifies every access token the service issues: login and refresh", async () => {
      const keySet = createRemoteJWKSet(new URL(`${CONTRACT_ISSUER}/.well-known/jwks.json`), {
        [customFetch]: (url) => target().fetch(new URL(url).pathname),
      })
      const { username, id } = await registerUser(target, 'jwks')
      const first = await logIn(target, username)
      const refreshed = await client(target).refresh(first.refresh)
      expect(refreshed.status).toBe(200)
      const second = ((await refreshed.json()) as { access_token: string }).access_token
      for (const token of [first.access, second]) {
        const { payload, protectedHeader } = await jwtVerify(token, keySet, {
          issuer: CONTRACT_ISSUER,
          algorithms: ['EdDSA'],
        })
        expect(protectedHeader.kid).toBe(CONTRACT_KID)
        expect(payload).toMatchObject({ sub: username, uid: id, iss: CONTRACT_ISSUER })
      }
      // A gateway refuses what the key did not sign.
      const [header, payload] = first.access.split('.')
      const tampered = `${header}.${payload}.${'A'.repeat(86)}`
      await expect(jwtVerify(tampered, keySet)).rejects.toThrow()
    })
  })

  describe('metadata (RFC 8414)', () => {
    it.each(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'])(
      '%s: the issuer, the endpoints under it and only the grants the service has',
      async (path) => {
        const res = await target().fetch(path)
        expect(res.status).toBe(200)
        expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/)
        expect(await res.json()).toEqual({
          issuer: CONTRACT_ISSUER,
          token_endpoint: `${CONTRACT_ISSUER}/token`,
          jwks_uri: `${CONTRACT_ISSUER}/.well-known/jwks.json`,
          revocation_endpoint: `${CONTRACT_ISSUER}/revoke`,
          introspection_endpoint: `${CONTRACT_ISSUER}/introspect`,
          grant_types_supported: [
            'password',
            'refresh_token',
            'urn:edge-auth:params:oauth:grant-type:mfa-otp',
          ],
          response_types_supported: [],
          token_endpoint_auth_methods_supported: ['none'],
          revocation_endpoint_auth_methods_supported: ['none'],
          introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
        })
      },
    )
  })

  describe('introspection (RFC 7662)', () => {
    let user: { username: string; id: number }
    beforeAll(async () => {
      user = await registerUser(target, 'introspect')
    })

    it('a valid access token: active with its subject, times, issuer and type', async () => {
      const { access } = await logIn(target, user.username)
      const res = await introspect({ token: access, token_type_hint: 'access_token' })
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const body = await res.json()
      expect(body).toEqual({
        active: true,
        sub: user.username,
        username: user.username,
        uid: user.id,
        exp: expect.any(Number),
        iat: expect.any(Number),
        iss: CONTRACT_ISSUER,
        jti: expect.any(String),
        token_type: 'access_token',
      })
      expect(body.exp - body.iat).toBe(1800)
    })

    it('inactive: a refresh token, garbage, a forged token, and an access token after logout (as /validate)', async () => {
      const { access, refresh } = await logIn(target, user.username)
      for (const token of [refresh, 'garbage', `${access.slice(0, -4)}AAAA`]) {
        const res = await introspect({ token, token_type_hint: 'refresh_token' })
        expect(res.status).toBe(200)
        expect(await res.json()).toEqual({ active: false })
      }
      expect((await bearer('POST', '/logout', access)).status).toBe(204)
      expect((await validate(`Bearer ${access}`)).status).toBe(401)
      expect(await (await introspect({ token: access })).json()).toEqual({ active: false })
    })

    it('callers authenticate with HTTP Basic: none or wrong credentials are a 401 with WWW-Authenticate: Basic', async () => {
      const { access } = await logIn(target, user.username)
      for (const authorization of [
        null,
        basic(CONTRACT_INTROSPECTION_CLIENT.id, 'wrong-secret'),
        basic('someone-else', CONTRACT_INTROSPECTION_CLIENT.secret),
        `Bearer ${access}`,
      ]) {
        const res = await introspect({ token: access }, authorization)
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toMatch(/^Basic /)
        expect(await res.json()).toEqual({ error: 'invalid_client', detail: expect.any(String) })
      }
    })

    it('no token parameter is a 400 invalid_request', async () => {
      const res = await introspect({})
      expect(res.status).toBe(400)
      expect((await res.json()).error).toBe('invalid_request')
    })
  })
}
