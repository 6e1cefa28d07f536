import { type Context, Hono } from 'hono'
import { etag } from 'hono/etag'
import { SWAGGER_UI_CSS, SWAGGER_UI_JS, SWAGGER_UI_LICENSE } from './swagger-ui-assets.gen'

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

const ASSET_CACHE = 'public, max-age=86400'

/**
 * `GET /docs`: Swagger UI on the service's own origin. The assets are compiled into the app (see
 * scripts/embed-swagger-ui.ts), so the page works offline and on every runtime, with no CDN and no
 * file-system access; a strict Content-Security-Policy keeps it on this origin.
 */
export function swaggerUiRoutes() {
  const asset = (body: string, type: string, tag: string) => (c: Context) =>
    c.body(body, 200, { 'Content-Type': type, 'Cache-Control': ASSET_CACHE, ETag: tag })
  return new Hono()
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
    .get(
      `${DOCS_PATH}/swagger-ui-bundle.js`,
      asset(SWAGGER_UI_JS.text, 'text/javascript; charset=utf-8', SWAGGER_UI_JS.etag),
    )
    .get(
      `${DOCS_PATH}/swagger-ui.css`,
      asset(SWAGGER_UI_CSS.text, 'text/css; charset=utf-8', SWAGGER_UI_CSS.etag),
    )
    .get(
      `${DOCS_PATH}/swagger-ui-bundle.js.LICENSE.txt`,
      asset(SWAGGER_UI_LICENSE.text, 'text/plain; charset=utf-8', SWAGGER_UI_LICENSE.etag),
    )
}
