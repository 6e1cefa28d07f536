import { expect } from 'vitest'
import type { RawResponse } from '../support/raw-http'

/**
 * A running service the contract suite talks to over HTTP: `app.request` in process, or a real
 * server (Bun, Node, workerd) on some database. Every server is started with the same known
 * settings ({@link CONTRACT_ENV}), so cases can forge tokens and hash cheaply.
 */
export interface ContractTarget {
  /** For test names and messages, e.g. `bun + postgres`. */
  name: string
  /** Sends a request; `path` starts with `/`. */
  fetch(path: string, init?: RequestInit): Promise<Response>
  /** Everything the service has logged so far (its stdout and stderr). */
  logs(): string
  /**
   * Sends a request whose target goes on the request line exactly as given (`fetch` would resolve
   * `..` first). Absent in process, where there is no request line.
   */
  raw?(method: string, target: string, headers?: Record<string, string>): Promise<RawResponse>
  /**
   * True when the runtime resolves dot segments (`..`, `%2e%2e`, `\`) before any of the service's
   * code sees the target (workerd, as Cloudflare's edge does), so `/validate/../healthz` cannot be
   * told from `/healthz`: there the gateway's own normalisation is the defence (docs/gateways.md).
   */
  normalisesDotSegments?: boolean
}

/** Gets the target of the running leg (legs start their servers in `beforeAll`). */
export type TargetRef = () => ContractTarget

/** A function that registers one feature's contract cases (`describe`/`it`) against a target. */
export type ContractCases = (target: TargetRef) => void

/**
 * The HS256 secret of every contract server (32 bytes or more). It only verifies: the servers sign
 * with {@link CONTRACT_PRIVATE_KEY}, as a service moved from HS256 to a key pair does, so cases can
 * still forge HS256 tokens that the servers accept.
 */
export const CONTRACT_SECRET = 'contract-secret-0123456789abcdef0123456789abcdef'

/** The Ed25519 key every contract server signs with (a test key, made with `bun run keygen`). */
export const CONTRACT_PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIInRRQvCtJuYBzW1LjhCyMr9QSrTprat0m/rbDRaFb9l
-----END PRIVATE KEY-----`

/** The `kid` of {@link CONTRACT_PRIVATE_KEY} (its RFC 7638 thumbprint). */
export const CONTRACT_KID = 'MiVOIBXj1nJs5hZ00r-VUamQliUSQCd0d2BTuqpAAss'

/** `JWT_ISSUER` of every contract server: the `iss` of its tokens and the base of its metadata. */
export const CONTRACT_ISSUER = 'https://auth.contract.test'

/** The one client of `POST /introspect` on every contract server. */
export const CONTRACT_INTROSPECTION_CLIENT = {
  id: 'gateway',
  secret: 'introspection-secret-0123456789abcdef',
}

/**
 * The admin API key of every contract server (a test key: `eak_` and 43 base64url characters), and
 * its SHA-256, which is what ADMIN_API_KEYS holds.
 */
export const CONTRACT_ADMIN_KEY = 'eak_contract-admin-key-0123456789abcdefghijklmn'
const CONTRACT_ADMIN_KEY_SHA256 = '0774a340c77c3edc71a0f2dedf8eb7bda14b702a5b10701abc968d86ccb86181'

/** Access token lifetime of every contract server, in seconds. */
export const CONTRACT_TTL_SECONDS = 1800

/**
 * `REFRESH_REUSE_GRACE_SECONDS` of every contract server: short, so that reuse detection (a used
 * refresh token presented again after the window) runs over HTTP with a real wait, yet long
 * enough that a second use straight after the first falls inside it on a busy machine.
 */
export const CONTRACT_REUSE_GRACE_SECONDS = 2

/**
 * `THROTTLE_REFRESH_MAX` of every contract server: refresh attempts per session per minute. Low, so
 * a case reaches it in a few requests, yet above what any other case sends for one session (ten
 * concurrent refreshes and one more).
 */
export const CONTRACT_REFRESH_MAX = 12

/** The address every contract request comes from, as the service sees it (loopback). */
export const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1']

/**
 * The configuration every contract server starts with: the known key and secret, 30-minute tokens,
 * an issuer, an introspection client and a cheap Argon2id cost so the suite runs fast (the cost itself is tested in test/password.test.ts).
 */
export const CONTRACT_ENV: Record<string, string> = {
  ALGORITHM: 'EdDSA',
  JWT_PRIVATE_KEY: CONTRACT_PRIVATE_KEY,
  JWT_SECRET: CONTRACT_SECRET,
  JWT_ISSUER: CONTRACT_ISSUER,
  INTROSPECTION_CLIENTS: `${CONTRACT_INTROSPECTION_CLIENT.id}:${CONTRACT_INTROSPECTION_CLIENT.secret}`,
  ADMIN_API_KEYS: `contract-ops:${CONTRACT_ADMIN_KEY_SHA256}`,
  ACCESS_TOKEN_EXPIRE_MINUTES: String(CONTRACT_TTL_SECONDS / 60),
  ARGON2_MEMORY_KIB: '256',
  ARGON2_ITERATIONS: '1',
  ARGON2_PARALLELISM: '1',
  NODE_ENV: 'test',
  // The production default: no access line for a successful read or token check, so a token
  // presented again is answered before routing on every leg, as in a deployment.
  ACCESS_LOG: 'errors-and-writes',
  REFRESH_REUSE_GRACE_SECONDS: String(CONTRACT_REUSE_GRACE_SECONDS),
  THROTTLE_REFRESH_MAX: String(CONTRACT_REFRESH_MAX),
  // One known TOTP encryption key, as a deployment sets (32 bytes, base64).
  MFA_ENCRYPTION_KEY: 'Y29udHJhY3QtbWZhLWtleS0wMTIzNDU2Nzg5YWJjZGU=',
  // The clock of two-factor login moves through PUT /_test/mfa-clock (test/contract/mfa.ts).
  MFA_TEST_CLOCK: 'true',
  // TOKEN_REVOCATION_CACHE_SECONDS keeps its default (30 s): each leg is one instance, on which a
  // logout reaches /validate at once; the cross-runtime servers shorten it (CROSS_RUNTIME_ENV).
  // THROTTLE_LOGIN_ACCOUNT_MAX keeps its default (5 failures per account per 15 minutes).
  // Every request of a leg comes from 127.0.0.1: per-address limits would throttle the suite itself.
  THROTTLE_LOGIN_ADDRESS_MAX: '0',
  THROTTLE_REGISTER_ADDRESS_MAX: '0',
}

/**
 * `TOKEN_REVOCATION_CACHE_SECONDS` of the servers that share one database in the cross-runtime
 * checks: how long a logout on one may take to reach another's `/validate`.
 */
export const CROSS_RUNTIME_CACHE_SECONDS = 2

/** What the cross-runtime servers add to {@link CONTRACT_ENV}. */
export const CROSS_RUNTIME_ENV: Record<string, string> = {
  TOKEN_REVOCATION_CACHE_SECONDS: String(CROSS_RUNTIME_CACHE_SECONDS),
}

/** A password that passes the registration rules. */
export const PASSWORD = 'correct horse battery staple'

/** A username no other case uses, 3 to 32 characters. */
export function uniqueName(prefix = 'user'): string {
  return `${prefix.slice(0, 12)}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
}

/** The requests most cases send. */
export function client(target: TargetRef) {
  return {
    register: (body: unknown) =>
      target().fetch('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    login: (fields: Record<string, string>) =>
      target().fetch('/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      }),
    validate: (authorization?: string) =>
      target().fetch('/validate', {
        method: 'POST',
        headers: authorization === undefined ? {} : { authorization },
      }),
    /** `POST /token` with the refresh_token grant. */
    refresh: (refreshToken: string) =>
      target().fetch('/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
        }).toString(),
      }),
    revoke: (fields: Record<string, string>) =>
      target().fetch('/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      }),
    /** A request with `Authorization: Bearer <accessToken>` and, if given, a JSON body. */
    bearer: (method: string, path: string, accessToken: string, body?: unknown) =>
      target().fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${accessToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
  }
}

/** Registers a fresh user and returns its id, username and password. */
export async function registerUser(target: TargetRef, prefix = 'user') {
  const username = uniqueName(prefix)
  const res = await client(target).register({ name: 'Test User', username, password: PASSWORD })
  expect(res.status, await res.clone().text()).toBe(201)
  const { id } = (await res.json()) as { id: number }
  return { id, username, password: PASSWORD }
}

/** Logs in and returns the access token. */
export async function loginToken(
  target: TargetRef,
  username: string,
  password = PASSWORD,
): Promise<string> {
  const res = await client(target).login({ username, password })
  expect(res.status, await res.clone().text()).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}

/** An access token and a refresh token: one session. */
export interface SessionTokens {
  access: string
  refresh: string
}

/** Logs in and returns both tokens of the new session. */
export async function logIn(
  target: TargetRef,
  username: string,
  password = PASSWORD,
): Promise<SessionTokens> {
  const res = await client(target).login({ username, password })
  expect(res.status, await res.clone().text()).toBe(200)
  const body = (await res.json()) as { access_token: string; refresh_token: string }
  return { access: body.access_token, refresh: body.refresh_token }
}

/** Exchanges a refresh token for the next pair; fails the test unless it is a 200. */
export async function rotate(target: TargetRef, refreshToken: string): Promise<SessionTokens> {
  const res = await client(target).refresh(refreshToken)
  expect(res.status, await res.clone().text()).toBe(200)
  const body = (await res.json()) as { access_token: string; refresh_token: string }
  return { access: body.access_token, refresh: body.refresh_token }
}

/** `400 {"error": "invalid_grant", ...}`: the one answer for every unusable refresh token. */
export async function expectInvalidGrant(res: Response): Promise<void> {
  expect(res.status).toBe(400)
  expect(res.headers.get('cache-control')).toBe('no-store')
  expect(await res.json()).toEqual({
    error: 'invalid_grant',
    error_description: expect.any(String),
    detail: expect.any(String),
  })
}

/** `401 {"detail": "Invalid token"}` with `WWW-Authenticate: Bearer error="invalid_token"`. */
export async function expectInvalidToken(res: Response): Promise<void> {
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  expect(await res.json()).toEqual({ detail: 'Invalid token' })
}

/** A 429 `{"detail": ...}` with a whole, positive `Retry-After`; returns it in seconds. */
export async function expect429(res: Response): Promise<number> {
  expect(res.status).toBe(429)
  expect(await res.json()).toEqual({ detail: expect.any(String) })
  const retryAfter = Number(res.headers.get('retry-after'))
  expect(Number.isInteger(retryAfter)).toBe(true)
  expect(retryAfter).toBeGreaterThan(0)
  expect(res.headers.get('cache-control')).toBe('no-store')
  return retryAfter
}

/** Waits until a line of the service's logs contains every fragment (servers write a moment later). */
export async function waitForLine(
  target: TargetRef,
  fragments: string[],
  timeoutMs = 5000,
): Promise<string | undefined> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const lines = target().logs().split('\n')
    const line = lines.find((l) => fragments.every((f) => l.includes(f)))
    if (line !== undefined || Date.now() > until) return line
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Resolves after `ms` milliseconds (for waits on the server's real clock). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
