import { describe, expect, it } from 'vitest'
import { PASSWORD, type TargetRef, uniqueName } from './target'

/** `BODY_LIMIT_BYTES` of the contract servers (the default). */
const BODY_LIMIT = 8192

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
})
const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
})

async function expectDetail(res: Response, status: number, detail?: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  expect(await res.json()).toEqual({ detail: detail ?? expect.any(String) })
}

/**
 * What every endpoint shares: body limit (413), content types (415), methods (405 + Allow),
 * JSON 404s, security headers, no-store, request ids, CORS closed by default, and the health
 * checks. CORS with origins configured and the request deadline are tested in process
 * (test/http-hardening.test.ts), since they need other settings.
 */
export function hardeningContract(target: TargetRef): void {
  const http = (path: string, init?: RequestInit) => target().fetch(path, init)

  describe('body size limit (8 KiB)', () => {
    const big = 'x'.repeat(BODY_LIMIT)

    it('a JSON body over the limit -> 413 JSON, nothing created', async () => {
      const username = uniqueName('big')
      const res = await http('/register', json({ name: big, username, password: PASSWORD }))
      await expectDetail(res, 413, 'Request body too large')
      expect((await http('/token', form({ username, password: PASSWORD }))).status).toBe(401)
    })

    it('a form over the limit -> 413', async () => {
      await expectDetail(await http('/token', form({ username: 'a', password: big })), 413)
    })

    it('a streamed body without Content-Length over the limit -> 413', async () => {
      // 12 KiB, over the 8 KiB limit, handed over as one chunk: the client has written all of it
      // (it fits the socket's buffer) before the server answers and closes, so the client reads
      // the 413 instead of failing a later write with EPIPE, as it did in pieces of 1 KiB.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('x'.repeat(12 * 1024)))
          controller.close()
        },
      })
      const res = await http('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit)
      await expectDetail(res, 413)
    })

    it('a body just under the limit is parsed as usual', async () => {
      const res = await http(
        '/register',
        json({ name: 'x'.repeat(7000), username: 'ok', password: PASSWORD }),
      )
      expect(res.status).toBe(422)
    })
  })

  describe('content types, methods and paths', () => {
    it('a wrong content type -> 415 JSON', async () => {
      await expectDetail(await http('/token', json({ username: 'a', password: PASSWORD })), 415)
      await expectDetail(
        await http('/register', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{}',
        }),
        415,
      )
    })

    it.each([
      ['GET', '/register', 'POST'],
      ['GET', '/token', 'POST'],
      ['PUT', '/register', 'POST'],
      ['DELETE', '/me/password', 'PUT'],
      ['GET', '/logout', 'POST'],
      ['PATCH', '/token', 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['DELETE', '/readyz', 'GET, HEAD'],
    ])('%s %s -> 405 {"detail": "Method Not Allowed"}, Allow: %s', async (method, path, allow) => {
      const res = await http(path, { method })
      await expectDetail(res, 405, 'Method Not Allowed')
      expect(res.headers.get('allow')).toBe(allow)
    })

    it('OPTIONS is a 405 too while CORS is closed', async () => {
      const res = await http('/token', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
      })
      await expectDetail(res, 405)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
    })

    it('an unknown path is a JSON 404, whatever the method', async () => {
      await expectDetail(await http('/nope'), 404, 'Not Found')
      await expectDetail(await http('/admin', { method: 'DELETE' }), 404, 'Not Found')
    })
  })

  describe('response headers', () => {
    it('carries the JSON API security headers and no server banner, on success and on error', async () => {
      const responses = [
        await http('/healthz'),
        await http('/nope'),
        await http('/token', form({})),
        await http('/token', { method: 'GET' }),
        await http('/token', form({ username: 'a', password: 'x'.repeat(10_000) })),
      ]
      expect(responses.map((r) => r.status)).toEqual([200, 404, 400, 405, 413])
      for (const res of responses) {
        expect(res.headers.get('x-content-type-options')).toBe('nosniff')
        expect(res.headers.get('x-frame-options')).toBe('DENY')
        expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/)
        expect(res.headers.get('referrer-policy')).toBe('no-referrer')
        expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin')
        expect(res.headers.get('server')).toBeNull()
        expect(res.headers.get('x-powered-by')).toBeNull()
        for (const pageOnly of ['x-xss-protection', 'x-download-options', 'origin-agent-cluster']) {
          expect(res.headers.get(pageOnly)).toBeNull()
        }
      }
    })

    it('sends Cache-Control: no-store with every token, and with every other answer', async () => {
      const username = uniqueName('nostore')
      await http('/register', json({ name: 'N', username, password: PASSWORD }))
      const login = await http('/token', form({ username, password: PASSWORD }))
      expect(login.status).toBe(200)
      expect(login.headers.get('cache-control')).toBe('no-store')
      const { access_token } = await login.json()
      const validated = await http('/validate', {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}` },
      })
      expect(validated.status).toBe(200)
      for (const res of [validated, await http('/healthz'), await http('/token', form({}))]) {
        expect(res.headers.get('cache-control')).toBe('no-store')
      }
    })

    it('echoes a well-formed X-Request-Id, and makes one otherwise', async () => {
      const given = await http('/healthz', { headers: { 'x-request-id': 'trace-abc_123' } })
      expect(given.headers.get('x-request-id')).toBe('trace-abc_123')
      const made = await http('/nope')
      expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      const refused = await http('/healthz', { headers: { 'x-request-id': 'bad id <script>' } })
      expect(refused.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    })

    it('answers no cross-origin request while CORS_ORIGINS is unset', async () => {
      const res = await http('/healthz', { headers: { origin: 'https://app.example.com' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
    })
  })

  describe('health', () => {
    it('GET /healthz -> 200 {"status": "ok"}', async () => {
      const res = await http('/healthz')
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ status: 'ok' })
    })

    it('GET /readyz -> 200 {"status": "ok"} while the database answers', async () => {
      const res = await http('/readyz')
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ status: 'ok' })
    })

    it('HEAD /healthz -> 200 without a body', async () => {
      const res = await http('/healthz', { method: 'HEAD' })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('')
    })
  })
}
