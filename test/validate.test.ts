/**
 * Token validation that needs the inside: a fake clock, other issuer/audience settings. The HTTP
 * behaviour of POST /validate, JWT attacks included, is in test/contract/validate.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestApp, TEST_SECRET, type TestApp } from './support/app'
import { forgeJwt } from './support/jwt'

let t: TestApp
const password = 'correct horse battery staple'
const username = 'carol_validate'

beforeAll(async () => {
  t = await makeTestApp()
  await t.register({ name: 'Carol', username, password })
})
afterAll(() => t.close())

const HS256 = { alg: 'HS256', typ: 'JWT' }

async function expectInvalid(res: Response) {
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  expect(await res.json()).toEqual({ detail: 'Invalid token' })
}

describe('POST /validate, inside', () => {
  it('accepts its own token until it expires (fake clock)', async () => {
    const fresh = (await (await t.login({ username, password })).json()).access_token
    expect((await t.validate(`Bearer ${fresh}`)).status).toBe(200)
    t.clock.advance(1799)
    expect((await t.validate(`Bearer ${fresh}`)).status).toBe(200)
    t.clock.advance(2)
    try {
      await expectInvalid(await t.validate(`Bearer ${fresh}`))
    } finally {
      t.clock.advance(-1801)
    }
  })

  it('refuses a 100 KB token (real servers cut such headers off before the app)', async () => {
    await expectInvalid(await t.validate(`Bearer ${'a'.repeat(100_000)}.${'b'.repeat(10)}.c`))
  })
})

describe('issuer and audience', () => {
  let scoped: TestApp
  beforeAll(async () => {
    scoped = await makeTestApp({ jwt: { issuer: 'https://auth.example', audience: 'chat' } })
    await scoped.register({ name: 'Dan', username: 'dan_scoped', password })
  })
  afterAll(() => scoped.close())

  it('puts iss and aud in issued tokens and accepts them', async () => {
    const issued = (await (await scoped.login({ username: 'dan_scoped', password })).json())
      .access_token
    const claims = JSON.parse(Buffer.from(issued.split('.')[1], 'base64url').toString())
    expect(claims).toMatchObject({ iss: 'https://auth.example', aud: 'chat' })
    expect((await scoped.validate(`Bearer ${issued}`)).status).toBe(200)
  })

  it.each([
    ['no iss or aud', {}],
    ['a wrong iss', { iss: 'https://evil.example', aud: 'chat' }],
    ['a wrong aud', { iss: 'https://auth.example', aud: 'billing' }],
    ['no aud', { iss: 'https://auth.example' }],
  ])('rejects %s', async (_case, claims) => {
    const exp = Math.floor(scoped.clock.now() / 1000) + 600
    const forged = forgeJwt(HS256, { sub: 'dan_scoped', exp, ...claims }, TEST_SECRET)
    const res = await scoped.validate(`Bearer ${forged}`)
    expect(res.status).toBe(401)
  })

  it('accepts aud as an array containing the audience', async () => {
    const iat = Math.floor(scoped.clock.now() / 1000)
    const forged = forgeJwt(
      HS256,
      { sub: 'dan_scoped', iat, exp: iat + 600, iss: 'https://auth.example', aud: ['x', 'chat'] },
      TEST_SECRET,
    )
    expect((await scoped.validate(`Bearer ${forged}`)).status).toBe(200)
  })
})
