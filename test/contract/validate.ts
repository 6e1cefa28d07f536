import { createHmac } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { forgeJwt, nowSeconds as now } from '../support/jwt'
import { CONTRACT_SECRET, client, loginToken, registerUser, type TargetRef } from './target'

const HS256 = { alg: 'HS256', typ: 'JWT' }
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function expectInvalid(res: Response) {
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  expect(await res.json()).toEqual({ detail: 'Invalid token' })
}

/** `POST /validate`: bearer tokens, RFC 6750 challenges, and JWT attacks. */
export function validateContract(target: TargetRef): void {
  const { validate, bearer } = client(target)
  let username: string
  let id: number
  let token: string
  const forge = (
    payload: Record<string, unknown> | string,
    header: Record<string, unknown> = HS256,
  ) => forgeJwt(header, payload, CONTRACT_SECRET)

  describe('POST /validate', () => {
    beforeAll(async () => {
      ;({ username, id } = await registerUser(target, 'carol'))
      token = await loginToken(target, username)
    })

    it('accepts a token it issued: 200 {username, valid: true}', async () => {
      const res = await validate(`Bearer ${token}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ username, valid: true })
    })

    it.each(['bearer', 'BEARER', 'BeArEr'])('accepts the scheme spelled %s', async (scheme) => {
      expect((await validate(`${scheme} ${token}`)).status).toBe(200)
    })

    it('tolerates nbf and iat a few seconds ahead (clock skew)', async () => {
      const skewed = forge({ sub: username, exp: now() + 600, nbf: now() + 5, iat: now() + 5 })
      expect((await validate(`Bearer ${skewed}`)).status).toBe(200)
    })

    it('refuses a Python-shaped token ({sub, exp}) for an account registered here', async () => {
      // Such tokens carry no session start; only accounts adopted from the Python service, never
      // logged out since, honour them (test/takeover.test.ts).
      await expectInvalid(await validate(`Bearer ${forge({ sub: username, exp: now() + 600 })}`))
    })

    describe('a token presented again (answered before routing, from the caches)', () => {
      /** Every header of an answer but those that differ per request or per connection. */
      const lasting = (res: Response) =>
        [...res.headers]
          .filter(([name]) => !['date', 'x-request-id', 'connection', 'keep-alive'].includes(name))
          .sort(([a], [b]) => a.localeCompare(b))
      const check = (method: 'GET' | 'POST', accessToken: string, requestId?: string) =>
        target().fetch('/validate', {
          method,
          headers: {
            authorization: `Bearer ${accessToken}`,
            ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
          },
        })

      it('gets the answer of its first check: status, body and every header', async () => {
        const fresh = await loginToken(target, username)
        const first = await check('POST', fresh)
        const again = await check('POST', fresh)
        expect(again.status).toBe(200)
        expect(await again.json()).toEqual(await first.json())
        expect(lasting(again)).toEqual(lasting(first))
        expect(again.headers.get('x-auth-user')).toBe(username)
        expect(again.headers.get('x-auth-user-id')).toBe(String(id))
        expect(again.headers.get('cache-control')).toBe('no-store')
        expect(again.headers.get('x-content-type-options')).toBe('nosniff')
        const forwardAuth = await check('GET', fresh)
        expect(forwardAuth.status).toBe(200)
        expect(lasting(forwardAuth)).toEqual(lasting(first))
      })

      it('carries a request id by the usual rule: the client’s when well-formed, else a new one', async () => {
        await check('POST', token)
        const echoed = await check('POST', token, 'gateway-trace_42')
        expect(echoed.headers.get('x-request-id')).toBe('gateway-trace_42')
        const made = await check('GET', token, 'not a valid id')
        expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
        const other = await check('GET', token)
        expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
        expect(other.headers.get('x-request-id')).not.toBe(made.headers.get('x-request-id'))
      })

      it('is refused at once once its user logs out', async () => {
        const leaving = await registerUser(target, 'leaving')
        const fresh = await loginToken(target, leaving.username)
        expect((await check('POST', fresh)).status).toBe(200)
        expect((await check('GET', fresh)).status).toBe(200)
        expect((await bearer('POST', '/logout', fresh)).status).toBe(204)
        await expectInvalid(await check('POST', fresh))
        await expectInvalid(await check('GET', fresh))
      })

      it('other methods and targets take the full path: HEAD, PUT, a query; 405 with Allow elsewhere', async () => {
        await check('POST', token)
        const head = await target().fetch('/validate', {
          method: 'HEAD',
          headers: { authorization: `Bearer ${token}` },
        })
        expect(head.status).toBe(200)
        expect(head.headers.get('x-auth-user')).toBe(username)
        expect(await head.text()).toBe('')
        const put = await target().fetch('/validate', {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}` },
        })
        // any method is a check under the forward-auth routes (Envoy keeps the client's method)
        expect(put.status).toBe(200)
        expect(put.headers.get('x-auth-user')).toBe(username)
        const wrong = await target().fetch('/token', {
          method: 'GET',
          headers: { authorization: `Bearer ${token}` },
        })
        expect(wrong.status).toBe(405)
        expect(wrong.headers.get('allow')).toBe('POST')
        const queried = await target().fetch('/validate?x=1', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        })
        expect(queried.status).toBe(200)
        expect(await queried.json()).toEqual({ username, valid: true })
      })

      it('two Authorization headers are refused, even when the first is a valid token', async (ctx) => {
        const send = target().raw
        if (send === undefined) ctx.skip()
        await check('POST', token)
        for (const method of ['GET', 'POST']) {
          // the raw client writes header lines as given: a CRLF in a value starts a second line
          const res = await send?.(method, '/validate', {
            authorization: `Bearer ${token}\r\nAuthorization: Bearer ${token}`,
          })
          expect(res?.status, `${method}: ${res?.body}`).toBe(401)
          expect(res?.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
        }
      })
    })

    describe('without bearer credentials: 401, WWW-Authenticate: Bearer without error (RFC 6750 §3)', () => {
      it.each([
        ['no Authorization header', undefined],
        ['another scheme', `Basic ${Buffer.from('carol:pw').toString('base64')}`],
        ['a bare token without scheme', 'TOKEN'],
      ])('%s', async (_case, header) => {
        const res = await validate(header === 'TOKEN' ? token : header)
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
        expect(await res.json()).toEqual({ detail: 'Not authenticated' })
      })

      it('a token in the query string is never read', async () => {
        const res = await target().fetch(`/validate?access_token=${token}`, { method: 'POST' })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
      })
    })

    describe('rejects with 401 invalid_token', () => {
      it('"Bearer" with nothing after it', async () => {
        await expectInvalid(await validate('Bearer '))
      })
      it('two tokens', async () => {
        await expectInvalid(await validate(`Bearer ${token} ${token}`))
      })
      it('garbage', async () => {
        await expectInvalid(await validate('Bearer not-a-jwt'))
      })
      it('four segments', async () => {
        await expectInvalid(await validate(`Bearer ${token}.extra`))
      })
      it('a token over 8 KiB', async () => {
        await expectInvalid(await validate(`Bearer ${'a'.repeat(9000)}.${'b'.repeat(10)}.c`))
      })
      it('a header that is not JSON', async () => {
        const [, p, s] = token.split('.')
        await expectInvalid(
          await validate(`Bearer ${Buffer.from('{oops').toString('base64url')}.${p}.${s}`),
        )
      })
      it('a payload that is not JSON', async () => {
        await expectInvalid(await validate(`Bearer ${forge('{not json')}`))
      })
      it('a payload that is a JSON array', async () => {
        await expectInvalid(await validate(`Bearer ${forge('[1,2]')}`))
      })
      it('a tampered payload', async () => {
        const [h, , s] = token.split('.')
        await expectInvalid(
          await validate(`Bearer ${h}.${b64({ sub: 'admin', exp: now() + 600 })}.${s}`),
        )
      })
      it('a stripped signature', async () => {
        const [h, p] = token.split('.')
        await expectInvalid(await validate(`Bearer ${h}.${p}.`))
      })
      it('a signature made with another secret', async () => {
        const other = forgeJwt(HS256, { sub: username, exp: now() + 600 }, `${CONTRACT_SECRET}-x`)
        await expectInvalid(await validate(`Bearer ${other}`))
      })
      it.each(['none', 'None', 'NONE', 'nOnE'])('alg %s', async (alg) => {
        const payload = b64({ sub: username, exp: now() + 600 })
        await expectInvalid(await validate(`Bearer ${b64({ alg, typ: 'JWT' })}.${payload}.`))
      })
      it.each(['HS384', 'HS512', 'RS256', 'ES256'])(
        'alg %s, even signed with the secret',
        async (alg) => {
          const body = `${b64({ alg, typ: 'JWT' })}.${b64({ sub: username, exp: now() + 600 })}`
          const digest = alg === 'HS512' ? 'sha512' : 'sha384'
          const s = createHmac(digest, CONTRACT_SECRET).update(body).digest('base64url')
          await expectInvalid(await validate(`Bearer ${body}.${s}`))
        },
      )
      it('a missing exp', async () => {
        await expectInvalid(await validate(`Bearer ${forge({ sub: username })}`))
      })
      it('a non-numeric exp', async () => {
        await expectInvalid(
          await validate(`Bearer ${forge({ sub: username, exp: String(now() + 600) })}`),
        )
      })
      it('an exp in the past', async () => {
        await expectInvalid(await validate(`Bearer ${forge({ sub: username, exp: now() - 1 })}`))
      })
      it('an nbf beyond the leeway', async () => {
        const forged = forge({ sub: username, exp: now() + 600, nbf: now() + 120 })
        await expectInvalid(await validate(`Bearer ${forged}`))
      })
      it('an iat beyond the leeway', async () => {
        const forged = forge({ sub: username, exp: now() + 600, iat: now() + 120 })
        await expectInvalid(await validate(`Bearer ${forged}`))
      })
      it('a missing sub', async () => {
        await expectInvalid(await validate(`Bearer ${forge({ exp: now() + 600 })}`))
      })
      it('an empty sub', async () => {
        await expectInvalid(await validate(`Bearer ${forge({ sub: '', exp: now() + 600 })}`))
      })
      it('a non-string sub', async () => {
        await expectInvalid(await validate(`Bearer ${forge({ sub: 42, exp: now() + 600 })}`))
      })
      it('a crit header', async () => {
        const forged = forge({ sub: username, exp: now() + 600 }, { ...HS256, crit: ['exp'] })
        await expectInvalid(await validate(`Bearer ${forged}`))
      })
    })

    describe('signed tokens that cannot be ours: 401 invalid_token on /validate and /me, never 500 or 503', () => {
      const ours = () => ({
        sub: username,
        uid: id,
        iat: now(),
        auth_ms: Date.now(),
        exp: now() + 600,
      })
      async function expectRefused(forged: string) {
        await expectInvalid(await validate(`Bearer ${forged}`))
        await expectInvalid(await bearer('GET', '/me', forged))
      }

      it('the token these cases alter is accepted as it is', async () => {
        expect((await validate(`Bearer ${forge(ours())}`)).status).toBe(200)
        expect((await bearer('GET', '/me', forge(ours()))).status).toBe(200)
      })
      it.each(['null', '"x"', '1', '[]'])('a payload that is %s', async (payload) => {
        await expectRefused(forge(payload))
      })
      it.each([2 ** 31, 2 ** 53, -1, 0, 1.5, '1'])('a uid of %j', async (uid) => {
        await expectRefused(forge({ ...ours(), uid }))
      })
      it("another spelling of the signature (its last character's unused bits set)", async () => {
        const [h, p, s] = forge(ours()).split('.') as [string, string, string]
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
        const spelled = `${s.slice(0, -1)}${alphabet[alphabet.indexOf(s.slice(-1)) ^ 1]}`
        expect(Buffer.from(spelled, 'base64url')).toEqual(Buffer.from(s, 'base64url'))
        await expectRefused(`${h}.${p}.${spelled}`)
      })
    })
  })
}
