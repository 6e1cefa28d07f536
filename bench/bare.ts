/**
 * The benchmark's yardsticks: a bare Hono app on the same runtime as the service, with no
 * middleware, answering
 * - `POST /validate` with a constant JSON body (no token check),
 * - `GET /.well-known/jwks.json` with a constant key set, and
 * - `POST /token` by verifying one fixed password against one stored Argon2id hash with the engine
 *   and parameters the service uses, then a constant JSON body (no form, no database, no JWT):
 *   what HTTP and the load generator cost around a hash, without any of the service's own work.
 * Run with Bun (`bun bench/bare.ts`) or Node (on a bundle); listens on PORT (0: any free port) and
 * prints `Listening on http://localhost:<port>` like the service's entry points.
 */
import { Hono } from 'hono'
import { createPasswordHasher } from '../src/auth/password'

/** The password the benchmark logs in with. */
export const BENCH_PASSWORD = 'correct horse battery staple'

const hasher = createPasswordHasher()
const stored = await hasher.hash(BENCH_PASSWORD)

const app = new Hono()
app.post('/validate', (c) => c.json({ username: 'bench', valid: true }))
app.get('/.well-known/jwks.json', (c) => c.json({ keys: [] }))
app.post('/token', async (c) => {
  const ok = await hasher.verify(BENCH_PASSWORD, stored)
  return ok ? c.json({ access_token: 'bench', token_type: 'bearer' }) : c.json({}, 500)
})

const port = Number(process.env.PORT ?? 0)
if (typeof Bun !== 'undefined') {
  const server = Bun.serve({ port, fetch: app.fetch })
  console.log(`Listening on http://localhost:${server.port}`)
} else {
  const { serve } = await import('@hono/node-server')
  serve({ port, fetch: app.fetch }, (info) =>
    console.log(`Listening on http://localhost:${info.port}`),
  )
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))
