/**
 * Login behaviour only visible from inside (spies on the password hasher). The HTTP behaviour of
 * POST /token is in test/contract/token.ts, run on every runtime.
 */
import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidTokenError, isCanonicalBase64Url } from '../src/auth/tokens'
import { makeTestApp, TEST_SECRET, type TestApp } from './support/app'
import { forgeJwt } from './support/jwt'

let t: TestApp
const password = 'correct horse battery staple'
let username: string

beforeAll(async () => {
  t = await makeTestApp()
  username = `Bob_${Math.random().toString(36).slice(2, 8)}`
  const res = await t.register({ name: 'Bob', username, password })
  expect(res.status).toBe(201)
})
afterAll(() => t.close())

describe('POST /token, inside', () => {
  it('an unknown user costs a verification against a dummy hash (timing)', async () => {
    let calls = 0
    const original = t.passwords.verifyDummy
    t.passwords.verifyDummy = async (p) => {
      calls++
      return original.call(t.passwords, p)
    }
    try {
      expect((await t.login({ username: 'nobody_at_all', password })).status).toBe(401)
    } finally {
      t.passwords.verifyDummy = original
    }
    expect(calls).toBe(1)
  })

  it('an overlong password is refused without hashing it', async () => {
    let calls = 0
    const original = t.passwords.verify
    t.passwords.verify = async (p, h) => {
      calls++
      return original.call(t.passwords, p, h)
    }
    try {
      expect((await t.login({ username, password: 'p'.repeat(5000) })).status).toBe(400)
      expect(calls).toBe(0)
      expect((await t.login({ username, password })).status).toBe(200)
      expect(calls).toBe(1)
    } finally {
      t.passwords.verify = original
    }
  })
})

describe('signed tokens whose claims cannot be ours: 401 on every endpoint that takes a token', () => {
  let id: number
  const claims = () => {
    const iat = Math.floor(t.clock.now() / 1000)
    return { sub: username, uid: id, iat, auth_ms: t.clock.now(), exp: iat + 600 }
  }
  const endpoints: [string, string, unknown][] = [
    ['POST', '/validate', undefined],
    ['GET', '/validate', undefined],
    ['HEAD', '/validate', undefined],
    ['GET', '/validate/upstream/path', undefined],
    ['GET', '/me', undefined],
    [
      'PUT',
      '/me/password',
      { current_password: password, new_password: 'another fine passphrase' },
    ],
    ['DELETE', '/me', { current_password: password }],
    ['POST', '/logout', undefined],
  ]

  beforeAll(async () => {
    const token = await (await t.login({ username, password })).json()
    id = (await (await t.bearer('GET', '/me', token.access_token)).json()).id
  })

  async function expectRefusedEverywhere(token: string) {
    for (const [method, path, body] of endpoints) {
      const res = await t.bearer(method, path, token, body)
      expect(res.status, `${method} ${path}`).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    }
  }

  it('the well-formed token these cases start from is accepted', async () => {
    const token = forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), TEST_SECRET)
    expect((await t.validate(`Bearer ${token}`)).status).toBe(200)
    expect((await t.bearer('GET', '/me', token)).status).toBe(200)
  })

  it.each(['null', '[]', '[1,2]', '"x"', '1', 'true'])('a payload that is %s', async (payload) => {
    await expectRefusedEverywhere(forgeJwt({ alg: 'HS256', typ: 'JWT' }, payload, TEST_SECRET))
  })

  it.each([
    ['uid', 2 ** 31],
    ['uid', 2 ** 53],
    ['uid', 1e300],
    ['uid', 0],
    ['uid', -1],
    ['uid', 1.5],
    ['uid', '1'],
    ['uid', null],
    ['auth_ms', -1],
    ['auth_ms', 1.5],
    ['auth_ms', '1'],
    ['auth_ms', 2 ** 53],
    ['iat', '0'],
    ['iat', null],
    ['nbf', '0'],
    ['exp', '9999999999'],
    ['exp', null],
    ['sub', 7],
    ['sub', ['x']],
  ])('%s = %j', async (claim, value) => {
    const token = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { ...claims(), [claim]: value },
      TEST_SECRET,
    )
    await expectRefusedEverywhere(token)
  })

  it.each([7, null, ['a'], { k: 1 }])('a kid header of %j', async (kid) => {
    await expectRefusedEverywhere(
      forgeJwt({ alg: 'HS256', typ: 'JWT', kid }, claims(), TEST_SECRET),
    )
  })
})

describe('one spelling per token: canonical base64url only', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  /** The segment with its last character's low bits flipped: another spelling of the same bytes. */
  const respell = (segment: string, bits: number) => {
    const spelled = `${segment.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(segment.slice(-1)) ^ bits]}`
    expect(Buffer.from(spelled, 'base64url')).toEqual(Buffer.from(segment, 'base64url'))
    return spelled
  }
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

  it('isCanonicalBase64Url tells the one spelling from the others', () => {
    expect(Buffer.from([0xfb, 0xff]).toString('base64url')).toBe('-_8')
    expect(isCanonicalBase64Url('-_8')).toBe(true)
    for (const bits of [1, 2, 3]) expect(isCanonicalBase64Url(respell('-_8', bits))).toBe(false)
    expect(isCanonicalBase64Url('QQ')).toBe(true)
    for (const bits of [1, 2, 4, 8, 15])
      expect(isCanonicalBase64Url(respell('QQ', bits))).toBe(false)
    expect(isCanonicalBase64Url('QUJD')).toBe(true)
    expect(isCanonicalBase64Url('QUJDR')).toBe(false)
  })

  it('refuses the three other spellings of a valid signature: 401', async () => {
    const { access_token: token } = await (await t.login({ username, password })).json()
    const [h, p, s] = token.split('.') as [string, string, string]
    expect(s).toHaveLength(43)
    expect((await t.validate(`Bearer ${token}`)).status).toBe(200)
    for (const bits of [1, 2, 3]) {
      const forged = `${h}.${p}.${respell(s, bits)}`
      expect((await t.validate(`Bearer ${forged}`)).status).toBe(401)
      expect((await t.bearer('GET', '/me', forged)).status).toBe(401)
    }
  })

  it('refuses a header or payload spelled another way, even when signed over that spelling', async () => {
    const exp = Math.floor(t.clock.now() / 1000) + 600
    const header = b64({ alg: 'HS256', typ: 'JWT', x: 12 })
    const payload = b64({ sub: username, exp, x: 1 })
    // Both end with spare bits (a length that is not a multiple of 4).
    expect([header.length % 4, payload.length % 4]).not.toContain(0)
    const sign = (body: string) =>
      `${body}.${createHmac('sha256', TEST_SECRET).update(body).digest('base64url')}`
    expect((await t.tokens.verifyAccessToken(sign(`${header}.${payload}`))).sub).toBe(username)
    for (const body of [`${respell(header, 1)}.${payload}`, `${header}.${respell(payload, 1)}`]) {
      const err = await t.tokens.verifyAccessToken(sign(body)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect((err as InvalidTokenError).reason).toBe('malformed')
    }
  })
})
