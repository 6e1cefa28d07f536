import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminKeyHash, newAdminKey } from '../src/auth/admin-keys'
import { DEFAULT_SECURITY } from '../src/config'
import { makeTestApp, TEST_SECRET, type TestApp } from './support/app'
import { forgeJwt } from './support/jwt'

type Json = Record<string, unknown>
interface Operation {
  tags?: string[]
  security?: Record<string, string[]>[]
  requestBody?: { content: Record<string, unknown> }
  responses: Record<
    string,
    {
      content?: Record<string, { schema: Json; examples?: Record<string, { value: unknown }> }>
      headers?: Json
    }
  >
}
interface Document {
  openapi: string
  tags?: { name: string; description?: string }[]
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, Json> }
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

/**
 * Routes the app serves that are not API operations, each with the reason. Routes registered for
 * every method (`app.all`, such as Envoy's `/validate/*`) look like middleware in `app.routes`
 * and are left out by the method filter below; test/forward-auth.test.ts covers that one.
 */
const NOT_OPERATIONS: [RegExp, string][] = [
  [/^\/openapi\.json$/, 'the document itself'],
  [/^\/docs(?:\/|$)/, 'Swagger UI and its assets'],
]

let t: TestApp
let doc: Document
let resolved: Document

beforeAll(async () => {
  t = await makeTestApp()
  const res = await t.app.request('/openapi.json')
  expect(res.status).toBe(200)
  doc = (await res.json()) as Document
  const validator = new Validator()
  const result = await validator.validate(structuredClone(doc) as unknown as Json)
  expect(result.errors ?? []).toEqual([])
  resolved = validator.resolveRefs() as unknown as Document
})
afterAll(() => t.close())

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document (checked against the official 3.1 schema)', async () => {
    expect(doc.openapi).toBe('3.1.0')
    const result = await new Validator().validate(structuredClone(doc) as unknown as Json)
    expect(result).toEqual({ valid: true })
  })

  it('documents every route the app serves, and nothing it does not', () => {
    const served = new Set<string>()
    for (const route of t.app.routes) {
      if (route.method === 'ALL') continue
      if (NOT_OPERATIONS.some(([pattern]) => pattern.test(route.path))) continue
      const path = route.path.replace(/:(\w+)(?:\{[^}]*\})?/g, '{$1}')
      served.add(`${route.method} ${path}`)
    }
    const documented = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).filter((key) => METHODS.includes(key))) {
        documented.add(`${method.toUpperCase()} ${path}`)
      }
    }
    expect(served.size).toBeGreaterThanOrEqual(4)
    expect([...documented].sort()).toEqual([...served].sort())
  })

  it('describes a body for every response of every operation', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const codes = Object.keys(operation.responses)
        expect(
          codes.some((code) => code.startsWith('2')),
          `${method} ${path}`,
        ).toBe(true)
        // RFC 7009 §2.2: a revocation answers 200 with nothing to read.
        const bodiless = (code: string) =>
          code === '204' || code === '304' || (path === '/revoke' && code === '200')
        for (const code of codes.filter((c) => !bodiless(c))) {
          const content = operation.responses[code]?.content
          expect(content?.['application/json']?.schema, `${method} ${path} ${code}`).toBeDefined()
        }
      }
    }
  })

  it('has the Bearer scheme, an OAuth2 password flow whose tokenUrl is /token, Basic for introspection clients and the admin key', () => {
    expect(doc.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
      oauth2: expect.objectContaining({
        type: 'oauth2',
        flows: { password: { tokenUrl: '/token', scopes: {} } },
      }),
      introspectionClient: expect.objectContaining({ type: 'http', scheme: 'basic' }),
      adminKey: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    })
  })

  it('puts every /admin operation, and only those, under the admin tag and the admin key alone', () => {
    expect(doc.tags?.map((tag) => tag.name)).toContain('admin')
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, op })),
    )
    const admin = operations.filter(({ path }) => path.startsWith('/admin/'))
    expect(admin.map(({ name }) => name).sort()).toEqual([
      'DELETE /admin/users/{id}',
      'DELETE /admin/users/{id}/ban',
      'DELETE /admin/users/{id}/mfa',
      'DELETE /admin/users/{id}/sessions',
      'GET /admin/users',
      'GET /admin/users/{id}',
      'POST /admin/users/{id}/ban',
      'PUT /admin/users/{id}/password',
    ])
    for (const { name, path, op } of operations) {
      const isAdmin = path.startsWith('/admin/')
      expect(op.tags?.includes('admin') ?? false, name).toBe(isAdmin)
      if (isAdmin) expect(op.security, name).toEqual([{ adminKey: [] }])
      else expect(JSON.stringify(op.security ?? []), name).not.toContain('adminKey')
    }
  })

  it('lets every bearer-protected operation be called with the password-flow token', () => {
    const protectedOps = Object.values(doc.paths)
      .flatMap((item) => Object.values(item))
      .filter((op) => op.security?.some((requirement) => 'bearer' in requirement))
    expect(protectedOps.length).toBeGreaterThanOrEqual(2)
    for (const op of protectedOps) expect(op.security).toContainEqual({ oauth2: [] })
  })

  it('is the same for every app built in the process (building one changes no shared route)', async () => {
    const other = await makeTestApp()
    try {
      expect(await (await other.app.request('/openapi.json')).json()).toEqual(doc)
    } finally {
      await other.close()
    }
  })
})

describe('real responses match the document', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  const password = 'correct horse battery staple'

  /** Asserts the status is documented for the operation, and the body and headers fit it. */
  async function expectDocumented(method: string, path: string, res: Response) {
    const response = resolved.paths[path]?.[method]?.responses[String(res.status)]
    expect(response, `${method.toUpperCase()} ${path} ${res.status} is documented`).toBeDefined()
    const schema = response?.content?.['application/json']?.schema
    expect(schema).toBeDefined()
    const body = await res.json()
    const validate = ajv.compile(schema as Json)
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true)
    const headers = (response?.headers ?? {}) as Record<string, { required?: boolean }>
    for (const [name, header] of Object.entries(headers)) {
      if (header.required) expect(res.headers.get(name), name).not.toBeNull()
    }
  }

  const json = (body: unknown) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })

  it('POST /register: 201, 409, 415, 422', async () => {
    const user = { name: 'Doc', username: 'doc_contract', password }
    await expectDocumented('post', '/register', await t.app.request('/register', json(user)))
    await expectDocumented('post', '/register', await t.app.request('/register', json(user)))
    await expectDocumented(
      'post',
      '/register',
      await t.app.request('/register', { method: 'POST', body: 'x' }),
    )
    await expectDocumented('post', '/register', await t.app.request('/register', json({})))
  })

  it('POST /token: 200, 400, 401, 415', async () => {
    await t.register({ name: 'Tok', username: 'tok_contract', password })
    const ok = await t.app.request('/token', form({ username: 'tok_contract', password }))
    expect(ok.status).toBe(200)
    await expectDocumented('post', '/token', ok)
    const bad = await t.app.request('/token', form({ username: 'tok_contract' }))
    expect(bad.status).toBe(400)
    await expectDocumented('post', '/token', bad)
    const wrong = form({ username: 'tok_contract', password: 'wrong password!' })
    await expectDocumented('post', '/token', await t.app.request('/token', wrong))
    await expectDocumented('post', '/token', await t.app.request('/token', json({})))
  })

  it.each(['post', 'get'])('%s /validate: 200 and both kinds of 401', async (method) => {
    await t.register({ name: 'Val', username: `val_${method}`, password })
    const login = await t.app.request('/token', form({ username: `val_${method}`, password }))
    const { access_token } = (await login.json()) as { access_token: string }
    const call = (authorization?: string) =>
      t.app.request('/validate', {
        method: method.toUpperCase(),
        headers: authorization ? { authorization } : {},
      })
    const ok = await call(`Bearer ${access_token}`)
    expect(ok.status).toBe(200)
    await expectDocumented(method, '/validate', ok)
    await expectDocumented(method, '/validate', await call())
    const expired = forgeJwt({ alg: 'HS256' }, { sub: 'x', exp: 1 }, TEST_SECRET)
    await expectDocumented(method, '/validate', await call(`Bearer ${expired}`))
  })

  it('the admin API: 200, 401, 403, 404, 415, 422', async () => {
    const key = newAdminKey()
    const admin = await makeTestApp({
      admin: { keys: [{ name: 'doc', sha256: await adminKeyHash(key) }] },
    })
    try {
      const registered = await admin.register({ name: 'Adm', username: 'adm_doc', password })
      const { id } = (await registered.json()) as { id: number }
      const login = await admin.login({ username: 'adm_doc', password })
      const { access_token } = (await login.json()) as { access_token: string }
      const call = (method: string, path: string, body?: string, authorization = `Bearer ${key}`) =>
        admin.app.request(path, {
          method: method.toUpperCase(),
          headers: { authorization, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body }),
        })
      const cases: [string, string, string, number, string?, string?][] = [
        ['get', '/admin/users', '/admin/users?limit=1', 200],
        ['get', '/admin/users', '/admin/users?limit=0', 422],
        ['get', '/admin/users', '/admin/users', 401, undefined, 'Bearer nope'],
        ['get', '/admin/users', '/admin/users', 403, undefined, `Bearer ${access_token}`],
        ['get', '/admin/users/{id}', `/admin/users/${id}`, 200],
        ['get', '/admin/users/{id}', '/admin/users/999999', 404],
        ['post', '/admin/users/{id}/ban', `/admin/users/${id}/ban`, 200, '{"reason":"doc"}'],
        ['post', '/admin/users/{id}/ban', `/admin/users/${id}/ban`, 422, '{}'],
        ['delete', '/admin/users/{id}/ban', `/admin/users/${id}/ban`, 200],
        ['delete', '/admin/users/{id}/sessions', '/admin/users/x/sessions', 422],
        ['delete', '/admin/users/{id}/mfa', `/admin/users/${id}/mfa`, 200],
        ['delete', '/admin/users/{id}/mfa', '/admin/users/999999/mfa', 404],
        ['delete', '/admin/users/{id}/mfa', '/admin/users/1e0/mfa', 422],
        ['put', '/admin/users/{id}/password', `/admin/users/${id}/password`, 422, '{}'],
        ['delete', '/admin/users/{id}', '/admin/users/999999', 404],
      ]
      for (const [method, documented, path, status, body, authorization] of cases) {
        const res = await call(method, path, body, authorization)
        expect(res.status, `${method} ${path}`).toBe(status)
        await expectDocumented(method, documented, res)
      }
      const text = await admin.app.request(`/admin/users/${id}/ban`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'text/plain' },
        body: 'x',
      })
      expect(text.status).toBe(415)
      await expectDocumented('post', '/admin/users/{id}/ban', text)
    } finally {
      await admin.close()
    }
  })
})

describe('documented request bodies are taken by their routes', () => {
  it('POST /me/mfa/totp: the body /docs fills in (the current password) starts an enrolment; no example is a 422', async () => {
    const password = 'correct horse battery staple'
    const media = doc.paths['/me/mfa/totp']?.post?.requestBody?.content['application/json'] as {
      examples?: Record<string, { value: unknown }>
    }
    const examples = Object.values(media.examples ?? {}).map((example) => example.value)
    expect(examples[0]).toEqual({ current_password: password })
    for (const [i, example] of examples.entries()) {
      await t.register({ name: 'Ex', username: `enrol_example_${i}`, password })
      const login = await t.login({ username: `enrol_example_${i}`, password })
      const { access_token } = (await login.json()) as { access_token: string }
      const res = await t.bearer('POST', '/me/mfa/totp', access_token, example)
      // TOTP is off: the password is what counts, and the example's is the account's.
      expect(res.status, JSON.stringify(example)).toBe(200)
    }
  })
})

/**
 * The examples of error answers in the document come from the functions that make the answers
 * (src/http/answers.ts): what a client reads in /docs is what it gets.
 */
describe('documented error examples are the bodies the routes answer', () => {
  const password = 'correct horse battery staple'
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })

  /** Asserts that the body of `res` is one of the examples documented for its status, and returns them. */
  async function expectExample(method: string, path: string, res: Response, status: number) {
    expect(res.status, `${method.toUpperCase()} ${path}`).toBe(status)
    const media =
      doc.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json']
    const examples = Object.values(media?.examples ?? {}).map((example) => example.value)
    expect(
      examples.length,
      `${method.toUpperCase()} ${path} ${status} has examples`,
    ).toBeGreaterThan(0)
    expect(examples).toContainEqual(await res.json())
    return doc.paths[path]?.[method]?.responses[String(status)]?.headers as
      | Record<string, { schema: { example?: string } }>
      | undefined
  }

  it.each(['post', 'get'])(
    '%s /validate: 401 without a token and with a bad one',
    async (method) => {
      const call = (headers: Record<string, string>) =>
        t.app.request('/validate', { method: method.toUpperCase(), headers })
      await expectExample(method, '/validate', await call({}), 401)
      const expired = forgeJwt({ alg: 'HS256' }, { sub: 'x', exp: 1 }, TEST_SECRET)
      await expectExample(
        method,
        '/validate',
        await call({ authorization: `Bearer ${expired}` }),
        401,
      )
    },
  )

  it('/validate: 503 when the revocation status cannot be read', async () => {
    const down = await makeTestApp({ sessions: { revocationCacheSeconds: 0 } })
    try {
      await down.register({ name: 'Down', username: 'down_doc', password })
      const login = await down.app.request('/token', form({ username: 'down_doc', password }))
      const { access_token } = (await login.json()) as { access_token: string }
      await down.closeDatabase()
      for (const method of ['post', 'get']) {
        const res = await down.app.request('/validate', {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${access_token}` },
        })
        await expectExample(method, '/validate', res, 503)
      }
    } finally {
      await down.close().catch(() => undefined)
    }
  })

  it('POST /token: 400 and 401, with the documented challenge', async () => {
    await t.register({ name: 'Ex', username: 'token_examples', password })
    await expectExample('post', '/token', await t.app.request('/token', form({})), 400)
    const wrong = await t.app.request(
      '/token',
      form({ username: 'token_examples', password: 'wrong password!' }),
    )
    const challenge = wrong.headers.get('www-authenticate')
    const headers = await expectExample('post', '/token', wrong, 401)
    expect(headers?.['WWW-Authenticate']?.schema.example).toBe(challenge)
  })

  it('POST /token: 429 once the account is blocked', async () => {
    const throttle = {
      ...DEFAULT_SECURITY.throttle,
      loginAccount: { max: 1, windowSeconds: 60, lockoutSeconds: 60 },
    }
    const strict = await makeTestApp({ security: { throttle } })
    try {
      await strict.register({ name: 'Lock', username: 'lock_doc', password })
      const wrong = () =>
        strict.app.request('/token', form({ username: 'lock_doc', password: 'wrong password!' }))
      expect((await wrong()).status).toBe(401)
      const refused = await wrong()
      const headers = await expectExample('post', '/token', refused, 429)
      expect(Object.keys(headers ?? {})).toContain('Retry-After')
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
    } finally {
      await strict.close()
    }
  })

  it('POST /register: 409 for a taken name and for a look-alike', async () => {
    const register = (username: string) => t.register({ name: 'Ex', username, password })
    expect((await register('example_doc')).status).toBe(201)
    await expectExample('post', '/register', await register('Example_Doc'), 409)
    await expectExample('post', '/register', await register('examp1e_doc'), 409)
  })

  it('every operation that reads a body documents 413 and 415, and answers 413 as documented', async () => {
    const key = newAdminKey()
    const app = await makeTestApp({
      admin: { keys: [{ name: 'doc', sha256: await adminKeyHash(key) }] },
    })
    try {
      const registered = await app.register({ name: 'Big', username: 'big_body', password })
      const { id } = (await registered.json()) as { id: number }
      const login = await app.login({ username: 'big_body', password })
      const { access_token } = (await login.json()) as { access_token: string }
      const big = 'x'.repeat(DEFAULT_SECURITY.bodyLimitBytes + 1)
      let called = 0
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (!METHODS.includes(method) || operation.requestBody === undefined) continue
          const name = `${method.toUpperCase()} ${path}`
          expect(operation.responses['413'], `${name} documents 413`).toBeDefined()
          expect(operation.responses['415'], `${name} documents 415`).toBeDefined()
          // A configured client is the first thing it checks (test/contract/local-verification.ts).
          if (path === '/introspect') continue
          const isForm = 'application/x-www-form-urlencoded' in operation.requestBody.content
          const res = await app.app.request(path.replace('{id}', String(id)), {
            method: method.toUpperCase(),
            headers: {
              authorization: `Bearer ${path.startsWith('/admin/') ? key : access_token}`,
              'content-type': isForm ? 'application/x-www-form-urlencoded' : 'application/json',
            },
            body: isForm ? `field=${big}` : JSON.stringify({ field: big }),
          })
          await expectExample(method, path, res, 413)
          called++
        }
      }
      expect(called).toBeGreaterThan(10)
    } finally {
      await app.close()
    }
  })

  it('account endpoints: 401 without a token, 403 for a wrong current password', async () => {
    await expectExample('get', '/me', await t.app.request('/me'), 401)
    await t.register({ name: 'Ex', username: 'me_examples', password })
    const login = await t.app.request('/token', form({ username: 'me_examples', password }))
    const { access_token } = (await login.json()) as { access_token: string }
    const wrong = await t.bearer('DELETE', '/me', access_token, {
      current_password: 'wrong password!',
    })
    await expectExample('delete', '/me', wrong, 403)
  })
})
