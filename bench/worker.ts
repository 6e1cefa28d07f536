/**
 * The benchmark's Worker leg (`BENCH_SCENARIOS=...,worker`): the Worker in workerd through
 * `wrangler dev`, on a Postgres database of its own behind the local Neon endpoint
 * (scripts/neon-local.ts), which counts the queries that reach it.
 * - CPU time per login: sequential `POST /token` logins, the CPU the workerd process used for
 *   them (`/proc`), against the same on the Bun and Node services on the same database; and the
 *   raw cost of one verify in workerd with each engine (bench/argon2-worker.ts).
 * - `/validate`'s database queries per 1,000 requests over several isolates: the Worker started
 *   again and again (each start a new isolate with an empty memory), either in one place (one
 *   state directory, so one Cache API) or each in a place of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { startNeonLocal } from '../scripts/neon-local'
import { cpuMs, descendants, runToEnd, startProcess } from './process'

/** What the leg needs from the run script. */
export interface WorkerLegOptions {
  root: string
  nodeBin: string
  /** Starts the Bun or Node service on a database, returns its URL, pid and a stop function. */
  startService(
    runtime: 'bun' | 'node',
    env: Record<string, string>,
  ): Promise<{ url: string; pid: number; stop(): Promise<void> }>
  runtimes: readonly ('bun' | 'node')[]
  /** Logins per measurement. */
  logins: number
  jwtSecret: string
  log(message: string): void
}

/** CPU per login of one service. */
export interface LoginCost {
  where: string
  engine: string
  cpuMsPerLogin: number
}

/** What the leg measured. */
export interface WorkerLegReport {
  logins: LoginCost[]
  /** The raw verify in workerd, per engine. */
  rawVerify: LoginCost[]
  validate: {
    isolates: number
    requestsPerIsolate: number
    accounts: number
    cacheSeconds: number
    /** Queries per 1,000 `/validate` requests, isolates in one place (sharing the Cache API). */
    onePlace: number
    /** The same with each isolate in a place of its own (no shared cache: as before it). */
    ownPlaces: number
  }
}

const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const USER = { name: 'Bench User', username: 'benchuser', password: 'correct horse battery staple' }
const FORM = 'application/x-www-form-urlencoded'
const ISOLATES = 3
const VALIDATES = 1000
const ACCOUNTS = 20
/** Long enough that the isolates' restarts (wrangler takes ~10-20 s each here) fall within it. */
const CACHE_SECONDS = 300

async function post(url: string, body: string, type: string, accept: number[] = []) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body })
  const text = await res.text()
  if (!res.ok && !accept.includes(res.status)) throw new Error(`POST ${url}: ${res.status} ${text}`)
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
}

const loginForm = (username: string) =>
  new URLSearchParams({ username, password: USER.password }).toString()

/** CPU time used so far by the processes `pids` together, in ms; null where /proc is missing. */
function totalCpuMs(pids: number[]): number | null {
  let total = 0
  for (const pid of pids) {
    const ms = cpuMs(pid)
    if (ms === null) return null
    total += ms
  }
  return total
}

/** CPU of `pids` per sequential login, after three unmeasured ones. */
async function cpuPerLogin(url: string, pids: number[], logins: number): Promise<number> {
  for (let i = 0; i < 3; i++) await post(`${url}/token`, loginForm(USER.username), FORM)
  const before = totalCpuMs(pids)
  for (let i = 0; i < logins; i++) await post(`${url}/token`, loginForm(USER.username), FORM)
  const after = totalCpuMs(pids)
  if (before === null || after === null) return Number.NaN
  return (after - before) / logins
}

/**
 * `wrangler dev` of a config, with vars; the pids of its workerd processes for CPU readings (one
 * runs the Worker, one wrangler's proxy in front of it: both are counted, so the figure errs high).
 */
async function startWrangler(
  options: WorkerLegOptions,
  config: string,
  persistTo: string,
  vars: Record<string, string>,
  secrets: Record<string, string>,
) {
  const envFile = join(persistTo, '..', 'empty.env')
  await Bun.write(envFile, '')
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`])
  const started = await startProcess({
    name: `wrangler dev (${config})`,
    command: options.nodeBin,
    args: [
      `${options.root}node_modules/wrangler/bin/wrangler.js`,
      'dev',
      `--config=${config}`,
      '--ip=127.0.0.1',
      '--port=0',
      '--inspector-port=0',
      `--env-file=${envFile}`,
      `--persist-to=${persistTo}`,
      '--show-interactive-dev-session=false',
      ...varArgs,
    ],
    cwd: options.root,
    env: {
      ...process.env,
      ...secrets,
      WRANGLER_SEND_METRICS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    },
    ready: /Ready on (http:\/\/\S+)/,
    timeoutMs: 180_000,
  })
  const workerd = descendants(started.pid).filter((p) => /\/workerd /.test(p.command))
  if (workerd.length === 0) throw new Error('no workerd process under wrangler dev')
  return {
    url: started.match?.[1] ?? '',
    workerdPids: workerd.map((p) => p.pid),
    stop: started.stop,
  }
}

/** Runs the Worker leg; everything it starts is stopped, its database dropped. */
export async function benchWorkerLeg(options: WorkerLegOptions): Promise<WorkerLegReport> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  const name = `edge_auth_bench_worker_${crypto.randomUUID().slice(0, 8)}`
  await admin.unsafe(`create database "${name}"`)
  const databaseUrl = new URL(ADMIN_URL)
  databaseUrl.pathname = `/${name}`
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-bench-worker-'))
  let queries = 0
  const neon = await startNeonLocal({
    databaseUrl: databaseUrl.href,
    port: 0,
    log: (line) => {
      if (line.includes(' /sql ')) queries++
    },
  })
  const stops: (() => Promise<void>)[] = [neon.close]
  try {
    await runToEnd({
      name: 'migrate',
      command: process.execPath,
      args: [`${options.root}scripts/migrate.ts`],
      cwd: options.root,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl.href,
        DB_DRIVER: 'neon-http',
        NEON_FETCH_ENDPOINT: neon.url,
      },
    })
    const serviceVars = {
      NODE_ENV: 'production',
      NEON_FETCH_ENDPOINT: neon.url,
      THROTTLE_LOGIN_ADDRESS_MAX: '0',
      THROTTLE_REGISTER_ADDRESS_MAX: '0',
      THROTTLE_LOGIN_ACCOUNT_MAX: '0',
      TOKEN_REVOCATION_CACHE_SECONDS: String(CACHE_SECONDS),
    }
    const secrets = {
      JWT_SECRET: options.jwtSecret,
      DATABASE_URL: databaseUrl.href,
      JWT_PRIVATE_KEY: '',
      INTROSPECTION_CLIENTS: '',
    }
    const wranglerToml = `${options.root}wrangler.toml`
    let place = 0
    const worker = (persist: string) =>
      startWrangler(options, wranglerToml, join(dir, persist), serviceVars, secrets)

    options.log('Worker leg: logins in workerd')
    const logins: LoginCost[] = []
    const first = await worker(`place-${place++}`)
    stops.push(first.stop)
    await post(`${first.url}/register`, JSON.stringify(USER), 'application/json', [409])
    logins.push({
      where: 'workerd (the Worker)',
      engine: 'wasm',
      cpuMsPerLogin: await cpuPerLogin(first.url, first.workerdPids, options.logins),
    })
    const tokens: string[] = []
    for (let i = 0; i < ACCOUNTS; i++) {
      const username = `benchcache${i}`
      const user = { ...USER, username }
      await post(`${first.url}/register`, JSON.stringify(user), 'application/json', [409])
      tokens.push(
        String((await post(`${first.url}/token`, loginForm(username), FORM)).access_token),
      )
    }
    await first.stop()

    for (const runtime of options.runtimes) {
      options.log(`Worker leg: logins on ${runtime}`)
      const service = await options.startService(runtime, {
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl.href,
        JWT_SECRET: options.jwtSecret,
        THROTTLE_LOGIN_ADDRESS_MAX: '0',
        THROTTLE_LOGIN_ACCOUNT_MAX: '0',
      })
      try {
        logins.push({
          where: runtime === 'bun' ? 'Bun' : 'Node',
          engine: runtime === 'bun' ? 'bun' : 'node',
          cpuMsPerLogin: await cpuPerLogin(service.url, [service.pid], options.logins),
        })
      } finally {
        await service.stop()
      }
    }

    options.log('Worker leg: raw verify in workerd, wasm and noble')
    const rawVerify: LoginCost[] = []
    const raw = await startWrangler(
      options,
      `${options.root}bench/argon2-worker.wrangler.toml`,
      join(dir, 'raw'),
      {},
      {},
    )
    stops.push(raw.stop)
    for (const [engine, count] of [
      ['wasm', options.logins],
      ['noble', Math.max(3, Math.ceil(options.logins / 4))],
    ] as const) {
      const verify = () => post(`${raw.url}/verify?engine=${engine}`, '', 'text/plain')
      await verify()
      const before = totalCpuMs(raw.workerdPids)
      for (let i = 0; i < count; i++) await verify()
      const after = totalCpuMs(raw.workerdPids)
      const cpu = before === null || after === null ? Number.NaN : (after - before) / count
      rawVerify.push({ where: 'workerd, verify alone', engine, cpuMsPerLogin: cpu })
    }
    await raw.stop()

    const perIsolate = Math.ceil(VALIDATES / ISOLATES)
    const validateRun = async (onePlace: boolean) => {
      const shared = `place-${place++}`
      let counted = 0
      for (let i = 0; i < ISOLATES; i++) {
        const isolate = await worker(onePlace ? shared : `place-${place++}`)
        stops.push(isolate.stop)
        const before = queries
        for (let r = 0; r < perIsolate; r++) {
          const token = tokens[r % tokens.length]
          const res = await fetch(`${isolate.url}/validate`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
          })
          if (res.status !== 200) throw new Error(`/validate: ${res.status} ${await res.text()}`)
        }
        counted += queries - before
        await isolate.stop()
      }
      return (counted * 1000) / (perIsolate * ISOLATES)
    }
    options.log(`Worker leg: /validate over ${ISOLATES} isolates in one place`)
    const onePlace = await validateRun(true)
    options.log(`Worker leg: /validate over ${ISOLATES} isolates, each in a place of its own`)
    const ownPlaces = await validateRun(false)
    return {
      logins,
      rawVerify,
      validate: {
        isolates: ISOLATES,
        requestsPerIsolate: perIsolate,
        accounts: ACCOUNTS,
        cacheSeconds: CACHE_SECONDS,
        onePlace,
        ownPlaces,
      },
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    await admin.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {})
    await admin.end({ timeout: 1 })
    rmSync(dir, { recursive: true, force: true })
  }
}
