import { bunClientAddress } from './client-address'
import { atForwardAuth, underForwardAuthPrefix } from './forward-auth'
import { startService } from './server'

let server: Bun.Server<undefined> | undefined
/** Requests re-addressed to the forward-auth check, and the originals the server knows the peer of. */
const originals = new WeakMap<Request, Request>()
const service = await startService(process.env, {
  clientAddress: bunClientAddress(() => server, originals),
})
const fetch = (request: Request, bun: Bun.Server<undefined>) => service.app.fetch(request, bun)
const forwardAuth = (request: Request, bun: Bun.Server<undefined>) => {
  const addressed = atForwardAuth(request)
  if (addressed !== request) originals.set(addressed, request)
  return fetch(addressed, bun)
}
const bySegment = (
  request: Bun.BunRequest<'/:segment'>,
  bun: Bun.Server<undefined>,
): Response | Promise<Response> =>
  underForwardAuthPrefix(`/${request.params.segment}`)
    ? forwardAuth(request, bun)
    : fetch(request, bun)

// Bun.serve hands the app a URL whose dot segments are resolved, but matches `routes` on the raw
// target: `/validate/*` catches `/validate/../x`, and the first raw segment (percent-decoded) of
// any other target shows `/validate\..\x` and `/validate%2f..`. See src/entry/forward-auth.ts.
server = Bun.serve({
  port: service.config.port,
  routes: {
    '/validate': fetch,
    '/validate/*': forwardAuth,
    '/:segment': bySegment,
    '/:segment/*': bySegment,
  },
  fetch,
})
console.log(`Listening on http://localhost:${server.port}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    await server.stop()
    await service.close()
    process.exit(0)
  })
}
