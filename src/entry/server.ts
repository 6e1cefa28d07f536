import { mkdirSync } from 'node:fs'
import { type AppDeps, type createApp, createAppFromConfig, tokenServiceFor } from '../app'
import type { TokenService } from '../auth/tokens'
import { type Config, ConfigError, parseConfig } from '../config'
import { migrateDatabase } from '../db/migrate'
import { makeDb } from '../db/open'
import { type BatchingOptions, createBatchedWriter, createLogger } from '../logger'
import { createPrometheusMetrics } from './prometheus'

/** Log lines go out in chunks of up to 64 KiB, or 50 ms after the first line of a chunk. */
const LOG_BATCHING: BatchingOptions = {
  maxChars: 64 * 1024,
  maxDelayMs: 50,
  defer: (flush, ms) => {
    setTimeout(flush, ms).unref()
  },
}

/** A ready service for a long-lived process (Bun or Node). */
export interface ServerService {
  app: ReturnType<typeof createApp>
  config: Config
  close(): Promise<void>
}

/**
 * Reads configuration, opens the database (migrating embedded PGlite on start), and builds the app.
 * Shared by the Bun and Node entry points; exits the process with a readable message on bad config.
 * `runtime` carries what only the entry point knows (how to read the client's socket address).
 */
export async function startService(
  env: Record<string, unknown>,
  runtime: Pick<AppDeps, 'clientAddress'> = {},
): Promise<ServerService> {
  const output = createBatchedWriter((chunk) => process.stdout.write(chunk), LOG_BATCHING)
  process.on('exit', output.flush)
  let config: Config
  try {
    config = parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(1)
    }
    throw error
  }
  const logger = createLogger(output.line, config.logLevel)
  for (const warning of config.warnings) logger.warn('config_warning', { message: warning })
  if (config.database.driver === 'pglite' && config.database.dataDir !== null) {
    mkdirSync(config.database.dataDir, { recursive: true })
  }
  // Keys first: a key that cannot be imported stops the start before the database is opened.
  let tokens: TokenService
  try {
    tokens = await tokenServiceFor(config)
  } catch (error) {
    if (error instanceof ConfigError) {
      output.flush()
      console.error(error.message)
      process.exit(1)
    }
    throw error
  }
  const handle = await makeDb(config.database)
  if (config.database.driver === 'pglite') await migrateDatabase(handle)
  // Metrics only when METRICS_TOKEN is set: no recorder, no cost, and `/metrics` answers 404.
  const metrics = config.metricsToken === undefined ? {} : { metrics: createPrometheusMetrics() }
  const app = await createAppFromConfig(config, {
    db: handle.db,
    logger,
    tokens,
    ...metrics,
    ...runtime,
  })
  logger.info('service_started', {
    driver: config.database.driver,
    port: config.port,
    metrics: config.metricsToken !== undefined,
  })
  return { app, config, close: () => handle.close() }
}
