import { beforeAll, describe, expect, it } from 'vitest'
import {
  CONTRACT_ISSUER,
  CONTRACT_KID,
  CONTRACT_TTL_SECONDS,
  client,
  PASSWORD,
  registerUser,
  type TargetRef,
  uniqueName,
} from './target'

const decodePart = (token: string, index: number) =>
  JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString())

/** `POST /token`: the OAuth2 password grant, its answers and its bad requests. */
export function tokenContract(target: TargetRef): void {
  const { register, login } = client(target)
  const password = PASSWORD
  let username: string
  let userId: number

  describe('POST /token', () => {
    beforeAll(async () => {
      const user = await registerUser(target, 'Bob')
      username = user.username
      userId = user.id
    })

    it('logs in: 200 {access_token, token_type: "bearer", expires_in, refresh_token} with Cache-Control: no-store', async () => {
      const res = await login({ username, password })
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('pragma')).toBe('no-cache')
      expect(await res.json()).toEqual({
        access_token: expect.any(String),
        token_type: 'bearer',
        expires_in: CONTRACT_TTL_SECONDS,
        refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/),
      })
    })

    it('issues a JWT signed with the key pair: sub = username, uid, iat, exp = iat + TTL, iss and a jti', async () => {
      const { access_token: token } = await (await login({ username, password })).json()
      const claims = decodePart(token, 1)
      expect(claims.sub).toBe(username)
      expect(claims.uid).toBe(userId)
      expect(claims.exp - claims.iat).toBe(CONTRACT_TTL_SECONDS)
      expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(60)
      expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/)
      expect(claims.iss).toBe(CONTRACT_ISSUER)
      expect(decodePart(token, 0)).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: CONTRACT_KID })
    })

    it('accepts grant_type=password and multipart forms', async () => {
      expect((await login({ grant_type: 'password', username, password })).status).toBe(200)
      const form = new FormData()
      form.set('username', username)
      form.set('password', password)
      expect((await target().fetch('/token', { method: 'POST', body: form })).status).toBe(200)
    })

    it('matches the username case-insensitively and after NFKC', async () => {
      expect((await login({ username: username.toLowerCase(), password })).status).toBe(200)
      expect((await login({ username: ` ${username.toUpperCase()} `, password })).status).toBe(200)
    })

    it('a wrong password and an unknown user get the same 401', async () => {
      const wrong = await login({ username, password: 'not the password' })
      const unknown = await login({ username: uniqueName('nobody'), password })
      for (const res of [wrong, unknown]) {
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
      }
      const [a, b] = [await wrong.text(), await unknown.text()]
      expect(a).toBe(b)
      expect(JSON.parse(a)).toEqual({ detail: 'Incorrect username or password' })
    })

    it('a user registered with a Unicode password logs in with exactly that password', async () => {
      const name = uniqueName('nfc')
      const composed = 'caf\u00e9-password'
      expect((await register({ name: 'N', username: name, password: composed })).status).toBe(201)
      expect((await login({ username: name, password: composed })).status).toBe(200)
      expect((await login({ username: name, password: 'cafe\u0301-password' })).status).toBe(401)
    })

    describe('bad requests', () => {
      it('an unknown grant_type -> 400 unsupported_grant_type, with detail', async () => {
        const res = await login({ grant_type: 'client_credentials', username, password })
        expect(res.status).toBe(400)
        expect(await res.json()).toEqual({
          error: 'unsupported_grant_type',
          error_description: expect.any(String),
          detail: expect.any(String),
        })
      })

      it.each([
        ['no username', { password: PASSWORD }],
        ['no password', { username: 'x' }],
        ['an empty username', { username: '', password: PASSWORD }],
        ['an empty password', { username: 'x', password: '' }],
        ['nothing', {}],
      ])('%s -> 400 invalid_request', async (_case, fields) => {
        const res = await login(fields as Record<string, string>)
        expect(res.status).toBe(400)
        expect((await res.json()).error).toBe('invalid_request')
      })

      it('a repeated parameter -> 400 invalid_request', async () => {
        const res = await target().fetch('/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `username=${username}&username=other&password=${encodeURIComponent(password)}`,
        })
        expect(res.status).toBe(400)
        expect((await res.json()).error).toBe('invalid_request')
      })

      it('an overlong password -> 400', async () => {
        const res = await login({ username, password: 'p'.repeat(5000) })
        expect(res.status).toBe(400)
        expect((await res.json()).error).toBe('invalid_request')
      })

      it('JSON where a form is expected -> 415', async () => {
        const res = await target().fetch('/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password }),
        })
        expect(res.status).toBe(415)
        expect(await res.json()).toEqual({ detail: expect.any(String) })
      })

      it('a username with NUL or a lone surrogate is just an unknown user', async () => {
        for (const name of ['bob\u0000', 'bob\ud800']) {
          expect((await login({ username: name, password })).status).toBe(401)
        }
      })

      it('a file upload in place of a field -> 400', async () => {
        const form = new FormData()
        form.set('username', new Blob(['x']), 'name.txt')
        form.set('password', password)
        expect((await target().fetch('/token', { method: 'POST', body: form })).status).toBe(400)
      })

      it.for(['/token', '/revoke'])(
        'a multipart body that does not parse -> 400 invalid_request on %s, like any bad form',
        async (path) => {
          const bodies: [string, string][] = [
            ['multipart/form-data', `username=${username}&password=x`],
            ['multipart/form-data; boundary=b0undary', 'no parts here'],
            [
              'multipart/form-data; boundary=b0undary',
              '--b0undary\r\nContent-Disposition: form-data; name="token"\r\n\r\nx',
            ],
          ]
          for (const [type, body] of bodies) {
            const res = await target().fetch(path, {
              method: 'POST',
              headers: { 'content-type': type },
              body,
            })
            expect(res.status, `${type}: ${body}`).toBe(400)
            expect(res.headers.get('cache-control')).toBe('no-store')
            expect(await res.json()).toEqual({
              error: 'invalid_request',
              error_description: 'the body is not a well-formed form',
              detail: 'the body is not a well-formed form',
            })
          }
        },
      )
    })
  })
}
