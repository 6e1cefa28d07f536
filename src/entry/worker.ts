import argon2Wasm from '@phi-ag/argon2/argon2.wasm'
import type { ExecutionContext } from 'hono'
import { type createApp, createAppFromConfig } from '../app'
import { createPasswordHasher } from '../auth/password'
import { cacheApiHolderCache, type SharedHolderCache } from '../auth/revocation-shared'
import { ConfigError, parseConfig } from '../config'
import { openNeonHttp } from '../db/drivers/neon-http'
import { createLogger } from '../logger'
import { cloudflareClientAddress } from '../middleware/client-address'
import { forwardAuthRequest } from './forward-auth'

type App = ReturnType<typeof createApp>

let built: { env: Env; app: Promise<App> } | undefined
/** The configuration error last logged by this isolate: each is logged once, not per request. */
let reported: string | undefined

/**
 * Builds the app from the Worker's bindings: configuration, the Neon HTTP database and the app,
 * once per isolate (again only if the runtime hands over a different `env`). The Worker speaks to
 * its database through Neon's HTTP driver only; `DB_DRIVER` defaults to `neon-http` here and
 * anything else is a configuration error. Migrations are not run here: see `bun run db:migrate`.
 * Passwords hash on libargon2 in WebAssembly, imported statically: workerd compiles no
 * WebAssembly from bytes at run time, and this keeps the module out of the Bun and Node paths.
 */
function appFor(env: Env): Promise<App> {
  if (built?.env === env) return built.app
  const app = buildApp(env)
  built = { env, app }
  return app
}

/**
 * The revocation cache the isolates of one data center share (`caches.default`): isolates are
 * many and short-lived, so each alone would ask the database about every account it meets.
 * Undefined where the runtime has no such cache (this entry run in process by tests).
 */
function dataCenterCache(): SharedHolderCache | undefined {
  const cache = (globalThis as { caches?: { default?: Cache } }).caches?.default
  return cache === undefined ? undefined : cacheApiHolderCache(cache)
}

async function buildApp(env: Env): Promise<App> {
  const config = parseConfig({ DB_DRIVER: 'neon-http', ...env })
  const logger = createLogger(console.log, config.logLevel)
  if (config.database.driver !== 'neon-http') {
    throw new ConfigError(
      `Invalid configuration:\n  DB_DRIVER: a Worker reaches its database with neon-http only, not ${config.database.driver}`,
    )
  }
  for (const warning of config.warnings) logger.warn('config_warning', { message: warning })
  const { db } = openNeonHttp(config.database.url, config.database.fetchEndpoint)
  return createAppFromConfig(config, {
    db,
    passwords: createPasswordHasher({
      params: config.argon2,
      engine: 'wasm',
      wasmModule: argon2Wasm,
    }),
    sharedRevocationCache: dataCenterCache(),
    logger,
    clientAddress: cloudflareClientAddress,
    platformAddress: true,
  })
}

/** The Cloudflare Workers entry point (module syntax). */
export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let app: App
    try {
      app = await appFor(env)
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      if (error.message !== reported) {
        reported = error.message
        createLogger(console.error).error('config_error', { message: error.message })
      }
      // The reasons (setting names, never values) stay in the log: they are the operator's business.
      return Response.json(
        { detail: 'Service unavailable: the server is not configured correctly' },
        { status: 503 },
      )
    }
    return app.fetch(forwardAuthRequest(request), env, ctx)
  },
}
