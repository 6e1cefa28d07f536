/**
 * /docs serves Swagger UI from the service itself, byte for byte the installed swagger-ui-dist,
 * on every runtime: in-process (vitest runs on Node), a real Node server, a real Bun server, and
 * workerd (a Worker bundled by wrangler's esbuild, which proves no file-system read is needed).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import { type ServerType, serve } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestApp, type TestApp } from './support/app'
import { type BunServer, startBunServer, stopProcess } from './support/bun-server'

const require = createRequire(import.meta.url)
const dist = (file: string) => readFileSync(require.resolve(`swagger-ui-dist/${file}`), 'utf8')
const ROOT = resolve(import.meta.dirname, '..')

type Fetch = (path: string, init?: RequestInit) => Promise<Response>

/** The same checks, whatever serves the app. */
function describeDocs(
  runtime: string,
  setup: () => Promise<{ fetch: Fetch; close(): Promise<void> }>,
) {
  describe(`/docs on ${runtime}`, () => {
    let fetchPath: Fetch
    let close: () => Promise<void>
    beforeAll(async () => {
      ;({ fetch: fetchPath, close } = await setup())
    })
    afterAll(() => close?.())

    it('serves the page, which loads only same-origin assets, under a strict CSP', async () => {
      const res = await fetchPath('/docs')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      const csp = res.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("connect-src 'self'")
      const html = await res.text()
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])
      expect(refs).toEqual([
        'data:,',
        '/docs/swagger-ui.css',
        '/docs/swagger-ui-bundle.js',
        '/docs/swagger-initializer.js',
      ])
      expect(html).not.toMatch(/<script>/)
    })

    it.each([
      ['swagger-ui-bundle.js', 'text/javascript'],
      ['swagger-ui.css', 'text/css'],
      ['swagger-ui-bundle.js.LICENSE.txt', 'text/plain'],
    ])('serves %s exactly as swagger-ui-dist ships it', async (file, type) => {
      const res = await fetchPath(`/docs/${file}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toContain(type)
      expect(res.headers.get('cache-control')).toBe('public, max-age=86400')
      expect(await res.text()).toBe(dist(file))
    })

    it('answers a matching If-None-Match with 304 and no body', async () => {
      const first = await fetchPath('/docs/swagger-ui-bundle.js')
      const tag = first.headers.get('etag')
      await first.body?.cancel()
      expect(tag).toMatch(/^"[\w-]+"$/)
      const again = await fetchPath('/docs/swagger-ui-bundle.js', {
        headers: { 'if-none-match': tag ?? '' },
      })
      expect(again.status).toBe(304)
      expect(await again.text()).toBe('')
    })

    it('points Swagger UI at /openapi.json, which is served', async () => {
      const init = await (await fetchPath('/docs/swagger-initializer.js')).text()
      expect(init).toContain("url: '/openapi.json'")
      expect(init).toContain('validatorUrl: null')
      const doc = await fetchPath('/openapi.json')
      expect(doc.status).toBe(200)
      expect(((await doc.json()) as { openapi: string }).openapi).toBe('3.1.0')
    })
  })
}

describeDocs('app.request (in process)', async () => {
  const t: TestApp = await makeTestApp()
  return { fetch: (path, init) => Promise.resolve(t.app.request(path, init)), close: t.close }
})

describeDocs('Node (@hono/node-server)', async () => {
  const t = await makeTestApp()
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((done) => {
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      done({ server, port: info.port }),
    )
  })
  return {
    fetch: (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init),
    close: async () => {
      await new Promise((done) => server.close(done))
      await t.close()
    },
  }
})

describeDocs('Bun (src/entry/bun.ts)', async () => {
  const server: BunServer = await startBunServer()
  return { fetch: (path, init) => fetch(`${server.url}${path}`, init), close: server.stop }
})

describeDocs('workerd (wrangler dev, test/fixtures/docs-worker.ts)', async () => {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [
      resolve(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--config=test/fixtures/docs-worker.wrangler.toml',
      '--ip=127.0.0.1',
      `--port=${port}`,
      '--show-interactive-dev-session=false',
    ],
    { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } },
  )
  await waitForOutput(child, /Ready on http/, 60_000)
  return {
    fetch: (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init),
    close: () => stopProcess(child),
  }
})

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

function waitForOutput(child: ChildProcess, pattern: RegExp, ms: number): Promise<void> {
  let output = ''
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ${pattern} within ${ms} ms:\n${output}`)), ms)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (pattern.test(output)) {
        clearTimeout(timer)
        done()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => fail(new Error(`exited (${code}):\n${output}`)))
  })
}
