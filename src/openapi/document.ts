import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Env } from 'hono'
import pkg from '../../package.json' with { type: 'json' }
import { swaggerUiRoutes } from './swagger-ui'

/** Where the OpenAPI document is served. */
export const OPENAPI_PATH = '/openapi.json'

/** The OpenAPI 3.1 document, as `getOpenAPI31Document` builds it. */
export type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>

const DESCRIPTION = `Registers users, logs them in with the OAuth2 password grant and validates the JWT access
tokens it issues. Gateways call \`GET /validate\` as a forward-auth check (nginx \`auth_request\`,
Traefik ForwardAuth, Envoy \`ext_authz\`).

To try the protected endpoints here: register with \`POST /register\`, then press **Authorize** and
log in through the OAuth2 password flow (client id and secret stay empty).

Two-factor login: enrol with \`POST /me/mfa/totp\` and your current password (body
\`{"current_password": "..."}\`), add the \`otpauth_uri\` or the
\`secret\` to an authenticator app, and confirm with a code at \`POST /me/mfa/totp/confirm\` (keep the
recovery codes). From then on the Authorize dialog's password flow answers \`403 mfa_required\`: call
\`POST /token\` here with the username and password to get the \`mfa_token\`, then again with
\`grant_type=urn:edge-auth:params:oauth:grant-type:mfa-otp\`, the \`mfa_token\` and \`otp\`, and paste
the \`access_token\` into the Authorize dialog's \`bearer\` field.`

function registerSecuritySchemes<E extends Env>(app: OpenAPIHono<E>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token from `POST /token`, sent as `Authorization: Bearer <token>`.',
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'oauth2', {
    type: 'oauth2',
    description:
      'The OAuth2 password grant (RFC 6749 §4.3) at `POST /token`, for first-party clients.',
    flows: { password: { tokenUrl: '/token', scopes: {} } },
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminKey', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'admin API key',
    description:
      'An admin API key (`eak_...`) whose SHA-256 is listed in ADMIN_API_KEYS, sent as `Authorization: Bearer <key>`. A user access token is refused (403).',
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'introspectionClient', {
    type: 'http',
    scheme: 'basic',
    description: 'A client id and secret of INTROSPECTION_CLIENTS, for `POST /introspect`.',
  })
}

/**
 * The app's OpenAPI 3.1 document, generated from the zod schemas its routes validate with. Routes
 * declare `security: [{ bearer: [] }]`; every such operation also lists the OAuth2 password flow,
 * which yields the same bearer token, so that Swagger UI's Authorize dialog applies to it.
 */
function buildOpenApiDocument<E extends Env>(app: OpenAPIHono<E>): OpenApiDocument {
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'edge-auth', version: pkg.version, description: DESCRIPTION },
    tags: [
      { name: 'accounts', description: 'Registration' },
      { name: 'tokens', description: 'Logging in and validating access tokens' },
      { name: 'mfa', description: 'Two-factor login: TOTP enrolment and recovery codes' },
      {
        name: 'admin',
        description:
          'Finding and managing accounts (bans, sessions, passwords, a lost second factor), for operators: off unless ADMIN_API_KEYS is set; every action is logged',
      },
    ],
  })
  for (const item of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(item) as { security?: Record<string, string[]>[] }[]) {
      if (operation.security?.some((requirement) => 'bearer' in requirement)) {
        operation.security = [...operation.security, { oauth2: [] }]
      }
    }
  }
  return document
}

/**
 * Serves the documentation: the OpenAPI document at `GET /openapi.json` (built on first request,
 * when every route is registered) and Swagger UI at `GET /docs`.
 */
export function mountApiDocs<E extends Env>(app: OpenAPIHono<E>): void {
  registerSecuritySchemes(app)
  let document: OpenApiDocument | undefined
  app.get(OPENAPI_PATH, (c) => {
    document ??= buildOpenApiDocument(app)
    return c.json(document)
  })
  app.route('/', swaggerUiRoutes())
}
