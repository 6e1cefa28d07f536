/**
 * Signing with a key pair (ALGORITHM=EdDSA or ES256): tokens a third-party verifier (jose) accepts
 * with the published key, `kid` = RFC 7638 thumbprint, verification by `kid` among configured keys
 * only, the move from HS256 keeping HS256 and Python tokens valid, and the settings that refuse to
 * start.
 */
import { spawnSync } from 'node:child_process'
import { importJWK, jwtVerify, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { createAppFromConfig } from '../src/app'
import type { ConfiguredKey } from '../src/auth/keys'
import { createTokenService, InvalidTokenError, type TokenServiceOptions } from '../src/auth/tokens'
import { ConfigError, parseConfig } from '../src/config'
import type { Database } from '../src/db/client'
import { createLogger } from '../src/logger'
import { forgeJwt, nowSeconds } from './support/jwt'
import { makeTestKey, type TestKey } from './support/keys'
import { BUN, NODE, ROOT } from './support/process'

const SECRET = 'hs256-secret-0123456789abcdef0123456789abcdef'
const ISSUER = 'https://auth.example.com'
const user = { id: 7, username: 'carol' }
const part = (token: string, i: number) =>
  JSON.parse(Buffer.from(token.split('.')[i] ?? '', 'base64url').toString())

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason
    throw error
  }
  return 'accepted'
}

/** The configured key of a PEM or JWK, read as parseConfig reads JWT_PRIVATE_KEY. */
const privateKeyOf = (text: string, alg: 'EdDSA' | 'ES256'): ConfiguredKey => {
  const config = parseConfig({ ALGORITHM: alg, JWT_PRIVATE_KEY: text, JWT_SECRET: SECRET })
  return config.jwt.privateKey as ConfiguredKey
}
const publicKeysOf = (text: string): ConfiguredKey[] =>
  parseConfig({ JWT_PUBLIC_KEYS: text, JWT_SECRET: SECRET }).jwt.publicKeys

const keys: Record<'EdDSA' | 'ES256', TestKey> = {} as never
let other: TestKey
beforeAll(async () => {
  keys.EdDSA = await makeTestKey('EdDSA')
  keys.ES256 = await makeTestKey('ES256')
  other = await makeTestKey('EdDSA')
})

const pairService = (alg: 'EdDSA' | 'ES256', options: Partial<TokenServiceOptions> = {}) =>
  createTokenService({
    algorithm: alg,
    privateKey: privateKeyOf(keys[alg].pem, alg),
    accessTokenTtlSeconds: 600,
    ...options,
  })

describe.each(['EdDSA', 'ES256'] as const)('signing with %s', (alg) => {
  it.each([
    ['node:crypto', undefined],
    ['crypto.subtle', null],
  ] as const)(
    '(%s) tokens carry alg and the key thumbprint as kid; jose verifies them with the published key',
    async (_name, nodeCrypto) => {
      const tokens = pairService(alg, { issuer: ISSUER, nodeCrypto })
      const { token } = await tokens.issueAccessToken(user)
      expect(part(token, 0)).toEqual({ alg, typ: 'JWT', kid: keys[alg].kid })
      const [published] = await tokens.publicKeys()
      expect(published).toEqual({ ...keys[alg].publicJwk, kid: keys[alg].kid, alg, use: 'sig' })
      const { payload } = await jwtVerify(token, await importJWK(published as JsonWebKey, alg), {
        issuer: ISSUER,
        algorithms: [alg],
      })
      expect(payload).toMatchObject({ sub: 'carol', uid: 7, iss: ISSUER })
      await expect(tokens.verifyAccessToken(token)).resolves.toMatchObject({ sub: 'carol' })
    },
  )

  it('the same key as a JWK verifies what the PEM signed, under the same kid', async () => {
    const fromPem = pairService(alg)
    const fromJwk = createTokenService({
      algorithm: alg,
      privateKey: privateKeyOf(JSON.stringify(keys[alg].privateJwk), alg),
      accessTokenTtlSeconds: 600,
    })
    const { token } = await fromPem.issueAccessToken(user)
    expect(part((await fromJwk.issueAccessToken(user)).token, 0).kid).toBe(keys[alg].kid)
    await expect(fromJwk.verifyAccessToken(token)).resolves.toMatchObject({ sub: 'carol' })
  })
})

describe('verification picks the key by kid among the configured keys only', () => {
  it('a token of an unknown key is refused, even one that names its own key', async () => {
    const stranger = await new SignJWT({ sub: 'carol', uid: 7 })
      .setProtectedHeader({ alg: 'EdDSA', kid: other.kid })
      .setExpirationTime('10m')
      .sign(await importJWK(other.privateJwk, 'EdDSA'))
    expect(await failure(pairService('EdDSA').verifyAccessToken(stranger))).toBe('key')
    const sameKid = await new SignJWT({ sub: 'carol', uid: 7 })
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.EdDSA.kid })
      .setExpirationTime('10m')
      .sign(await importJWK(other.privateJwk, 'EdDSA'))
    expect(await failure(pairService('EdDSA').verifyAccessToken(sameKid))).toBe('signature')
  })

  it('no algorithm confusion: HS256 under the public key kid, or a key pair token without kid', async () => {
    const tokens = pairService('EdDSA', { secret: SECRET })
    const confused = forgeJwt(
      { alg: 'HS256', typ: 'JWT', kid: keys.EdDSA.kid },
      { sub: 'carol', exp: nowSeconds() + 600 },
      JSON.stringify(keys.EdDSA.publicJwk),
    )
    expect(await failure(tokens.verifyAccessToken(confused))).toBe('algorithm')
    const { token } = await tokens.issueAccessToken(user)
    const [, payload, signature] = token.split('.')
    const noKid = `${Buffer.from('{"alg":"EdDSA","typ":"JWT"}').toString('base64url')}.${payload}.${signature}`
    expect(await failure(tokens.verifyAccessToken(noKid))).toBe('algorithm')
    expect(await failure(pairService('EdDSA').verifyAccessToken(noKid))).toBe('key')
  })

  it('a published public key (JWT_PUBLIC_KEYS) verifies its tokens; its private key never signs', async () => {
    const previous = createTokenService({
      algorithm: 'EdDSA',
      privateKey: privateKeyOf(other.pem, 'EdDSA'),
      accessTokenTtlSeconds: 600,
    })
    const { token } = await previous.issueAccessToken(user)
    const current = pairService('EdDSA', { publicKeys: publicKeysOf(other.publicPem) })
    await expect(current.verifyAccessToken(token)).resolves.toMatchObject({ sub: 'carol' })
    expect((await current.publicKeys()).map((k) => k.kid)).toEqual([keys.EdDSA.kid, other.kid])
    expect(part((await current.issueAccessToken(user)).token, 0).kid).toBe(keys.EdDSA.kid)
  })
})

describe('moving from HS256 to a key pair', () => {
  it('tokens of the HS256 service and of the Python service stay valid; new ones are signed with the key pair', async () => {
    const before = createTokenService({ secret: SECRET, accessTokenTtlSeconds: 600 })
    const { token: hs256 } = await before.issueAccessToken(user)
    const python = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'carol', exp: nowSeconds() + 600 },
      SECRET,
    )
    const after = pairService('EdDSA', { secret: SECRET, issuer: ISSUER })
    await expect(after.verifyAccessToken(hs256)).resolves.toMatchObject({ uid: 7 })
    await expect(after.verifyAccessToken(python)).resolves.toMatchObject({ sub: 'carol' })
    const { token } = await after.issueAccessToken(user)
    expect(part(token, 0).alg).toBe('EdDSA')
    expect(part(token, 1).iss).toBe(ISSUER)
    // HMAC secrets are never published.
    expect(await after.publicKeys()).toHaveLength(1)
  })

  it('JWT_ISSUER is still demanded of key pair tokens, and of HS256 tokens that carry another', async () => {
    const after = pairService('EdDSA', { secret: SECRET, issuer: ISSUER })
    const wrongIss = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'carol', exp: nowSeconds() + 600, iss: 'https://evil.example' },
      SECRET,
    )
    expect(await failure(after.verifyAccessToken(wrongIss))).toBe('issuer')
    const { token: noIss } = await pairService('EdDSA').issueAccessToken(user)
    expect(await failure(after.verifyAccessToken(noIss))).toBe('issuer')
  })
})

describe('settings', () => {
  const pem = () => keys.EdDSA.pem
  const refusal = (env: Record<string, string>) => {
    try {
      parseConfig(env)
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      const message = (error as Error).message
      for (const value of Object.values(env)) {
        if (value.length > 60) expect(message).not.toContain(value.slice(30, 60))
      }
      return message
    }
    return 'accepted'
  }

  it('refuses a bad key, a key of another algorithm, a public key and a private key to publish, naming the setting', () => {
    expect(refusal({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: 'not a key' })).toMatch(
      /JWT_PRIVATE_KEY: expected a JWK/,
    )
    expect(refusal({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: '{"kty":' })).toMatch(
      /JWT_PRIVATE_KEY: .*not valid JSON/,
    )
    expect(refusal({ ALGORITHM: 'ES256', JWT_PRIVATE_KEY: pem() })).toMatch(
      /JWT_PRIVATE_KEY: is an EdDSA key but ALGORITHM is ES256/,
    )
    expect(refusal({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: keys.EdDSA.publicPem })).toMatch(
      /JWT_PRIVATE_KEY: is a public key/,
    )
    expect(
      refusal({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: JSON.stringify(keys.EdDSA.publicJwk) }),
    ).toMatch(/JWT_PRIVATE_KEY: is a public key/)
    expect(refusal({ JWT_PUBLIC_KEYS: JSON.stringify([keys.ES256.privateJwk]) })).toMatch(
      /JWT_PUBLIC_KEYS: key 1 is a private key/,
    )
    expect(refusal({ JWT_PRIVATE_KEY: pem() })).toMatch(/JWT_PRIVATE_KEY: set ALGORITHM/)
    expect(refusal({ ALGORITHM: 'RS256' })).toMatch(/ALGORITHM: expected HS256, EdDSA or ES256/)
  })

  it('production needs the private key and an https JWT_ISSUER; development makes a key and says so', async () => {
    expect(
      refusal({
        NODE_ENV: 'production',
        ALGORITHM: 'EdDSA',
        JWT_ISSUER: ISSUER,
        DATABASE_URL: 'postgres://x/y',
      }),
    ).toMatch(/JWT_PRIVATE_KEY: required in production/)
    expect(refusal({ NODE_ENV: 'production', ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: pem() })).toMatch(
      /JWT_ISSUER: required in production/,
    )
    const production = parseConfig({
      NODE_ENV: 'production',
      ALGORITHM: 'EdDSA',
      JWT_PRIVATE_KEY: pem(),
      JWT_ISSUER: ISSUER,
    })
    expect(production.jwt.secret).toBeUndefined()
    const dev = parseConfig({ ALGORITHM: 'ES256' })
    expect(dev.jwt.ephemeralKey).toBe(true)
    expect(dev.warnings.join('\n')).toMatch(/JWT_PRIVATE_KEY is not set: using a random ES256 key/)
    const tokens = createTokenService(dev.jwt)
    const { token } = await tokens.issueAccessToken(user)
    expect(part(token, 0).alg).toBe('ES256')
    await expect(tokens.verifyAccessToken(token)).resolves.toMatchObject({ sub: 'carol' })
  })

  it('a key Web Crypto cannot use, or whose public part is not its own, stops the start naming the setting', async () => {
    const start = (text: string) =>
      createAppFromConfig(parseConfig({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: text }), {
        db: {} as Database,
        logger: createLogger(() => {}),
      })
    const mismatched = { ...keys.EdDSA.privateJwk, x: other.publicJwk.x }
    // Node refuses such a JWK on import; a runtime that derives x from d publishes the right key.
    await expect(start(JSON.stringify(mismatched))).rejects.toThrow(
      /JWT_PRIVATE_KEY: (its public part does not match|is not a valid EdDSA private key)/,
    )
    const truncated = keys.EdDSA.pem.replace(
      /\n[^\n]+\n-----END/,
      '\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END',
    )
    await expect(start(truncated)).rejects.toThrow(ConfigError)
    await expect(start(truncated)).rejects.toThrow(
      /JWT_PRIVATE_KEY: is not a valid EdDSA private key/,
    )
  })

  it.each([
    ['Bun', BUN, ['src/entry/bun.ts']],
    ['Node', NODE, ['--import', 'tsx', 'src/entry/node.ts']],
  ])(
    'the %s server exits with the message when the key cannot be imported, never printing it',
    (_name, command, args) => {
      const truncated = keys.EdDSA.pem.replace(
        /\n[^\n]+\n-----END/,
        '\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END',
      )
      const run = spawnSync(command, args, {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: 'memory://',
          PORT: '0',
          ALGORITHM: 'EdDSA',
          JWT_PRIVATE_KEY: truncated,
        },
        encoding: 'utf8',
        timeout: 60_000,
      })
      expect(run.status).toBe(1)
      expect(run.stderr).toContain('JWT_PRIVATE_KEY: is not a valid EdDSA private key')
      expect(`${run.stdout}${run.stderr}`).not.toContain('MC4CAQAwBQYDK2VwBCIEIA')
      expect(run.stdout).not.toContain('service_started')
    },
  )
})
