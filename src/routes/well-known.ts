import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { encodeBase64Url } from 'hono/utils/encode'
import type { PublicJwk } from '../auth/keys'
import { MFA_OTP_GRANT } from '../auth/mfa'
import { documented, notFound } from '../http/answers'
import { createRouter } from '../http/router'
import { jsonContent } from '../http/schemas'
import type { AppServices } from '../types'

const JwkSchema = z
  .object({
    kty: z.enum(['OKP', 'EC']),
    crv: z.enum(['Ed25519', 'P-256']),
    x: z.string(),
    y: z.string().optional(),
    kid: z.string().openapi({ description: 'RFC 7638 thumbprint (SHA-256) of the key' }),
    alg: z.enum(['EdDSA', 'ES256']),
    use: z.literal('sig'),
  })
  .openapi('PublicJwk')

const JwksSchema = z.object({ keys: z.array(JwkSchema) }).openapi('JwkSet')

const MetadataSchema = z
  .object({
    issuer: z.string(),
    token_endpoint: z.string(),
    jwks_uri: z.string(),
    revocation_endpoint: z.string(),
    introspection_endpoint: z.string().optional(),
    grant_types_supported: z.array(z.string()),
    response_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
    introspection_endpoint_auth_methods_supported: z.array(z.string()).optional(),
  })
  .openapi('AuthorizationServerMetadata')

const cached = {
  'Cache-Control': z.string().openapi({ example: 'public, max-age=300' }),
  ETag: z.string().openapi({ example: '"3q2-7w"' }),
}

const jwksRoute = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  tags: ['keys'],
  summary: 'The public keys that verify access tokens (JWK Set, RFC 7517)',
  description:
    'Every key a token may name in its `kid`: the signing key first, then those of JWT_PUBLIC_KEYS (the next key and previous ones). Never a private member, never an HMAC secret: with ALGORITHM=HS256 alone the set is empty. Cacheable for JWKS_CACHE_SECONDS; `If-None-Match` with the ETag answers 304.',
  responses: {
    200: { ...jsonContent(JwksSchema, 'The key set'), headers: z.object(cached) },
    304: { description: 'The key set has not changed', headers: z.object(cached) },
  },
})

const metadataDescription =
  'What gateways and OAuth libraries discover: the issuer (JWT_ISSUER), the endpoints and the key set. Only what the service does is listed: the password and refresh_token grants at the token endpoint, no authorization endpoint, no ID tokens. 404 unless JWT_ISSUER is an http(s) URL.'

const metadataResponses = {
  200: { ...jsonContent(MetadataSchema, 'The metadata'), headers: z.object(cached) },
  304: { description: 'The metadata has not changed', headers: z.object(cached) },
  404: documented('JWT_ISSUER is not an http(s) URL', notFound()),
}

const oauthRoute = createRoute({
  method: 'get',
  path: '/.well-known/oauth-authorization-server',
  tags: ['keys'],
  summary: 'Authorization server metadata (RFC 8414)',
  description: metadataDescription,
  responses: metadataResponses,
})

const openidRoute = createRoute({
  method: 'get',
  path: '/.well-known/openid-configuration',
  tags: ['keys'],
  summary: 'The same metadata where OpenID discovery looks for it',
  description: `${metadataDescription} Gateway plugins that read OpenID discovery only need \`issuer\` and \`jwks_uri\`; the service is not an OpenID provider and claims none of its features.`,
  responses: metadataResponses,
})

/** A body served with its ETag, computed once per process (keys and settings do not change while it runs). */
interface Cacheable<T> {
  value: T
  etag: string
}

async function cacheable<T>(value: T): Promise<Cacheable<T>> {
  const body = new TextEncoder().encode(JSON.stringify(value))
  const digest = await crypto.subtle.digest('SHA-256', body)
  return { value, etag: `"${encodeBase64Url(digest.slice(0, 16)).replace(/=+$/, '')}"` }
}

/** Whether an `If-None-Match` header (RFC 9110 §13.1.2, weak comparison) matches the ETag. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag)
}

function serve<T extends object>(c: Context, { value, etag }: Cacheable<T>, maxAge: number) {
  const headers = { 'Cache-Control': `public, max-age=${maxAge}`, ETag: etag }
  if (matches(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers)
  return c.json(value, 200, headers)
}

/**
 * `GET /.well-known/jwks.json` (the public keys), and the metadata at
 * `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
 */
export function wellKnownRoutes(deps: AppServices) {
  const { issuer, jwksCacheSeconds, introspectionClients } = deps.oauth
  let jwks: Promise<Cacheable<{ keys: PublicJwk[] }>> | undefined
  let metadata: Promise<Cacheable<z.infer<typeof MetadataSchema>>> | undefined
  const base = issuer?.replace(/\/+$/, '')
  const describe = () => {
    if (issuer === undefined || base === undefined) throw notFound()
    const introspection = introspectionClients.length > 0
    metadata ??= cacheable({
      issuer,
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      revocation_endpoint: `${base}/revoke`,
      ...(introspection ? { introspection_endpoint: `${base}/introspect` } : {}),
      grant_types_supported: [
        'password',
        'refresh_token',
        ...(deps.mfa.enabled ? [MFA_OTP_GRANT] : []),
      ],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      ...(introspection
        ? { introspection_endpoint_auth_methods_supported: ['client_secret_basic'] }
        : {}),
    })
    return metadata
  }
  return createRouter()
    .openapi(jwksRoute, async (c) => {
      jwks ??= deps.tokens.publicKeys().then((keys) => cacheable({ keys: [...keys] }))
      return serve(c, await jwks, jwksCacheSeconds)
    })
    .openapi(oauthRoute, async (c) => serve(c, await describe(), jwksCacheSeconds))
    .openapi(openidRoute, async (c) => serve(c, await describe(), jwksCacheSeconds))
}
