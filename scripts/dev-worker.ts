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
 * `PORT` (default 8787) is where the Worker listens. The other settings keep their names
 * (`JWT_SECRET`, `ARGON2_*`, `ACCESS_TOKEN_EXPIRE_MINUTES`, ...) and come from the environment or
 * `.dev.vars` (see .dev.vars.example). Without a `JWT_SECRET` a random one is made for this run.
 * Extra arguments go to `wrangler dev`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { migrateDatabase } from '../src/db/migrate'
import { makeDb } from '../src/db/open'
import { startNeonLocal } from './neon-local'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = `${ROOT}node_modules/.bin`
const DEFAULT_PGLITE_DIR = './.data/pglite-worker'
/** Settings passed on to the Worker as variables when set in the environment. */
const FORWARDED = [
  'NODE_ENV',
  'ALGORITHM',
  'ACCESS_TOKEN_EXPIRE_MINUTES',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'JWT_PUBLIC_KEYS',
  'JWKS_CACHE_SECONDS',
  'ARGON2_MEMORY_KIB',
  'ARGON2_ITERATIONS',
  'ARGON2_PARALLELISM',
]

const cleanups: (() => Promise<void>)[] = []
const cleanup = async () => {
  for (const step of cleanups.reverse()) await step().catch(() => {})
  cleanups.length = 0
}

/** A Postgres URL for the database behind the local Neon endpoint, started if need be. */
async function backingDatabase(env: NodeJS.ProcessEnv): Promise<{ url: string; label: string }> {
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

function devVarsHas(name: string): boolean {
  const file = `${ROOT}.dev.vars`
  return (
    existsSync(file) &&
    new RegExp(`^[ \\t]*${name}[ \\t]*=[ \\t]*\\S`, 'm').test(readFileSync(file, 'utf8'))
  )
}

async function main(): Promise<number> {
  const env = process.env
  const backing = await backingDatabase(env)
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

  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    PATH: `${BIN}:${env.PATH ?? ''}`,
    DATABASE_URL: backing.url,
    WRANGLER_SEND_METRICS: env.WRANGLER_SEND_METRICS ?? 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: env.CLOUDFLARE_CF_FETCH_ENABLED ?? 'false',
  }
  if (env.JWT_SECRET === undefined && !devVarsHas('JWT_SECRET')) {
    childEnv.JWT_SECRET = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('')
    console.log('dev:worker: JWT_SECRET is not set: using a random one; tokens end with this run.')
  }
  // Secrets used only by some setups (wrangler.toml lists them as required): unset is empty.
  for (const name of ['JWT_PRIVATE_KEY', 'INTROSPECTION_CLIENTS']) {
    if (env[name] === undefined && !devVarsHas(name)) childEnv[name] = ''
  }
  const vars: Record<string, string> = { NODE_ENV: 'development', NEON_FETCH_ENDPOINT: neon.url }
  for (const name of FORWARDED) {
    const value = env[name]
    if (value !== undefined && value !== '') vars[name] = value
  }
  const args = [
    `${BIN}/wrangler`,
    'dev',
    `--port=${env.PORT ?? '8787'}`,
    ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ...process.argv.slice(2),
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
