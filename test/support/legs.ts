import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NeonLocal, startNeonLocal } from '../../scripts/neon-local'
import { createAppFromConfig } from '../../src/app'
import { parseConfig } from '../../src/config'
import { createLogger } from '../../src/logger'
import { CONTRACT_ENV, type ContractTarget } from '../contract/target'
import { openMigratedPglite } from './pglite'
import { createTestDatabase, type TestDatabase } from './postgres'
import { BIN, BUN, cleanEnv, NODE, run, startServer } from './process'
import { rawRequest } from './raw-http'

/** A started leg: the target the contract cases talk to, and how to stop everything it started. */
export interface RunningLeg {
  target: ContractTarget
  /** The server's base URL (absent in process). */
  url?: string
  stop(): Promise<void>
}

/** `bun run start`/`start:node` print this once they listen; the port is chosen by the OS. */
const LISTENING = /Listening on (http:\/\/\S+)/
/** `wrangler dev` prints this once workerd serves. */
const WRANGLER_READY = /Ready on (http:\/\/\S+)/

const httpTarget = (name: string, url: string, logs: () => string): ContractTarget => ({
  name,
  fetch: (path, init) => fetch(`${url}${path}`, init),
  logs,
  raw: (method, target, headers) => rawRequest(url, method, target, headers),
})

/** Stops what was started, last first; keeps going past failures and throws the first. */
async function stopAll(stops: (() => Promise<void>)[]): Promise<void> {
  let first: unknown
  for (const stop of stops.reverse()) {
    try {
      await stop()
    } catch (error) {
      first ??= error
    }
  }
  if (first !== undefined) throw first
}

/**
 * Runs `work` with a list to push cleanups onto; if it throws, everything pushed so far is
 * stopped before the error goes on, so a leg that fails to start leaves nothing running.
 */
async function building<T>(work: (stops: (() => Promise<void>)[]) => Promise<T>): Promise<T> {
  const stops: (() => Promise<void>)[] = []
  try {
    return await work(stops)
  } catch (error) {
    await stopAll(stops).catch(() => {})
    throw error
  }
}

/**
 * The app in this process (`app.request`) on in-memory PGlite with the real migrations, built from
 * {@link CONTRACT_ENV} the way the servers build it (`parseConfig`, `createAppFromConfig`). The
 * client address plays the loopback peer every server leg sees.
 */
export async function inProcessLeg(): Promise<RunningLeg> {
  const config = parseConfig({ ...CONTRACT_ENV, DATABASE_URL: 'memory://' })
  const handle = await openMigratedPglite()
  const logs: string[] = []
  const app = await createAppFromConfig(config, {
    db: handle.db,
    logger: createLogger((line) => logs.push(line)),
    clientAddress: () => '127.0.0.1',
  })
  return {
    target: {
      name: 'in-process + pglite',
      fetch: async (path, init) => app.request(path, init),
      logs: () => logs.join('\n'),
    },
    stop: () => handle.close(),
  }
}

/** A fresh Postgres database, migrated with `bun run db:migrate` or its Node twin. */
export async function migratedDatabase(
  label: string,
  migrateWith: 'bun' | 'node',
): Promise<TestDatabase> {
  const db = await createTestDatabase(label)
  try {
    await migrate(migrateWith, { DATABASE_URL: db.url })
  } catch (error) {
    await db.drop().catch(() => {})
    throw error
  }
  return db
}

/** Runs scripts/migrate.ts (what `bun run db:migrate` runs) on Bun or Node with the given settings. */
export function migrate(runtime: 'bun' | 'node', env: Record<string, string>): Promise<string> {
  return runtime === 'bun'
    ? run(BUN, ['scripts/migrate.ts'], cleanEnv(env))
    : run(NODE, ['--import', 'tsx', 'scripts/migrate.ts'], cleanEnv(env))
}

/** `bun run start` (Bun.serve) with the contract settings and `env` (the database). */
export async function bunServer(name: string, env: Record<string, string>): Promise<RunningLeg> {
  const server = await startServer({
    name,
    command: BUN,
    args: ['run', 'start'],
    env: cleanEnv({ ...CONTRACT_ENV, PORT: '0', ...env }),
    ready: LISTENING,
  })
  return { target: httpTarget(name, server.url, server.output), url: server.url, stop: server.stop }
}

/** `bun run start:node` (Node 24, @hono/node-server) with the contract settings and `env`. */
export async function nodeServer(name: string, env: Record<string, string>): Promise<RunningLeg> {
  const server = await startServer({
    name,
    command: BUN,
    args: ['run', 'start:node'],
    env: cleanEnv({ ...CONTRACT_ENV, PORT: '0', ...env }),
    ready: LISTENING,
  })
  return { target: httpTarget(name, server.url, server.output), url: server.url, stop: server.stop }
}

/** Options of {@link workerServer}. */
export interface WorkerServerOptions {
  /** Wrangler's state directory (the Cache API's included); a temp dir when absent. */
  persistTo?: string
  /** The port of the DevTools inspector (test/support/inspector.ts); any free one when absent. */
  inspectorPort?: number
}

/**
 * The Worker in workerd (`wrangler dev`) with the contract settings and `env`, reaching
 * `databaseUrl` through Neon's HTTP driver and the local endpoint at `fetchEndpoint`. The developer's
 * .dev.vars and .env are not read (the secrets come in their own --env-file), and wrangler's state (the Cache API's
 * included) goes to a temp dir, or to `persistTo` when given: a Worker started again on the same
 * directory is a new isolate in the same place.
 */
export async function workerServer(
  name: string,
  databaseUrl: string,
  fetchEndpoint: string,
  env: Record<string, string> = {},
  { persistTo, inspectorPort = 0 }: WorkerServerOptions = {},
): Promise<RunningLeg> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-wrangler-'))
  const { JWT_SECRET, JWT_PRIVATE_KEY, INTROSPECTION_CLIENTS, ...vars } = CONTRACT_ENV
  // The secrets go in a private env file, as `wrangler secret put` would hold them.
  const envFile = join(dir, 'secrets.env')
  const secrets = { JWT_SECRET, JWT_PRIVATE_KEY, INTROSPECTION_CLIENTS, DATABASE_URL: databaseUrl }
  writeFileSync(
    envFile,
    Object.entries(secrets)
      // Single quotes: the contract's values hold double quotes (a JWK) but never a single one.
      .map(([key, value]) => `${key}='${(value ?? '').replaceAll('$', '\\$')}'\n`)
      .join(''),
  )
  const varArgs = Object.entries({ ...vars, ...env, NEON_FETCH_ENDPOINT: fetchEndpoint }).flatMap(
    ([key, value]) => ['--var', `${key}:${value}`],
  )
  try {
    const server = await startServer({
      name,
      command: NODE,
      args: [
        `${BIN}/wrangler`,
        'dev',
        '--ip=127.0.0.1',
        '--port=0',
        `--inspector-port=${inspectorPort}`,
        `--env-file=${envFile}`,
        `--persist-to=${persistTo ?? join(dir, 'state')}`,
        '--show-interactive-dev-session=false',
        '--log-level=log',
        ...varArgs,
      ],
      env: cleanEnv({
        WRANGLER_SEND_METRICS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_LOG_PATH: join(dir, 'logs'),
      }),
      ready: WRANGLER_READY,
      timeoutMs: 120_000,
    })
    return {
      target: { ...httpTarget(name, server.url, server.output), normalisesDotSegments: true },
      url: server.url,
      stop: async () => {
        await server.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/** The local Neon endpoint in front of a Postgres database. */
export function neonEndpoint(databaseUrl: string): Promise<NeonLocal> {
  return startNeonLocal({ databaseUrl, port: 0 })
}

/** Bun on in-memory PGlite (migrated by the server on start). */
export function bunPgliteLeg(): Promise<RunningLeg> {
  return bunServer('bun + pglite', { DATABASE_URL: 'memory://' })
}

/** Bun on its own Postgres database over TCP (postgres.js), migrated with Bun. */
export function bunPostgresLeg(): Promise<RunningLeg> {
  return building(async (stops) => {
    const db = await migratedDatabase('bun', 'bun')
    stops.push(db.drop)
    const leg = await bunServer('bun + postgres', { DATABASE_URL: db.url })
    stops.push(leg.stop)
    return { target: leg.target, stop: () => stopAll(stops) }
  })
}

/** Node on its own Postgres database over TCP (postgres.js), migrated with Node. */
export function nodePostgresLeg(): Promise<RunningLeg> {
  return building(async (stops) => {
    const db = await migratedDatabase('node', 'node')
    stops.push(db.drop)
    const leg = await nodeServer('node + postgres', { DATABASE_URL: db.url })
    stops.push(leg.stop)
    return { target: leg.target, url: leg.url, stop: () => stopAll(stops) }
  })
}

/**
 * The Worker on its own Postgres database through Neon's HTTP protocol (the local endpoint),
 * migrated over that same protocol (`DB_DRIVER=neon-http bun run db:migrate`).
 */
export function workerNeonLeg(): Promise<RunningLeg> {
  return building(async (stops) => {
    const db = await createTestDatabase('worker')
    stops.push(db.drop)
    const neon = await neonEndpoint(db.url)
    stops.push(neon.close)
    await migrate('bun', {
      DATABASE_URL: db.url,
      DB_DRIVER: 'neon-http',
      NEON_FETCH_ENDPOINT: neon.url,
    })
    const leg = await workerServer('worker + neon-http', db.url, neon.url)
    stops.push(leg.stop)
    return { target: leg.target, url: leg.url, stop: () => stopAll(stops) }
  })
}
