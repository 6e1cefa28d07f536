import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { nodeClientAddress } from './client-address'
import { forwardAuthRewrite } from './forward-auth'
import { startService } from './server'

/** How often Node looks for connections past `headersTimeout` (its default is every 30 s). */
const CONNECTIONS_CHECKING_INTERVAL_MS = 500

const service = await startService(process.env, { clientAddress: nodeClientAddress })
const { headersTimeoutMs, keepAliveTimeoutMs, maxConnections } = service.config.server
const listener = getRequestListener(service.app.fetch)
const { answerKnownToken } = service.app
/**
 * Whether a request has at most one `Authorization` header. Node keeps only the first of several
 * in `incoming.headers`; the app's view (Fetch headers) joins them, which no bearer check accepts.
 */
function oneAuthorization(rawHeaders: string[]): boolean {
  let seen = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (seen) return false
      seen = true
    }
  }
  return true
}

const server = createServer(
  {
    headersTimeout: headersTimeoutMs,
    // the whole request (head and body); the app's own deadline then bounds the answer
    requestTimeout: headersTimeoutMs + service.config.security.requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(CONNECTIONS_CHECKING_INTERVAL_MS, headersTimeoutMs),
  },
  (incoming, outgoing) => {
    if (
      answerKnownToken !== undefined &&
      incoming.url === '/validate' &&
      oneAuthorization(incoming.rawHeaders)
    ) {
      // A cached token's check, answered from the socket's request: no Request, no Response.
      const { headers } = incoming
      const known = answerKnownToken(
        incoming.method ?? '',
        headers.authorization,
        headers['x-request-id'] as string | undefined,
        headers.origin !== undefined,
      )
      if (known !== undefined) {
        const { answer } = known
        outgoing.writeHead(200, {
          ...answer.headers,
          'content-length': answer.bodyBytes,
          'x-request-id': known.requestId,
        })
        outgoing.end(answer.body)
        return
      }
    }
    // `incoming.url` is the raw target; the adapter resolves its dot segments when it builds the
    // Request, so the forward-auth decision is made here (see src/entry/forward-auth.ts).
    const rewritten = forwardAuthRewrite(incoming.url ?? '')
    if (rewritten !== undefined) incoming.url = rewritten
    return listener(incoming, outgoing)
  },
)
server.maxConnections = maxConnections
server.listen(service.config.port, () => {
  console.log(`Listening on http://localhost:${(server.address() as AddressInfo).port}`)
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close(async () => {
      await service.close()
      process.exit(0)
    })
  })
}
