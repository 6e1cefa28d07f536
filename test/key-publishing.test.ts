/**
 * Publishing keys, with settings the contract servers do not have: a whole key rotation watched by
 * a gateway that caches the key set (jose's remote key set, on a moved clock), the key set of an
 * HS256-only service, and the metadata and introspection endpoints when they are off.
 */
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createAppFromConfig } from '../src/app'
import { parseConfig } from '../src/config'
import { openPglite } from '../src/db/drivers/pglite'
import { migrateDatabase } from '../src/db/migrate'
import { createLogger } from '../src/logger'
import { makeTestKey, type TestKey } from './support/keys'

const SECRET = 'rotation-secret-0123456789abcdef0123456789abcdef'
const ISSUER = 'https://auth.example.com'
const CACHE_SECONDS = 300
const TTL_MINUTES = 15
const PASSWORD = 'correct horse battery staple'

type App = Awaited<ReturnType<typeof createAppFromConfig>>

let handle: Awaited<ReturnType<typeof openPglite>>
beforeAll(async () => {
  handle = await openPglite(null)
  await migrateDatabase(handle)
})
afterAll(() => handle.close())
afterEach(() => {
  vi.useRealTimers()
})

/** One deployment of the service on the shared database: the settings of one rotation step. */
const deploy = (settings: Record<string, string>): Promise<App> =>
  createAppFromConfig(
    parseConfig({
      NODE_ENV: 'test',
      DATABASE_URL: 'memory://',
      ACCESS_TOKEN_EXPIRE_MINUTES: String(TTL_MINUTES),
      JWKS_CACHE_SECONDS: String(CACHE_SECONDS),
      JWT_ISSUER: ISSUER,
      ARGON2_MEMORY_KIB: '256',
      ARGON2_ITERATIONS: '1',
      ARGON2_PARALLELISM: '1',
      THROTTLE_LOGIN_ADDRESS_MAX: '0',
      THROTTLE_REGISTER_ADDRESS_MAX: '0',
      ...settings,
    }),
    { db: handle.db, logger: createLogger(() => {}) },
  )

const login = async (app: App, username: string) => {
  const res = await app.request('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password: PASSWORD }).toString(),
  })
  expect(res.status).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}

const publicKey = (key: TestKey) => JSON.stringify(key.publicJwk)

describe('a key rotation seen by a gateway that caches the key set', () => {
  it('moves from HS256 to K1, then from K1 to K2, without one failed verification', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const [k1, k2] = [await makeTestKey('EdDSA'), await makeTestKey('EdDSA')]
    let live: App = await deploy({ JWT_SECRET: SECRET })
    const username = `rotating_${crypto.randomUUID().slice(0, 8)}`
    const registered = await live.request('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'R', username, password: PASSWORD }),
    })
    expect(registered.status).toBe(201)

    // The gateway: jose's remote key set, which keeps what it fetched for CACHE_SECONDS and does
    // not fetch again within that time even for an unknown kid (the strictest cache).
    let fetches = 0
    const gateway = createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`), {
      cacheMaxAge: CACHE_SECONDS * 1000,
      cooldownDuration: CACHE_SECONDS * 1000,
      [customFetch]: async () => {
        fetches++
        return live.request('/.well-known/jwks.json')
      },
    })
    const verifiedByGateway = async (token: string) =>
      (await jwtVerify(token, gateway, { issuer: ISSUER, algorithms: ['EdDSA'] })).payload.sub
    const validated = async (token: string) =>
      (await live.request('/validate', { headers: { authorization: `Bearer ${token}` } })).status
    const wait = (seconds: number) => vi.setSystemTime(Date.now() + seconds * 1000)

    // Every token not yet expired is checked right after each step, at the last second of the
    // step's wait and after it: by the gateway (key pair tokens) and by /validate (all).
    const issued: { token: string; exp: number; local: boolean }[] = []
    const issue = async (local: boolean) => {
      const token = await login(live, username)
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
      issued.push({ token, exp, local })
    }
    const checkAll = async () => {
      const live = issued.filter(({ exp }) => exp > Date.now() / 1000)
      for (const { token, local } of live) {
        if (local) expect(await verifiedByGateway(token)).toBe(username)
        expect(await validated(token)).toBe(200)
      }
      return live.length
    }
    const waitAndCheck = async (seconds: number) => {
      wait(seconds - 1)
      await checkAll()
      wait(1)
      await checkAll()
    }

    // Step 1: publish K1 while HS256 still signs (the gateway still asks /validate); wait the cache time.
    live = await deploy({ JWT_SECRET: SECRET, JWT_PUBLIC_KEYS: publicKey(k1) })
    await issue(false)
    await checkAll()
    await waitAndCheck(CACHE_SECONDS)

    // Step 2: K1 signs; the HS256 secret only verifies until the last HS256 token has expired.
    live = await deploy({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: k1.pem, JWT_SECRET: SECRET })
    await issue(true)
    await checkAll()
    await waitAndCheck(TTL_MINUTES * 60)

    // Step 3: publish K2 next to K1 (K1 still signs); wait the cache time, so every gateway has K2.
    live = await deploy({
      ALGORITHM: 'EdDSA',
      JWT_PRIVATE_KEY: k1.pem,
      JWT_PUBLIC_KEYS: publicKey(k2),
    })
    await issue(true)
    await checkAll()
    await waitAndCheck(CACHE_SECONDS)

    // Step 4: K2 signs; K1 stays published until its last token has expired.
    live = await deploy({
      ALGORITHM: 'EdDSA',
      JWT_PRIVATE_KEY: k2.pem,
      JWT_PUBLIC_KEYS: publicKey(k1),
    })
    await issue(true)
    await checkAll()
    await waitAndCheck(TTL_MINUTES * 60)

    // Step 5: K1 withdrawn.
    live = await deploy({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: k2.pem })
    await issue(true)
    expect(await checkAll()).toBe(1)
    await waitAndCheck(CACHE_SECONDS)
    expect(fetches).toBeGreaterThanOrEqual(3)
  })

  it('the same gateway fails when K2 signs before its cache has seen it (why step 3 waits)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const [k1, k2] = [await makeTestKey('EdDSA'), await makeTestKey('EdDSA')]
    let live = await deploy({ ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: k1.pem })
    const username = `hasty_${crypto.randomUUID().slice(0, 8)}`
    await live.request('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'H', username, password: PASSWORD }),
    })
    const gateway = createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`), {
      cacheMaxAge: CACHE_SECONDS * 1000,
      cooldownDuration: CACHE_SECONDS * 1000,
      [customFetch]: async () => live.request('/.well-known/jwks.json'),
    })
    await jwtVerify(await login(live, username), gateway)
    live = await deploy({
      ALGORITHM: 'EdDSA',
      JWT_PRIVATE_KEY: k2.pem,
      JWT_PUBLIC_KEYS: publicKey(k1),
    })
    await expect(jwtVerify(await login(live, username), gateway)).rejects.toThrow(
      /no applicable key/,
    )
  })
})

describe('with HS256 alone, and without an issuer or introspection clients', () => {
  it('the key set is empty (an HMAC secret is never published); metadata and /introspect are 404', async () => {
    const app = await deploy({ JWT_SECRET: SECRET, JWT_ISSUER: '' })
    const jwks = await app.request('/.well-known/jwks.json')
    expect(jwks.status).toBe(200)
    const text = await jwks.text()
    expect(JSON.parse(text)).toEqual({ keys: [] })
    expect(text).not.toContain(SECRET)
    for (const path of [
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
    ]) {
      const res = await app.request(path)
      expect(res.status).toBe(404)
      expect(await res.json()).toEqual({ detail: 'Not Found' })
    }
    const introspect = await app.request('/introspect', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${btoa('a:b')}`,
      },
      body: 'token=x',
    })
    expect(introspect.status).toBe(404)
  })

  it('a JWT_ISSUER that is not a URL keeps the metadata off; one with a path is the base of every endpoint', async () => {
    const named = await deploy({ JWT_SECRET: SECRET, JWT_ISSUER: 'auth-service' })
    expect((await named.request('/.well-known/oauth-authorization-server')).status).toBe(404)
    const prefixed = await deploy({ JWT_SECRET: SECRET, JWT_ISSUER: 'https://example.com/auth/' })
    const metadata = await (await prefixed.request('/.well-known/openid-configuration')).json()
    expect(metadata).toMatchObject({
      issuer: 'https://example.com/auth/',
      token_endpoint: 'https://example.com/auth/token',
      jwks_uri: 'https://example.com/auth/.well-known/jwks.json',
    })
    expect(metadata).not.toHaveProperty('introspection_endpoint')
    expect(metadata).not.toHaveProperty('authorization_endpoint')
  })
})
