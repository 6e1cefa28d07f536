import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createTokenService,
  InvalidTokenError,
  keyIdOf,
  type TokenServiceOptions,
} from '../src/auth/tokens'
import { makeTestApp, type TestApp } from './support/app'
import { forgeJwt, nowSeconds } from './support/jwt'

const OLD = 'old-secret-0123456789abcdef0123456789abcdef'
const OLDER = 'older-secret-0123456789abcdef0123456789abcd'
const NEW = 'new-secret-0123456789abcdef0123456789abcdef'
const user = { id: 7, username: 'rotator' }

const service = (options: Partial<TokenServiceOptions> = {}) =>
  createTokenService({ secret: NEW, accessTokenTtlSeconds: 600, ...options })
const headerOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())
const claims = () => ({ sub: user.username, exp: nowSeconds() + 600 })

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason
    throw error
  }
  return 'accepted'
}

describe('key ids', () => {
  it('are derived from the secret: stable, distinct per secret, and not the secret', async () => {
    const [a, b, c] = [await keyIdOf(NEW), await keyIdOf(NEW), await keyIdOf(OLD)]
    expect(a).toBe(b)
    expect(a).not.toBe(c)
    expect(a).toMatch(/^[A-Za-z0-9_-]{16}$/)
    expect(NEW).not.toContain(a)
  })

  it('new tokens carry the signing key id in the header', async () => {
    const { token } = await service({ previousSecrets: [OLD] }).issueAccessToken(user)
    expect(headerOf(token)).toEqual({ alg: 'HS256', typ: 'JWT', kid: await keyIdOf(NEW) })
  })
})

describe('signing with node:crypto (Bun, Node) and with crypto.subtle (Workers)', () => {
  it('both give the HMAC-SHA-256 that node:crypto computes over header and claims, and each verifies the other', async () => {
    const nodeSigned = service({ now: () => 1_700_000_000_000 })
    const subtleSigned = service({ now: () => 1_700_000_000_000, nodeCrypto: null })
    const { token } = await nodeSigned.issueAccessToken(user)
    const [header, payload, signature] = token.split('.')
    expect(signature).toBe(
      createHmac('sha256', NEW).update(`${header}.${payload}`).digest('base64url'),
    )
    const other = await subtleSigned.issueAccessToken(user)
    const [otherHeader, otherPayload, otherSignature] = other.token.split('.')
    expect(otherSignature).toBe(
      createHmac('sha256', NEW).update(`${otherHeader}.${otherPayload}`).digest('base64url'),
    )
    expect((await subtleSigned.verifyAccessToken(token)).sub).toBe(user.username)
    expect((await nodeSigned.verifyAccessToken(other.token)).sub).toBe(user.username)
  })

  it('signs with the runtime node:crypto by default, with no crypto.subtle call per token', async () => {
    const spy = vi.spyOn(crypto.subtle, 'sign')
    try {
      const fresh = service()
      for (let i = 0; i < 3; i++) await fresh.issueAccessToken(user)
      expect(spy).not.toHaveBeenCalled()
      for (let i = 0; i < 3; i++) await service({ nodeCrypto: null }).issueAccessToken(user)
      expect(spy).toHaveBeenCalledTimes(3)
    } finally {
      spy.mockRestore()
    }
  })
})

describe('rotation: JWT_SECRET signs, JWT_PREVIOUS_SECRETS still verify', () => {
  const rotated = service({ previousSecrets: [OLD, OLDER] })

  it('accepts tokens signed before the rotation, by their kid', async () => {
    const before = await service({ secret: OLD }).issueAccessToken(user)
    const older = await service({ secret: OLDER }).issueAccessToken(user)
    expect((await rotated.verifyAccessToken(before.token)).sub).toBe(user.username)
    expect((await rotated.verifyAccessToken(older.token)).sub).toBe(user.username)
  })

  it("accepts kid-less tokens (the Python service's) made with any configured key", async () => {
    for (const secret of [NEW, OLD, OLDER]) {
      const token = forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), secret)
      expect((await rotated.verifyAccessToken(token)).sub).toBe(user.username)
    }
  })

  it('refuses a kid-less token made with a key that is not configured', async () => {
    const token = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      claims(),
      'some-other-secret-0123456789abcdef',
    )
    expect(await failure(rotated.verifyAccessToken(token))).toBe('signature')
  })

  it('refuses tokens of a secret once it is dropped from the configuration', async () => {
    const before = await service({ secret: OLD }).issueAccessToken(user)
    expect(await failure(service().verifyAccessToken(before.token))).toBe('key')
  })

  it('refuses a kid outside the configured keys, even when the signature is good', async () => {
    for (const kid of ['unknown', '', 'x'.repeat(16), 42, null, ['a']]) {
      const token = forgeJwt({ alg: 'HS256', typ: 'JWT', kid }, claims(), NEW)
      expect(await failure(rotated.verifyAccessToken(token))).toBe('key')
    }
  })

  it('checks a token only against the key its kid names', async () => {
    const token = forgeJwt({ alg: 'HS256', typ: 'JWT', kid: await keyIdOf(OLD) }, claims(), NEW)
    expect(await failure(rotated.verifyAccessToken(token))).toBe('signature')
  })

  it.each([
    ['jku', 'https://attacker.example/jwks.json'],
    ['x5u', 'https://attacker.example/cert.pem'],
    ['jwk', { kty: 'oct', k: Buffer.from(NEW).toString('base64url') }],
    ['x5c', ['MIIB']],
  ])(
    'refuses a token with a %s header, even when signed with a configured key',
    async (name, value) => {
      for (const kid of [undefined, await keyIdOf(NEW)]) {
        const token = forgeJwt({ alg: 'HS256', typ: 'JWT', kid, [name]: value }, claims(), NEW)
        expect(await failure(rotated.verifyAccessToken(token))).toBe('key')
      }
    },
  )

  it('imports each key once, however many tokens it signs and verifies', async () => {
    const spy = vi.spyOn(crypto.subtle, 'importKey')
    try {
      const fresh = service({ previousSecrets: [OLD, OLDER] })
      for (let i = 0; i < 5; i++) {
        const { token } = await fresh.issueAccessToken(user)
        await fresh.verifyAccessToken(token)
        await fresh.verifyAccessToken(forgeJwt({ alg: 'HS256' }, claims(), OLDER))
      }
      expect(spy).toHaveBeenCalledTimes(3)
    } finally {
      spy.mockRestore()
    }
  })
})

describe('rotation through the service', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({ jwt: { secret: NEW, previousSecrets: [OLD] } })
  })
  afterAll(() => t.close())

  it('validates a token from before the rotation and issues new ones with the new kid', async () => {
    const password = 'correct horse battery staple'
    const created = await (await t.register({ name: 'Rot', username: 'rot_user', password })).json()
    const before = await service({ secret: OLD }).issueAccessToken(created)
    const res = await t.validate(`Bearer ${before.token}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ username: 'rot_user', valid: true })

    const { access_token } = await (await t.login({ username: 'rot_user', password })).json()
    expect(headerOf(access_token).kid).toBe(await keyIdOf(NEW))
    expect((await t.validate(`Bearer ${access_token}`)).status).toBe(200)
  })

  it('answers 401 invalid_token for a token with a jku header', async () => {
    const token = forgeJwt({ alg: 'HS256', jku: 'https://attacker.example/k' }, claims(), NEW)
    const res = await t.validate(`Bearer ${token}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  })
})

describe("the legacy secret verifies the Python service's tokens only", () => {
  const PYTHON = 'python-secret'
  const withLegacy = service({ previousSecrets: [OLD], legacySecret: PYTHON })
  const python = { alg: 'HS256', typ: 'JWT' }

  it('accepts a kid-less {sub, exp} token signed with it', async () => {
    const signed = claims()
    const token = forgeJwt(python, signed, PYTHON)
    expect(await withLegacy.verifyAccessToken(token)).toEqual(signed)
    expect(
      (await withLegacy.verifyAccessToken(forgeJwt({ alg: 'HS256' }, claims(), PYTHON))).sub,
    ).toBe(user.username)
  })

  it.each([
    ['uid', { uid: user.id }],
    ['auth_ms', { auth_ms: Date.now() }],
    ['iat', { iat: nowSeconds() }],
    ['jti', { jti: 'x' }],
    ['nbf', { nbf: nowSeconds() }],
  ])('refuses a token signed with it that carries %s', async (_claim, extra) => {
    const token = forgeJwt(python, { ...claims(), ...extra }, PYTHON)
    expect(await failure(withLegacy.verifyAccessToken(token))).toBe('key')
  })

  it('refuses a token signed with it whose header has more than alg and typ, or a kid naming it', async () => {
    expect(
      await failure(
        withLegacy.verifyAccessToken(forgeJwt({ ...python, cty: 'JWT' }, claims(), PYTHON)),
      ),
    ).toBe('key')
    const kid = await keyIdOf(PYTHON)
    expect(
      await failure(withLegacy.verifyAccessToken(forgeJwt({ ...python, kid }, claims(), PYTHON))),
    ).toBe('key')
  })

  it('never signs', async () => {
    const { token } = await withLegacy.issueAccessToken(user)
    expect(headerOf(token).kid).toBe(await keyIdOf(NEW))
  })

  it('leaves the full keys as they were, for tokens of any shape', async () => {
    const ours = { ...claims(), uid: user.id, iat: nowSeconds(), auth_ms: Date.now() }
    for (const secret of [NEW, OLD]) {
      expect((await withLegacy.verifyAccessToken(forgeJwt(python, ours, secret))).uid).toBe(user.id)
    }
    const same = service({ legacySecret: NEW })
    expect((await same.verifyAccessToken(forgeJwt(python, ours, NEW))).uid).toBe(user.id)
  })
})
