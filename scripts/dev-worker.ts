/**
 * `bun run dev:worker`: the Worker in workerd (`wrangler dev`) on this machine, with zero setup.
 *
 * The Worker reaches its database as it does on Cloudflare, through Neon's HTTP driver, here
 * pointed (`NEON_FETCH_ENDPOINT`) at the local Neon endpoint (scripts/neon-local.ts) in front of:
 * - `DATABASE_URL` when it is a `postgres://` URL (your own Postgres), or
 * - embedded PGlite (in `PGLITE_DATA_DIR`, default `./.data/pglite-worker`; `DATABASE_URL=memory://`
 *   for a throwaway one), served over the Postgres protocol by @electric-sql/pglite-socket.
 * The migrations are applied first, over the same HTTP protocol.
 *
 * `PORT` (default 8787) is where the Worker listens, unless `--port` is among the extra arguments.
 * The other settings keep their names (`JWT_SECRET`, `THROTTLE_*`, `TRUST_PROXY`, ...) and come
 * from the environment or `.dev.vars` (see .dev.vars.example), the environment winning. This
 * script reads both and hands the Worker every setting itself: wrangler, given a `.dev.vars`,
 * would ignore the environment. Without a `JWT_SECRET` a random one is made for this run.
 * Extra arguments go to `wrangler dev`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseEnv } from 'node:util'
import { SETTING_NAMES } from '../src/config'
import { migrateDatabase } from '../src/db/migrate'
import { makeDb } from '../src/db/open'
import { startNeonLocal } from './neon-local'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = `${ROOT}node_modules/.bin`
const DEFAULT_PGLITE_DIR = './.data/pglite-worker'
/**
 * The settings that are secrets on Cloudflare (`wrangler secret put`): handed over in a private env
 * file, so wrangler shows them as hidden. Every other setting goes as a `--var` (wrangler prints those).
 */
const SECRETS = [
  'JWT_SECRET',
  'DATABASE_URL',
  'JWT_PRIVATE_KEY',
  'INTROSPECTION_CLIENTS',
  'MFA_ENCRYPTION_KEY',
  // Read by Bun and Node only (a Worker has no /metrics), but a secret wherever it is set.
  'METRICS_TOKEN',
]
/** Settings this script uses itself to choose the database; the Worker gets `DATABASE_URL` only. */
const LOCAL_ONLY = new Set([
  'PORT',
  'PGLITE_DATA_DIR',
  'NEON_FETCH_ENDPOINT',
  'DB_HOST',
  'DB_PORT',
  'DB_USER',
  'DB_PASSWORD',
  'DB_NAME',
])

const cleanups: (() => Promise<void>)[] = []
const cleanup = async () => {
  for (const step of cleanups.reverse()) await step().catch(() => {})
  cleanups.length = 0
}

/** A Postgres URL for the database behind the local Neon endpoint, started if need be. */
async function backingDatabase(
  env: Record<string, string | undefined>,
): Promise<{ url: string; label: string }> {
  const url = env.DATABASE_URL
  if (url !== undefined && /^postgres(ql)?:\/\//.test(url)) {
    return { url, label: `Postgres at ${new URL(url).host}` }
  }
  const dir =
    url === 'memory://'
      ? null
      : (url?.replace(/^file:\/\//, '') ?? env.PGLITE_DATA_DIR ?? DEFAULT_PGLITE_DIR)
  const { PGlite } = await import('@electric-sql/pglite')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  if (dir !== null) mkdirSync(dir, { recursive: true })
  const db = dir === null ? new PGlite() : new PGlite(dir)
  await db.waitReady
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 })
  await server.start()
  cleanups.push(async () => {
    await server.stop()
    await db.close()
  })
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    label: dir === null ? 'PGlite in memory' : `PGlite in ${dir}`,
  }
}

/**
 * The settings for the Worker: those of `.dev.vars` (if any), overridden by those set in the
 * environment. Empty values count as unset, as in the service's configuration.
 */
function workerSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = `${ROOT}.dev.vars`
  const fromFile = existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {}
  const settings: Record<string, string> = {}
  for (const name of SETTING_NAMES) {
    const value = env[name] || fromFile[name]
    if (value !== undefined && value !== '') settings[name] = value
  }
  return settings
}

/**
 * `NAME='value'` for wrangler's env file: quoted so nothing is unescaped, with `$` escaped since
 * wrangler expands `$NAME` references in these values.
 */
function envFileLine(name: string, value: string): string {
  const quote = ["'", '`', '"'].find((q) => !value.includes(q))
  if (quote === undefined || /[\r\n]/.test(value)) {
    throw new Error(
      `${name} holds a line break or all three quote characters: wrangler cannot take it`,
    )
  }
  return `${name}=${quote}${value.replaceAll('$', '\\$')}${quote}`
}

/** True when `--port` is among the arguments meant for `wrangler dev`. */
const choosesPort = (args: string[]) =>
  args.some((arg) => arg === '--port' || arg.startsWith('--port='))

async function main(): Promise<number> {
  const env = process.env
  const settings = workerSettings(env)
  const backing = await backingDatabase(settings)
  const pglite = backing.label.startsWith('PGlite')
  const neon = await startNeonLocal({
    databaseUrl: backing.url,
    port: 0,
    // PGlite is one session: one connection keeps transactions apart.
    ...(pglite ? { maxConnections: 1 } : {}),
  })
  cleanups.push(neon.close)

  const handle = await makeDb({ driver: 'neon-http', url: backing.url, fetchEndpoint: neon.url })
  await migrateDatabase(handle)
  console.log(`dev:worker: ${backing.label}, migrated, behind the local Neon endpoint ${neon.url}`)

  const vars: Record<string, string> = { NODE_ENV: 'development' }
  for (const [name, value] of Object.entries(settings)) {
    if (!LOCAL_ONLY.has(name)) vars[name] = value
  }
  vars.DATABASE_URL = backing.url
  vars.NEON_FETCH_ENDPOINT = neon.url
  if (vars.JWT_SECRET === undefined) {
    vars.JWT_SECRET = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('')
    console.log('dev:worker: JWT_SECRET is not set: using a random one; tokens end with this run.')
  }
  // Given an env file, wrangler reads no .dev.vars; the file is readable by this user only.
  const secretsDir = mkdtempSync(join(tmpdir(), 'edge-auth-dev-worker-'))
  cleanups.push(async () => rmSync(secretsDir, { recursive: true, force: true }))
  const secretsFile = join(secretsDir, 'secrets.env')
  const secretLines = SECRETS.map((name) => envFileLine(name, vars[name] ?? ''))
  writeFileSync(secretsFile, `${secretLines.join('\n')}\n`, { mode: 0o600 })

  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    PATH: `${BIN}:${env.PATH ?? ''}`,
    WRANGLER_SEND_METRICS: env.WRANGLER_SEND_METRICS ?? 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: env.CLOUDFLARE_CF_FETCH_ENABLED ?? 'false',
  }
  // wrangler also reads the listed secrets from its own environment: the file is their one source.
  for (const name of SECRETS) delete childEnv[name]
  const extra = process.argv.slice(2)
  const args = [
    `${BIN}/wrangler`,
    'dev',
    ...(choosesPort(extra) ? [] : [`--port=${env.PORT || '8787'}`]),
    `--env-file=${secretsFile}`,
    ...Object.entries(vars)
      .filter(([name]) => !SECRETS.includes(name))
      .flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ...extra,
  ]
  const node = existsSync(`${BIN}/node`) ? `${BIN}/node` : 'node'
  const wrangler: ChildProcess = spawn(node, args, { cwd: ROOT, env: childEnv, stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => wrangler.kill(signal))
  }
  return new Promise((resolve) => {
    wrangler.once('error', (error) => {
      console.error(`dev:worker: could not start wrangler: ${error.message}`)
      resolve(1)
    })
    wrangler.once('exit', (code) => resolve(code ?? 0))
  })
}

main()
  .then(async (code) => {
    await cleanup()
    process.exit(code)
  })
  .catch(async (error: unknown) => {
    console.error(`dev:worker: ${error instanceof Error ? error.message : String(error)}`)
    await cleanup()
    process.exit(1)
  })
