/**
 * How HTTP-level tests reach the service: a path and a `RequestInit`, a `Response` back. The
 * in-process version calls `app.request`; a contract suite can pass one that `fetch`es a real
 * server (`(path, init) => fetch(new URL(path, base), init)`), and the same tests run unchanged.
 */
export type Http = (path: string, init?: RequestInit) => Promise<Response>

/** An {@link Http} over a Hono app's `request`, no server. */
export const inProcess =
  (app: { request(path: string, init?: RequestInit): Response | Promise<Response> }): Http =>
  async (path, init) =>
    app.request(path, init)

/** An {@link Http} over a real server at `base`. */
export const overNetwork =
  (base: string): Http =>
  (path, init) =>
    fetch(new URL(path, base), init)
