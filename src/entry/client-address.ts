import { getConnInfo } from '@hono/node-server/conninfo'
import type { ClientAddressFn } from '../middleware/client-address'

/** The socket peer's address under `@hono/node-server` (Node). */
export const nodeClientAddress: ClientAddressFn = (c) => getConnInfo(c).remote.address

/**
 * The socket peer's address under `Bun.serve`. The server is looked up per request because the
 * app is built before the server that serves it; a request the entry point re-addressed (see
 * `atForwardAuth`) is looked up by the request the server received.
 */
export const bunClientAddress =
  (
    server: () => Pick<Bun.Server<undefined>, 'requestIP'> | undefined,
    originals?: WeakMap<Request, Request>,
  ): ClientAddressFn =>
  (c) =>
    server()?.requestIP(originals?.get(c.req.raw) ?? c.req.raw)?.address
