/**
 * Hardening that needs the inside or other settings than the contract servers': that a streamed
 * body is no longer read once over the limit, CORS with CORS_ORIGINS set, and the request deadline
 * (REQUEST_TIMEOUT_MS). The limits, headers, 405s, CORS closed by default and the health checks are
 * in the HTTP contract suite (test/contract/hardening.ts), on every runtime and driver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_SECURITY } from '../src/config'
import { makeTestApp, type TestApp } from './support/app'
import { type Http, inProcess } from './support/http'

async function expectDetail(res: Response, status: number, detail?: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  const body = await res.json()
  expect(body).toEqual({ detail: detail ?? expect.any(String) })
}

describe('a streamed body without Content-Length', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp()
  })
  afterAll(() => t.close())

  it('stops being read at the limit: 413, and the rest is never pulled', async () => {
    const chunkSize = 1024
    const chunks = 64
    expect(chunks * chunkSize).toBeGreaterThan(DEFAULT_SECURITY.bodyLimitBytes * 2)
    const chunk = new TextEncoder().encode('x'.repeat(chunkSize))
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < chunks) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const res = await inProcess(t.app)('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    await expectDetail(res, 413)
    expect(sent).toBeLessThan(chunks)
  })
})

describe('CORS with CORS_ORIGINS set', () => {
  let cors: TestApp
  let corsHttp: Http
  beforeAll(async () => {
    cors = await makeTestApp({ security: { corsOrigins: ['https://app.example.com'] } })
    corsHttp = inProcess(cors.app)
  })
  afterAll(() => cors.close())

  it('allows a listed origin, and says Vary: Origin', async () => {
    const res = await corsHttp('/healthz', { headers: { origin: 'https://app.example.com' } })
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(res.headers.get('vary')).toMatch(/origin/i)
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
  })

  it('does not allow another origin', async () => {
    const res = await corsHttp('/healthz', { headers: { origin: 'https://evil.example' } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('answers a preflight from a listed origin', async () => {
    const res = await corsHttp('/token', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(res.headers.get('access-control-allow-methods')).toContain('POST')
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type')
  })
})

describe('a body that never finishes arriving (REQUEST_TIMEOUT_MS=300)', () => {
  let slow: TestApp
  beforeAll(async () => {
    slow = await makeTestApp({ security: { requestTimeoutMs: 300 } })
  })
  afterAll(() => slow.close())

  it('is answered 503 at the deadline instead of holding the request open', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"name": "Slow'))
      },
    })
    const res = await inProcess(slow.app)('/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    await expectDetail(res, 503, 'Service temporarily unavailable')
  })
})
