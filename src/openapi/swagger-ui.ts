import { Hono } from 'hono'
import { etag } from 'hono/etag'

/** Where Swagger UI is served. */
export const DOCS_PATH = '/docs'

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-auth API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/swagger-initializer.js"></script>
</body>
</html>
`

// validatorUrl: null keeps Swagger UI from sending the document to validator.swagger.io.
const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
})
`

/**
 * Everything the page may load: its own scripts and stylesheet, the document and the API on the
 * same origin, inline styles (Swagger UI sets style attributes) and data: images from its CSS.
 */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** swagger-ui-dist's files that /docs serves, with their content types. */
export const SWAGGER_UI_FILES: Readonly<Record<string, string>> = Object.freeze({
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js.LICENSE.txt': 'text/plain; charset=utf-8',
})

/** The headers of those files, whoever serves them (the app, or Workers Static Assets' `_headers`). */
export const SWAGGER_UI_ASSET_HEADERS = Object.freeze({
  'Cache-Control': 'public, max-age=86400',
  'X-Content-Type-Options': 'nosniff',
})

interface PackageFile {
  body: Uint8Array<ArrayBuffer>
  etag: string
}

const packageFiles = new Map<string, Promise<PackageFile | null>>()

/**
 * A swagger-ui-dist file read from the installed package, once per process, with a strong ETag
 * (SHA-256); null where there is no file system (Workers: Static Assets serve these files before
 * the Worker runs, see scripts/swagger-ui-assets.ts).
 */
function packageFile(file: string): Promise<PackageFile | null> {
  let pending = packageFiles.get(file)
  if (pending === undefined) {
    pending = readPackageFile(file)
    packageFiles.set(file, pending)
  }
  return pending
}

async function readPackageFile(file: string): Promise<PackageFile | null> {
  if (typeof process === 'undefined' || typeof process.getBuiltinModule !== 'function') return null
  const { createRequire } = process.getBuiltinModule('node:module')
  const { readFileSync } = process.getBuiltinModule('node:fs')
  const body = new Uint8Array(
    readFileSync(createRequire(import.meta.url).resolve(`swagger-ui-dist/${file}`)),
  )
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body))
  const base64url = btoa(String.fromCharCode(...digest))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
  return { body, etag: `"${base64url.slice(0, 27)}"` }
}

/**
 * `GET /docs`: Swagger UI on the service's own origin, so the page works offline, with no CDN; a
 * strict Content-Security-Policy keeps it on this origin. The page and its initializer come from
 * here; swagger-ui-dist's bundle and stylesheet come from the installed package on Bun and Node,
 * and from Workers Static Assets on Workers (kept out of the Worker's script).
 */
export function swaggerUiRoutes() {
  const app = new Hono()
    .use(`${DOCS_PATH}/*`, etag())
    .get(DOCS_PATH, (c) => {
      c.header('Content-Security-Policy', PAGE_CSP)
      c.header('Cross-Origin-Opener-Policy', 'same-origin')
      c.header('Cache-Control', 'no-cache')
      return c.html(PAGE)
    })
    .get(`${DOCS_PATH}/swagger-initializer.js`, (c) => {
      c.header('Cache-Control', 'no-cache')
      return c.body(INITIALIZER, 200, { 'Content-Type': 'text/javascript; charset=utf-8' })
    })
  for (const [file, type] of Object.entries(SWAGGER_UI_FILES)) {
    app.get(`${DOCS_PATH}/${file}`, async (c) => {
      const found = await packageFile(file)
      if (found === null) return c.notFound()
      return c.body(found.body, 200, {
        ...SWAGGER_UI_ASSET_HEADERS,
        'Content-Type': type,
        ETag: found.etag,
      })
    })
  }
  return app
}
