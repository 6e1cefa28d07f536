import { describe, expect, it } from 'vitest'
import type { TargetRef } from './target'

/** `GET /openapi.json` and the self-hosted Swagger UI at `/docs`, served by every runtime. */
export function docsContract(target: TargetRef): void {
  describe('API documentation', () => {
    it('GET /openapi.json: an OpenAPI 3.1 document listing every route', async () => {
      const res = await target().fetch('/openapi.json')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const document = (await res.json()) as { openapi: string; paths: Record<string, object> }
      expect(document.openapi).toMatch(/^3\.1\./)
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining([
          '/register',
          '/token',
          '/validate',
          '/introspect',
          '/.well-known/jwks.json',
          '/.well-known/oauth-authorization-server',
          '/.well-known/openid-configuration',
        ]),
      )
    })

    it('GET /docs: the Swagger UI page, restricted to this origin by its CSP', async () => {
      const res = await target().fetch('/docs')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
      expect(await res.text()).toContain('swagger-ui-bundle.js')
    })

    it('serves the Swagger UI bundle itself, cached with an ETag (304 on revalidation)', async () => {
      const res = await target().fetch('/docs/swagger-ui-bundle.js')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/javascript/)
      expect((await res.text()).length).toBeGreaterThan(100_000)
      const etag = res.headers.get('etag')
      expect(etag).toBeTruthy()
      const again = await target().fetch('/docs/swagger-ui-bundle.js', {
        headers: { 'if-none-match': etag ?? '' },
      })
      expect(again.status).toBe(304)
    })
  })
}
