/**
 * Property-based fuzzing of every endpoint over HTTP (through an `Http` function, so it can be
 * pointed at a real server): generated bodies, content types, headers and tokens must never
 * produce a 5xx, and every answer must be JSON (an error is `{"detail": ...}`).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { makeTestApp, TEST_PEER_HEADER, TEST_SECRET, type TestApp } from './support/app'
import { type Http, inProcess } from './support/http'
import { forgeJwt, nowSeconds } from './support/jwt'

let t: TestApp
let http: Http
beforeAll(async () => {
  t = await makeTestApp()
  http = inProcess(t.app)
  await http('/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Fuzz',
      username: 'fuzz_user',
      password: 'correct horse battery',
    }),
  })
})
afterAll(() => t.close())

/** Printable ASCII and tab: what a header value may hold. */
const headerText = fc.string({
  unit: fc.mapToConstant({
    num: 96,
    build: (v) => (v === 95 ? '\t' : String.fromCharCode(0x20 + v)),
  }),
  maxLength: 80,
})
const anyText = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 32 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\ud800',
    'fuzz_user',
    'FUZZ_USER',
    '%00',
    '../..',
    '__proto__',
  ),
)
const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/problem+json',
    'application/x-www-form-urlencoded',
    'multipart/form-data',
    'multipart/form-data; boundary=x',
    'text/plain',
    '',
  ),
  headerText,
)
const extraHeaders = fc.record(
  {
    'x-request-id': headerText,
    'x-forwarded-for': fc.oneof(fc.ipV4(), fc.ipV6(), headerText),
    [TEST_PEER_HEADER]: fc.oneof(fc.ipV4(), fc.ipV6(), headerText),
    origin: fc.oneof(fc.webUrl(), headerText),
    accept: headerText,
    'accept-encoding': headerText,
  },
  { requiredKeys: [] },
)
const bodyBytes = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }),
)

/**
 * Statuses seen per property, to check each property reaches past the first gate. Every property
 * starts with `examples` that reach each expected status, so the check never rests on luck.
 */
let seen = new Set<number>()

async function expectJsonAnswer(res: Response, method = 'POST', path = '') {
  seen.add(res.status)
  expect(res.status).toBeLessThan(500)
  const text = await res.text()
  if (method === 'HEAD') return
  // Swagger UI's page and assets are HTML, CSS and JS; its errors are JSON like every other.
  if (path.startsWith('/docs') && res.status < 400) return
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  const body = JSON.parse(text)
  if (res.status >= 400) expect(body).toHaveProperty('detail')
}

const runs = (n: number) => ({ numRuns: n })

describe('fuzzing: never a 5xx, always JSON', () => {
  beforeEach(() => {
    seen = new Set()
  })

  it('POST /register with generated bodies, content types and headers', async () => {
    const plausible = fc.record({
      name: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), anyText),
      username: fc.oneof(
        fc.stringMatching(/^[a-z][a-z0-9_.-]{2,12}$/),
        fc.constantFrom('fuzz_user', 'Fuzz_User'),
        anyText,
      ),
      password: fc.oneof(fc.string({ minLength: 8, maxLength: 40 }), anyText),
    })
    const registration = fc.oneof(
      plausible,
      fc.record(
        { name: anyText, username: anyText, password: anyText, extra: fc.jsonValue() },
        { requiredKeys: [] },
      ),
    )
    const json = fc.constantFrom('application/json', 'application/json; charset=utf-8')
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          registration.map((r) => JSON.stringify(r)),
          bodyBytes,
        ),
        fc.oneof(json, contentType),
        extraHeaders,
        async (body, type, headers) => {
          const res = await http('/register', {
            method: 'POST',
            headers: { ...headers, 'content-type': type },
            body,
          })
          await expectJsonAnswer(res)
        },
      ),
      {
        ...runs(800),
        examples: [
          [
            JSON.stringify({ name: 'N', username: 'fuzz_new', password: 'long enough pw' }),
            'application/json',
            {},
          ],
          [
            JSON.stringify({ name: 'N', username: 'fuzz_user', password: 'long enough pw' }),
            'application/json',
            {},
          ],
          ['{}', 'text/plain', {}],
          ['{}', 'application/json', {}],
        ],
      },
    )
    expect([...seen]).toEqual(expect.arrayContaining([201, 409, 415, 422]))
  })

  it('POST /token with generated forms, multipart bodies and raw bytes', async () => {
    const fields = fc.dictionary(
      fc.oneof(
        fc.constantFrom('username', 'password', 'grant_type', 'scope', 'client_id'),
        fc.string({ maxLength: 10 }),
      ),
      anyText,
      { maxKeys: 6 },
    )
    const login = fc.record({
      // 'fuzz_locked' never gets its password right: it is soon throttled.
      username: fc.oneof(fc.constantFrom('fuzz_user', 'fuzz_locked'), anyText),
      password: fc.oneof(
        { arbitrary: fc.constant('correct horse battery'), weight: 3 },
        { arbitrary: anyText, weight: 1 },
      ),
    })
    const urlencoded = (f: Record<string, string>) => ({
      type: 'application/x-www-form-urlencoded',
      body: new URLSearchParams(f).toString(),
    })
    const body = fc.oneof(
      login.map(urlencoded),
      fields.map(urlencoded),
      fields.map((f) => {
        const data = new FormData()
        for (const [k, v] of Object.entries(f)) data.append(k, v)
        return { type: undefined, body: data }
      }),
      fc.tuple(contentType, bodyBytes).map(([type, bytes]) => ({ type, body: bytes })),
    )
    await fc.assert(
      fc.asyncProperty(body, extraHeaders, async (input, headers) => {
        const res = await http('/token', {
          method: 'POST',
          headers: input.type === undefined ? headers : { ...headers, 'content-type': input.type },
          body: input.body as BodyInit,
        })
        await expectJsonAnswer(res)
      }),
      {
        ...runs(800),
        examples: [
          [urlencoded({ username: 'fuzz_user', password: 'correct horse battery' }), {}],
          [urlencoded({ grant_type: 'client_credentials', username: 'a', password: 'b' }), {}],
          [urlencoded({ username: 'fuzz_nobody', password: 'wrong' }), {}],
          [{ type: 'text/plain', body: 'username=a&password=b' }, {}],
          // One more than the per-account limit: the last is refused with a 429.
          ...Array.from({ length: 6 }, (): [{ type: string; body: string }, object] => [
            urlencoded({ username: 'fuzz_locked', password: 'wrong' }),
            {},
          ]),
        ],
      },
    )
    expect([...seen]).toEqual(expect.arrayContaining([200, 400, 401, 415, 429]))
  })

  it('POST /validate with generated Authorization headers and forged tokens', async () => {
    const b64 = (v: string) => Buffer.from(v).toString('base64url')
    const header = fc.record(
      {
        alg: fc.oneof(fc.constantFrom('HS256', 'none', 'HS512', 'RS256'), fc.string()),
        typ: fc.oneof(fc.constant('JWT'), fc.string()),
        kid: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        jku: fc.webUrl(),
        crit: fc.array(fc.string()),
      },
      { requiredKeys: [] },
    )
    const payload = fc.oneof(
      fc.record(
        {
          sub: fc.oneof(fc.string(), fc.integer(), fc.constant('fuzz_user')),
          exp: fc.oneof(fc.integer(), fc.constant(nowSeconds() + 600), fc.double(), fc.string()),
          iat: fc.oneof(fc.integer(), fc.double()),
          nbf: fc.oneof(fc.integer(), fc.string()),
          uid: fc.oneof(fc.integer(), fc.double(), fc.string()),
          iss: fc.string(),
          aud: fc.oneof(fc.string(), fc.array(fc.string())),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    )
    const credentials = { username: 'fuzz_validator', password: 'correct horse battery' }
    await t.register({ name: 'Validator', ...credentials })
    const login = await t.login(credentials)
    const issued: string = (await login.json()).access_token
    const mutated = fc
      .tuple(fc.nat(issued.length - 1), fc.constantFrom('A', '-', '_', '.', '='))
      .map(([i, ch]) => `${issued.slice(0, i)}${ch}${issued.slice(i + 1)}`)
    const token = fc.oneof(
      fc.constant(issued),
      mutated,
      fc
        .tuple(header, payload, fc.oneof(fc.constant(TEST_SECRET), fc.string()))
        .map(([h, p, secret]) => forgeJwt(h, JSON.stringify(p) ?? 'null', secret)),
      fc.tuple(fc.string(), fc.string(), fc.string()).map((parts) => parts.map(b64).join('.')),
      fc.stringMatching(/^[A-Za-z0-9_.-]{0,300}$/),
    )
    const authorization = fc.oneof(
      token.map((v) => `Bearer ${v}`),
      fc
        .tuple(fc.constantFrom('bearer', 'BEARER', 'Basic', 'Bearer  ', ''), headerText)
        .map(([scheme, rest]) => `${scheme} ${rest}`),
      headerText,
    )
    await fc.assert(
      fc.asyncProperty(authorization, extraHeaders, async (auth, headers) => {
        const res = await http('/validate', {
          method: 'POST',
          headers: { ...headers, authorization: auth },
        })
        await expectJsonAnswer(res)
        if (res.status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      }),
      {
        ...runs(2000),
        examples: [
          [`Bearer ${issued}`, {}],
          ['Bearer nope', {}],
        ],
      },
    )
    expect([...seen]).toEqual(expect.arrayContaining([200, 401]))
  })

  it('the refresh grant and /revoke with generated refresh tokens and forms', async () => {
    const login = await http('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'fuzz_user', password: 'correct horse battery' }),
    })
    const { refresh_token: real } = (await login.json()) as { refresh_token: string }
    const token = fc.oneof(
      fc.constant(real),
      fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      fc.stringMatching(/^[A-Za-z0-9_-]{21}[AQgw]\.[A-Za-z0-9_-]{43}$/),
      fc.string({ maxLength: 600 }),
      anyText,
    )
    const form = fc.record(
      {
        grant_type: fc.oneof(fc.constant('refresh_token'), anyText),
        refresh_token: token,
        token,
        token_type_hint: fc.oneof(fc.constantFrom('refresh_token', 'access_token'), anyText),
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/token', '/revoke'),
        form,
        fc.oneof(fc.constant('application/x-www-form-urlencoded'), contentType),
        extraHeaders,
        async (path, fields, type, headers) => {
          const res = await http(path, {
            method: 'POST',
            headers: { ...headers, 'content-type': type },
            body: new URLSearchParams(fields as Record<string, string>).toString(),
          })
          if (path === '/revoke' && res.status === 200) {
            seen.add(200)
            return
          }
          await expectJsonAnswer(res)
        },
      ),
      {
        ...runs(600),
        examples: [
          ['/revoke', { token: 'whatever' }, 'application/x-www-form-urlencoded', {}],
          [
            '/token',
            { grant_type: 'refresh_token', refresh_token: 'nope' },
            'application/x-www-form-urlencoded',
            {},
          ],
        ],
      },
    )
    expect([...seen]).toEqual(expect.arrayContaining([200, 400]))
  })

  it('/me, /me/password, DELETE /me and /logout with generated tokens and bodies', async () => {
    const register = await http('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Fuzz',
        username: 'fuzz_me',
        password: 'correct horse battery',
      }),
    })
    expect(register.status).toBe(201)
    const login = await http('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'fuzz_me', password: 'correct horse battery' }),
    })
    const { access_token: real } = (await login.json()) as { access_token: string }
    const authorization = fc.oneof(
      fc.constant(`Bearer ${real}`),
      headerText,
      fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
    )
    const account = fc.record(
      {
        current_password: fc.oneof(fc.constant('not the password'), anyText),
        new_password: anyText,
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    )
    const route = fc.constantFrom(
      ['GET', '/me'],
      ['PUT', '/me/password'],
      ['DELETE', '/me'],
      ['POST', '/logout'],
    )
    await fc.assert(
      fc.asyncProperty(
        route,
        authorization,
        fc.oneof(
          account.map((a) => JSON.stringify(a)),
          bodyBytes,
        ),
        fc.oneof(fc.constant('application/json'), contentType),
        extraHeaders,
        async ([method, path], auth, body, type, headers) => {
          const res = await http(path, {
            method,
            headers: { ...headers, authorization: auth, 'content-type': type },
            ...(method === 'GET' ? {} : { body }),
          })
          if (res.status === 204) {
            seen.add(204)
            return
          }
          await expectJsonAnswer(res, method)
        },
      ),
      {
        ...runs(600),
        examples: [
          [['GET', '/me'], `Bearer ${real}`, '', 'application/json', {}],
          [['PUT', '/me/password'], `Bearer ${real}`, '{}', 'text/plain', {}],
          [['GET', '/me'], 'Bearer nope', '', 'application/json', {}],
        ],
      },
    )
    expect([...seen]).toEqual(expect.arrayContaining([401, 415]))
    expect(seen.has(200) || seen.has(204)).toBe(true)
  })

  it('any method on any path, the health checks included', async () => {
    const path = fc.oneof(
      fc.constantFrom(
        '/register',
        '/token',
        '/validate',
        '/revoke',
        '/logout',
        '/me',
        '/me/password',
        '/healthz',
        '/readyz',
        '/',
        '/docs',
      ),
      fc.webPath(),
      fc.string({ maxLength: 40 }).map((s) => `/${encodeURIComponent(s)}`),
    )
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        fc.option(bodyBytes),
        contentType,
        extraHeaders,
        async (m, p, body, type, headers) => {
          const withBody = body !== null && m !== 'GET' && m !== 'HEAD'
          const target = p.startsWith('/') ? p : `/${p}`
          const res = await http(target, {
            method: m,
            headers: { ...headers, 'content-type': type },
            ...(withBody ? { body } : {}),
          })
          await expectJsonAnswer(res, m, target)
        },
      ),
      {
        ...runs(1000),
        examples: [
          ['GET', '/healthz', null, '', {}],
          ['GET', '/no-such-path', null, '', {}],
          ['PATCH', '/register', null, '', {}],
        ],
      },
    )
    expect([...seen]).toEqual(expect.arrayContaining([200, 404, 405]))
  })
})
