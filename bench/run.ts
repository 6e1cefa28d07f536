/**
 * `bun run bench`: measures the service against a bare Hono app on the same runtime, on Bun and on
 * Node, and writes the results into docs/benchmarks.md (between the `bench:begin`/`bench:end`
 * markers). Every server and the load generator (autocannon, bench/load.ts) run as separate
 * processes; the service and the bare app are measured in turn, round after round, so that both
 * see the same machine. See docs/benchmarks.md for what is measured and how to read it.
 *
 * Settings (environment): BENCH_QUICK=1 (short smoke run), BENCH_ROUNDS, BENCH_DURATION (seconds
 * per measurement), BENCH_SUSTAIN (seconds of sustained load for RSS), BENCH_CONNECTIONS
 * (/validate), BENCH_RUNTIMES (`bun,node`), BENCH_SCENARIOS (`validate,miss,token,register,algorithms,sustain,worker`), BENCH_POSTGRES_URL (the Worker leg's server), BENCH_DATABASE_URL (default `memory://`),
 * BENCH_NOTE (load conditions, printed with the results), BENCH_OUT (default docs/benchmarks.md).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Argon2Params } from '../src/auth/argon2-phc'
import { DEFAULT_ARGON2_PARAMS } from '../src/auth/password'
import { createTokenService } from '../src/auth/tokens'
import type { RateResult, RateSpec } from './argon2-rate'
import type { LoadResult, LoadSpec } from './load'
import { cpuMs, runToEnd, startProcess } from './process'
import { benchWorkerLeg, type WorkerLegReport } from './worker'

type Runtime = 'bun' | 'node'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const env = process.env
const quick = env.BENCH_QUICK === '1'
const intSetting = (name: string, fallback: number) => {
  const value = Number(env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer`)
  return value
}
const settings = {
  quick,
  rounds: intSetting('BENCH_ROUNDS', quick ? 2 : 3),
  duration: intSetting('BENCH_DURATION', quick ? 3 : 10),
  warmup: quick ? 1 : 3,
  sustain: intSetting('BENCH_SUSTAIN', quick ? 10 : 60),
  connections: intSetting('BENCH_CONNECTIONS', 32),
  cores: os.availableParallelism(),
  runtimes: (env.BENCH_RUNTIMES ?? 'bun,node').split(',').map((r) => r.trim()) as Runtime[],
  scenarios: new Set(
    (env.BENCH_SCENARIOS ?? 'validate,miss,token,register,algorithms,sustain,worker').split(','),
  ),
  databaseUrl: env.BENCH_DATABASE_URL ?? 'memory://',
  note: env.BENCH_NOTE ?? '',
  out: env.BENCH_OUT ?? `${ROOT}docs/benchmarks.md`,
  argon2: DEFAULT_ARGON2_PARAMS satisfies Argon2Params,
}
for (const runtime of settings.runtimes) {
  if (runtime !== 'bun' && runtime !== 'node') throw new Error(`unknown runtime "${runtime}"`)
}

const JWT_SECRET = 'bench-only-secret-0123456789abcdef0123456789'
/** The key-pair algorithms measured against HS256 (the `algorithms` scenario). */
const ASYMMETRIC = ['EdDSA', 'ES256'] as const
type Asymmetric = (typeof ASYMMETRIC)[number]

/** A new private key for `alg`, as the PKCS#8 PEM that JWT_PRIVATE_KEY takes. */
async function privateKeyPem(alg: Asymmetric): Promise<string> {
  const params = alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' }
  const pair = (await crypto.subtle.generateKey(params, true, ['sign'])) as CryptoKeyPair
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey)).toString(
    'base64',
  )
  return [
    '-----BEGIN PRIVATE KEY-----',
    ...(der.match(/.{1,64}/g) ?? []),
    '-----END PRIVATE KEY-----',
  ].join('\n')
}
const USER = { name: 'Bench User', username: 'benchuser', password: 'correct horse battery staple' }
/** More distinct tokens than the verified-token cache holds, so every request of the sustained phase misses it. */
const DISTINCT_TOKENS = 20_000
/** The verified-token cache of the benchmarked service (TOKEN_CACHE_ENTRIES), below DISTINCT_TOKENS. */
const MISS_CACHE_ENTRIES = 10_000
const AUTOCANNON_VERSION = (
  JSON.parse(readFileSync(`${ROOT}node_modules/autocannon/package.json`, 'utf8')) as {
    version: string
  }
).version
const NODE_BIN = existsSync(`${ROOT}node_modules/.bin/node`)
  ? `${ROOT}node_modules/.bin/node`
  : 'node'
/**
 * Node runs the same sources bundled to JavaScript by Bun (dependencies left in node_modules), as
 * a Node deployment would. Two levels below the root, so that src/db/migrate.ts still finds
 * drizzle/ at `../../drizzle` from the bundle.
 */
const NODE_OUT = `${ROOT}dist/bench-node/`
const NODE_SCRIPTS = ['src/entry/node.ts', 'bench/bare.ts', 'bench/argon2-rate.ts']

async function buildForNode() {
  const result = await Bun.build({
    entrypoints: NODE_SCRIPTS.map((script) => `${ROOT}${script}`),
    outdir: NODE_OUT,
    target: 'node',
    packages: 'external',
    naming: '[name].[ext]',
  })
  if (!result.success) throw new AggregateError(result.logs, 'bundling for Node failed')
}

function command(runtime: Runtime, script: string, args: string[] = []): [string, string[]] {
  if (runtime === 'bun') return [process.execPath, [`${ROOT}${script}`, ...args]]
  const name = script.replace(/^.*\//, '').replace(/\.ts$/, '.js')
  return [NODE_BIN, [`${NODE_OUT}${name}`, ...args]]
}

/** Runs a program from the repository's root to its end; its stdout. */
function run(cmd: string, args: string[], input?: string, extraEnv: Record<string, string> = {}) {
  const name = [cmd, ...args].join(' ').slice(0, 120)
  return runToEnd({ name, command: cmd, args, cwd: ROOT, env: { ...env, ...extraEnv }, input })
}

/** A server started by the benchmark. */
interface Server {
  name: string
  pid: number
  url: string
  stop(): Promise<void>
}

/** Starts a server that prints `Listening on http://host:port`. */
async function startServer(
  name: string,
  runtime: Runtime,
  script: string,
  extraEnv: Record<string, string>,
): Promise<Server> {
  const [cmd, args] = command(runtime, script)
  const started = await startProcess({
    name,
    command: cmd,
    args,
    cwd: ROOT,
    env: { ...env, ...extraEnv, PORT: '0' },
    ready: /Listening on http:\/\/[^:\s]+:(\d+)/,
  })
  return {
    name,
    pid: started.pid,
    url: `http://127.0.0.1:${started.match?.[1]}`,
    stop: started.stop,
  }
}

/** Resident set size of a process in KiB (Linux /proc, else ps). */
function rssKiB(pid: number): number {
  const status = `/proc/${pid}/status`
  if (existsSync(status)) {
    const match = /VmRSS:\s+(\d+)/.exec(readFileSync(status, 'utf8'))
    if (match?.[1]) return Number(match[1])
  }
  const proc = Bun.spawnSync(['ps', '-o', 'rss=', '-p', String(pid)])
  return Number(proc.stdout.toString().trim())
}

/** One load measurement against a server, with the server's CPU time per request. */
interface Measurement extends LoadResult {
  cpuUsPerRequest: number | null
}

async function load(server: Server, spec: Omit<LoadSpec, 'url'> & { path: string }) {
  const { path, ...rest } = spec
  const before = cpuMs(server.pid)
  const output = await run(
    NODE_BIN,
    [`${ROOT}bench/load.ts`],
    JSON.stringify({ ...rest, url: `${server.url}${path}` }),
  )
  const after = cpuMs(server.pid)
  const result = JSON.parse(output) as LoadResult
  const cpuUsPerRequest =
    before === null || after === null || result.requests === 0
      ? null
      : ((after - before) * 1000) / result.requests
  return { ...result, cpuUsPerRequest } satisfies Measurement
}

async function argon2Rate(runtime: Runtime, mode: RateSpec['mode'], seconds: number) {
  const spec: RateSpec = {
    mode,
    params: settings.argon2,
    concurrency: settings.cores,
    durationSeconds: seconds,
  }
  const [cmd, args] = command(runtime, 'bench/argon2-rate.ts', [JSON.stringify(spec)])
  return JSON.parse(await run(cmd, args)) as RateResult
}

async function post(url: string, body: string, contentType: string, accept: number[] = []) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body })
  const text = await res.text()
  if (!res.ok && !accept.includes(res.status)) throw new Error(`POST ${url}: ${res.status} ${text}`)
  return JSON.parse(text) as Record<string, unknown>
}

/** Applies the migrations to a Postgres database given in BENCH_DATABASE_URL (PGlite migrates itself). */
async function migrateIfPostgres() {
  if (!/^postgres(ql)?:/.test(settings.databaseUrl)) return
  await run(process.execPath, [`${ROOT}scripts/migrate.ts`], undefined, {
    DATABASE_URL: settings.databaseUrl,
  })
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

type ScenarioId =
  | 'validate'
  | 'token'
  | 'register'
  | `${'token' | 'validate'}-${Asymmetric}`
  | 'jwks'
  | 'miss'

/** The measurements of one scenario: the subject, its yardstick, round by round. */
interface Comparison {
  id: ScenarioId
  label: string
  subject: string
  yardstick: string
  rounds: { subject: Measurement; yardstick: Measurement | RateResult; reference?: Measurement }[]
  /** A third server measured in the same rounds, shown with its own ratio to the yardstick. */
  reference?: string
}

/** RSS of the service, in KiB. */
interface MemoryReport {
  startKiB: number
  warmKiB: number
  /** Every 5 s of the sustained phase, the last one at its end (shown). */
  samplesKiB: number[]
  /** Every second of the sustained phase (judged). */
  everySecondKiB: number[]
  maxKiB: number
  bareStartKiB: number
  sustained: Measurement
}

interface RuntimeReport {
  runtime: Runtime
  version: string
  engine: string
  comparisons: Comparison[]
  memory: MemoryReport | null
}

function log(message: string) {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`)
}

async function runtimeVersion(runtime: Runtime): Promise<string> {
  if (runtime === 'bun') return `Bun ${Bun.version}`
  return `Node ${(await run(NODE_BIN, ['--version'])).trim().replace(/^v/, '')}`
}

/**
 * Runs the measurements one after the other, starting with the `round`-th (so each one takes each
 * place in turn over the rounds), and returns the results in the order given.
 */
async function inTurn<T extends unknown[]>(
  round: number,
  ...runs: { [K in keyof T]: () => Promise<T[K]> }
): Promise<T> {
  const results: unknown[] = new Array(runs.length)
  for (let i = 0; i < runs.length; i++) {
    const index = (round + i) % runs.length
    results[index] = await (runs[index] as () => Promise<unknown>)()
  }
  return results as T
}

async function benchRuntime(runtime: Runtime): Promise<RuntimeReport> {
  const version = await runtimeVersion(runtime)
  const has = (scenario: string) => settings.scenarios.has(scenario)
  log(`${version}: starting the service and the bare app`)
  const serviceEnv = {
    NODE_ENV: 'production',
    DATABASE_URL: settings.databaseUrl,
    JWT_SECRET,
    // One load generator is one client address: per-address limits would measure the throttle.
    THROTTLE_LOGIN_ADDRESS_MAX: '0',
    // Fewer entries than DISTINCT_TOKENS, so that cycling through them misses the cache every time.
    TOKEN_CACHE_ENTRIES: String(MISS_CACHE_ENTRIES),
    THROTTLE_REGISTER_ADDRESS_MAX: '0',
  }
  const service = await startServer('service', runtime, `src/entry/${runtime}.ts`, serviceEnv)
  const bare = await startServer('bare', runtime, 'bench/bare.ts', {})
  // The same service signing with a key pair, on a database of its own (PGlite) or the same one.
  const signedWith = new Map<Asymmetric, Server>()
  try {
    if (has('algorithms')) {
      for (const alg of ASYMMETRIC) {
        const server = await startServer(`service (${alg})`, runtime, `src/entry/${runtime}.ts`, {
          ...serviceEnv,
          ALGORITHM: alg,
          JWT_PRIVATE_KEY: await privateKeyPem(alg),
          JWT_ISSUER: 'https://auth.bench.invalid',
        })
        signedWith.set(alg, server)
      }
    }
    const startKiB = rssKiB(service.pid)
    const bareStartKiB = rssKiB(bare.pid)
    // A Postgres database kept from an earlier run already has the user: 409 is fine.
    await post(`${service.url}/register`, JSON.stringify(USER), 'application/json', [409])
    const form = new URLSearchParams({
      username: USER.username,
      password: USER.password,
    }).toString()
    const formType = 'application/x-www-form-urlencoded'
    const login = await post(`${service.url}/token`, form, formType)
    const accessTokens = new Map<Asymmetric, string>()
    for (const [alg, server] of signedWith) {
      await post(`${server.url}/register`, JSON.stringify(USER), 'application/json', [409])
      accessTokens.set(
        alg,
        String((await post(`${server.url}/token`, form, formType)).access_token),
      )
    }
    const validateWith = (alg: Asymmetric) => ({
      ...validateLoad,
      headers: { authorization: `Bearer ${accessTokens.get(alg)}` },
    })
    const jwksLoad = {
      path: '/.well-known/jwks.json',
      method: 'GET' as const,
      connections: settings.connections,
    }
    const validateLoad = {
      path: '/validate',
      method: 'POST' as const,
      connections: settings.connections,
      headers: { authorization: `Bearer ${String(login.access_token)}` },
    }
    const tokenLoad = {
      path: '/token',
      method: 'POST' as const,
      connections: settings.cores,
      headers: { 'content-type': formType },
      body: form,
    }
    let registerRun = 0
    const registerLoad = () => ({
      path: '/register',
      method: 'POST' as const,
      connections: settings.cores,
      headers: { 'content-type': 'application/json' },
      registerPrefix: `${runtime[0]}${registerRun++}${Math.random().toString(36).slice(2, 7)}x`,
    })

    let distinctTokens: string[] | undefined
    /** DISTINCT_TOKENS valid tokens of the benchmark user, all different, signed like the service's. */
    const manyTokens = async () => {
      if (distinctTokens !== undefined) return distinctTokens
      const minter = createTokenService({ secret: JWT_SECRET, accessTokenTtlSeconds: 3600 })
      const claims = JSON.parse(
        Buffer.from(String(login.access_token).split('.')[1] ?? '', 'base64url').toString(),
      ) as { uid: number; sub: string }
      const subject = { id: claims.uid, username: claims.sub }
      distinctTokens = []
      for (let i = 0; i < DISTINCT_TOKENS; i++) {
        distinctTokens.push((await minter.issueAccessToken(subject)).token)
      }
      return distinctTokens
    }
    const missLoad = async () => ({
      path: '/validate',
      method: 'POST' as const,
      connections: settings.connections,
      bearerTokens: await manyTokens(),
    })

    log(`${version}: warming up`)
    const warmup = settings.warmup
    await load(bare, { ...validateLoad, durationSeconds: warmup })
    await load(service, { ...validateLoad, durationSeconds: warmup })
    if (has('token')) await load(service, { ...tokenLoad, durationSeconds: warmup })
    if (has('register')) await load(service, { ...registerLoad(), durationSeconds: warmup })
    for (const [alg, server] of signedWith) {
      await load(server, { ...validateWith(alg), durationSeconds: warmup })
      await load(server, { ...tokenLoad, durationSeconds: warmup })
    }
    const warmKiB = rssKiB(service.pid)

    const comparisons: Comparison[] = []
    const d = settings.duration
    // A few dozen logins a second against tens of thousands of validations: three times as long
    // for a login comparison, or a 5% target sits inside one round's noise.
    const loginSeconds = 3 * d
    const cores = settings.cores
    if (has('validate')) {
      comparisons.push({
        id: 'validate',
        label: `\`POST /validate\`, one valid token, ${settings.connections} connections`,
        subject: 'service',
        yardstick: 'bare Hono app',
        rounds: [],
      })
    }
    if (has('miss')) {
      await load(service, { ...(await missLoad()), durationSeconds: warmup })
      comparisons.push({
        id: 'miss',
        label: `\`POST /validate\`, ${fmt(DISTINCT_TOKENS)} distinct tokens in turn (each a cache miss) against one token (a hit), ${settings.connections} connections`,
        subject: 'service, misses',
        yardstick: 'service, hits',
        rounds: [],
      })
    }
    if (has('token')) {
      comparisons.push({
        id: 'token',
        label: `\`POST /token\` (login), ${cores} connections`,
        subject: 'service',
        yardstick: `raw Argon2id verify, ${cores} in flight`,
        reference: 'bare Hono app: the hash alone',
        rounds: [],
      })
    }
    if (has('register')) {
      comparisons.push({
        id: 'register',
        label: `\`POST /register\`, ${cores} connections`,
        subject: 'service',
        yardstick: `raw Argon2id hash, ${cores} in flight`,
        rounds: [],
      })
    }
    for (const alg of signedWith.keys()) {
      comparisons.push(
        {
          id: `token-${alg}`,
          label: `\`POST /token\` (login) signed with ${alg}, ${cores} connections, at the same time as the HS256 service, ${loginSeconds} s`,
          subject: `service, ${alg}`,
          yardstick: 'service, HS256',
          rounds: [],
        },
        {
          id: `validate-${alg}`,
          label: `\`POST /validate\`, one valid ${alg} token, ${settings.connections} connections, at the same time as the HS256 service`,
          subject: `service, ${alg}`,
          yardstick: 'service, HS256',
          rounds: [],
        },
      )
    }
    if (signedWith.has('EdDSA')) {
      comparisons.push({
        id: 'jwks',
        label: `\`GET /.well-known/jwks.json\`, ${settings.connections} connections`,
        subject: 'service, EdDSA',
        yardstick: 'bare Hono app: a constant key set',
        rounds: [],
      })
    }
    /**
     * A key-pair service against the HS256 one, both loaded at the same time: they do the same
     * work but for the signature, so a change in the machine's load (which moved the ratio of
     * one-after-the-other runs by up to 20% per round) falls on both alike.
     */
    const againstHs256 = async (
      server: Server,
      subjectLoad: Omit<LoadSpec, 'url' | 'durationSeconds'> & { path: string },
      yardstickLoad: Omit<LoadSpec, 'url' | 'durationSeconds'> & { path: string },
      seconds = d,
    ) => {
      const [subject, yardstick] = await Promise.all([
        load(server, { ...subjectLoad, durationSeconds: seconds }),
        load(service, { ...yardstickLoad, durationSeconds: seconds }),
      ])
      return { subject, yardstick }
    }
    const signer = (alg: Asymmetric) => signedWith.get(alg) as Server
    const measure: Record<ScenarioId, (round: number) => Promise<Comparison['rounds'][number]>> = {
      'token-EdDSA': () => againstHs256(signer('EdDSA'), tokenLoad, tokenLoad, loginSeconds),
      'token-ES256': () => againstHs256(signer('ES256'), tokenLoad, tokenLoad, loginSeconds),
      'validate-EdDSA': () => againstHs256(signer('EdDSA'), validateWith('EdDSA'), validateLoad),
      'validate-ES256': () => againstHs256(signer('ES256'), validateWith('ES256'), validateLoad),
      jwks: async (round) => {
        const [subject, yardstick] = await inTurn<[Measurement, Measurement]>(
          round,
          () => load(signer('EdDSA'), { ...jwksLoad, durationSeconds: d }),
          () => load(bare, { ...jwksLoad, durationSeconds: d }),
        )
        return { subject, yardstick }
      },
      miss: async (round) => {
        const misses = await missLoad()
        const [subject, yardstick] = await inTurn<[Measurement, Measurement]>(
          round,
          () => load(service, { ...misses, durationSeconds: d }),
          () => load(service, { ...validateLoad, durationSeconds: d }),
        )
        return { subject, yardstick }
      },
      validate: async (round) => {
        const [subject, yardstick] = await inTurn<[Measurement, Measurement]>(
          round,
          () => load(service, { ...validateLoad, durationSeconds: d }),
          () => load(bare, { ...validateLoad, durationSeconds: d }),
        )
        return { subject, yardstick }
      },
      token: async (round) => {
        const [subject, yardstick, reference] = await inTurn<
          [Measurement, RateResult, Measurement]
        >(
          round,
          () => load(service, { ...tokenLoad, durationSeconds: d }),
          () => argon2Rate(runtime, 'verify', d),
          () => load(bare, { ...tokenLoad, durationSeconds: d }),
        )
        return { subject, yardstick, reference }
      },
      register: async (round) => {
        const [subject, yardstick] = await inTurn<[Measurement, RateResult]>(
          round,
          () => load(service, { ...registerLoad(), durationSeconds: d }),
          () => argon2Rate(runtime, 'hash', d),
        )
        return { subject, yardstick }
      },
    }
    let engine = ''
    for (let round = 0; round < settings.rounds && comparisons.length > 0; round++) {
      log(`${version}: round ${round + 1} of ${settings.rounds}`)
      for (const comparison of comparisons) {
        const result = await measure[comparison.id](round)
        if (!('rps' in result.yardstick)) engine = result.yardstick.engine
        comparison.rounds.push(result)
      }
    }

    let memory: MemoryReport | null = null
    if (has('sustain')) {
      log(`${version}: ${settings.sustain} s of /validate with ${DISTINCT_TOKENS} distinct tokens`)
      const bearerTokens = await manyTokens()
      const samplesKiB: number[] = []
      const everySecondKiB: number[] = []
      const sampler = setInterval(() => {
        const kib = rssKiB(service.pid)
        everySecondKiB.push(kib)
        if (everySecondKiB.length % 5 === 0) samplesKiB.push(kib)
      }, 1000)
      const sustained = await load(service, {
        path: '/validate',
        method: 'POST',
        connections: settings.connections,
        durationSeconds: settings.sustain,
        bearerTokens,
      })
      clearInterval(sampler)
      const endKiB = rssKiB(service.pid)
      samplesKiB.push(endKiB)
      everySecondKiB.push(endKiB)
      memory = {
        startKiB,
        warmKiB,
        samplesKiB,
        everySecondKiB,
        maxKiB: Math.max(...everySecondKiB),
        bareStartKiB,
        sustained,
      }
    }
    return { runtime, version, engine, comparisons, memory }
  } finally {
    await service.stop()
    await bare.stop()
    for (const server of signedWith.values()) await server.stop()
  }
}

const rateOf = (m: Measurement | RateResult) => ('rps' in m ? m.rps : m.rate)
const cpuOf = (m: Measurement | RateResult) =>
  'rps' in m ? m.cpuUsPerRequest : m.cpuUsPerOperation
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const mib = (kib: number) => `${fmt(kib / 1024, 1)} MiB`
const ratios = (
  c: Comparison,
  pick: (r: Comparison['rounds'][number]) => Measurement = (r) => r.subject,
) => c.rounds.map((r) => rateOf(pick(r)) / rateOf(r.yardstick))
const medianRatio = (c: Comparison | undefined) => (c ? median(ratios(c)) : Number.NaN)

function comparisonRows(report: RuntimeReport): string[] {
  const rows: string[] = []
  for (const c of report.comparisons) {
    const cell = (ms: (Measurement | RateResult)[], name: string, ratioOf?: number[]) => {
      const loads = ms.filter((m): m is Measurement => 'rps' in m)
      const measured = loads.length === ms.length
      const sum = (pick: (m: Measurement) => number) => loads.reduce((s, m) => s + pick(m), 0)
      const cpu = ms.map(cpuOf)
      const slow = ms.some((m) => rateOf(m) < 100)
      return [
        ratioOf !== undefined && ms === subjects ? c.label : '',
        name,
        fmt(median(ms.map(rateOf)), slow ? 1 : 0),
        measured ? fmt(median(loads.map((m) => m.latencyP50Ms))) : '-',
        measured ? fmt(median(loads.map((m) => m.latencyP99Ms))) : '-',
        measured ? `${fmt(sum((m) => m.errors + m.timeouts))} / ${fmt(sum((m) => m.non2xx))}` : '-',
        cpu.every((v) => typeof v === 'number') ? fmt(median(cpu as number[]), slow ? 0 : 1) : '-',
        ratioOf === undefined
          ? ''
          : `**${fmt(median(ratioOf), 2)}x** (${ratioOf.map((r) => fmt(r, 2)).join(', ')})`,
      ]
    }
    const subjects = c.rounds.map((r) => r.subject)
    rows.push(`| ${cell(subjects, c.subject, ratios(c)).join(' | ')} |`)
    const references = c.rounds.flatMap((r) => (r.reference ? [r.reference] : []))
    if (c.reference !== undefined && references.length === c.rounds.length) {
      const referenceRatios = ratios(c, (r) => r.reference as Measurement)
      rows.push(`| ${cell(references, c.reference, referenceRatios).join(' | ')} |`)
    }
    rows.push(
      `| ${cell(
        c.rounds.map((r) => r.yardstick),
        c.yardstick,
      ).join(' | ')} |`,
    )
  }
  return rows
}

/**
 * How much higher RSS bottomed out in the last third of the sustained phase than in the middle
 * third, in KiB (the first third fills the cache and lets the heap settle). Garbage collectors make
 * RSS a saw whose peaks depend on when they run; the lows follow what stays alive, which a leak
 * lifts.
 */
function troughGrowth(memory: MemoryReport): { growthKiB: number; middleLowKiB: number } {
  const samples = memory.everySecondKiB
  const third = Math.floor(samples.length / 3)
  const middleLowKiB = Math.min(...samples.slice(third, 2 * third))
  return { growthKiB: Math.min(...samples.slice(2 * third)) - middleLowKiB, middleLowKiB }
}

function targetRows(report: RuntimeReport): string[] {
  const byId = (id: ScenarioId) => report.comparisons.find((c) => c.id === id)
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**')
  const rows: string[] = []
  const validate = byId('validate')
  if (validate) {
    const v = medianRatio(validate)
    const failures = validate.rounds.reduce((s, r) => {
      const m = r.subject
      return s + m.errors + m.timeouts + m.non2xx
    }, 0)
    rows.push(
      `| ${report.version} | \`/validate\` >= 0.70x bare Hono, 0 errors | ${fmt(v, 2)}x, ${failures} errors | ${verdict(v >= 0.7 && failures === 0)} |`,
    )
  }
  const token = byId('token')
  if (token) {
    const t = medianRatio(token)
    rows.push(
      `| ${report.version} | \`/token\` >= 0.85x raw Argon2id verify (${report.engine}) | ${fmt(t, 2)}x | ${verdict(t >= 0.85)} |`,
    )
  }
  const miss = byId('miss')
  if (miss) {
    const r = medianRatio(miss)
    const cpu = (pick: (r: Comparison['rounds'][number]) => Measurement | RateResult) =>
      median(miss.rounds.map((round) => cpuOf(pick(round)) ?? Number.NaN))
    const cpuRatio = cpu((round) => round.subject) / cpu((round) => round.yardstick)
    rows.push(
      `| ${report.version} | a cache miss on \`/validate\` costs at most 2x a hit (req/s >= 0.50x) | ${fmt(r, 2)}x req/s; ${fmt(cpuRatio, 2)}x the CPU of a hit | ${verdict(r >= 0.5)} |`,
    )
  }
  for (const [scenario, what] of [
    ['token', 'a login'],
    ['validate', '`/validate` (verified-token cache)'],
  ] as const) {
    const eddsa = byId(`${scenario}-EdDSA`)
    if (eddsa === undefined) continue
    const r = medianRatio(eddsa)
    rows.push(
      `| ${report.version} | ${what} signed with EdDSA within 5% of HS256 (>= 0.95x) | ${fmt(r, 2)}x | ${verdict(r >= 0.95)} |`,
    )
  }
  const memory = report.memory
  if (memory) {
    const { growthKiB, middleLowKiB } = troughGrowth(memory)
    const flat = growthKiB <= 0.1 * middleLowKiB
    rows.push(
      `| ${report.version} | RSS flat under sustained load | lowest RSS of the last third ${growthKiB >= 0 ? '+' : ''}${mib(growthKiB)} against the middle third | ${flat ? 'met (within 10%)' : '**missed**'} |`,
    )
  }
  return rows
}

function render(
  reports: RuntimeReport[],
  started: Date,
  loadBefore: number[],
  loadAfter: number[],
) {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const loads = (l: number[]) => l.map((n) => fmt(n, 2)).join(', ')
  const lines = [
    `Run of ${started.toISOString().replace(/\.\d+Z$/, 'Z')}: \`bun run bench\`${settings.quick ? ' with BENCH_QUICK=1 (a smoke run)' : ''}.`,
    '',
    `- Machine: ${cpu}, ${settings.cores} cores, ${mib(os.totalmem() / 1024)} RAM, ${os.type()} ${os.release()}.`,
    `- Load average (1, 5, 15 min): ${loads(loadBefore)} before the run, ${loads(loadAfter)} after.`,
    `- Conditions: ${settings.note || 'not stated (set BENCH_NOTE)'}`,
    `- Settings: ${settings.rounds} rounds of ${settings.duration} s per measurement, interleaved; database \`${settings.databaseUrl}\`; Argon2id m=${settings.argon2.memoryKiB} KiB, t=${settings.argon2.iterations}, p=${settings.argon2.parallelism}; load generator autocannon ${AUTOCANNON_VERSION} on Node.`,
  ]
  if (reports.length === 0) return lines.join('\n')
  lines.push(
    '',
    '### Targets',
    '',
    '| runtime | target | measured | verdict |',
    '| --- | --- | --- | --- |',
    ...reports.flatMap(targetRows),
    '',
    '### Throughput',
    '',
    'Rates are medians over the rounds; the ratio is the median of the per-round ratios (each round',
    'measures the service and its yardstick one right after the other), each round in brackets.',
    'Latency resolution is 1 ms (autocannon). Errors are socket errors and timeouts; non-2xx are',
    "HTTP statuses. CPU is the measured process's user + system time (all threads) per request or",
    'per hash.',
    '',
  )
  for (const report of reports) {
    if (report.comparisons.length === 0) continue
    lines.push(
      `#### ${report.version} (password engine: ${report.engine || 'not measured'})`,
      '',
      '| scenario | server | req/s (ops/s) | p50 ms | p99 ms | errors / non-2xx | CPU µs/req | ratio |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...comparisonRows(report),
      '',
    )
  }
  const memories = reports.filter((r) => r.memory !== null)
  if (memories.length > 0) {
    lines.push(
      '### Memory under sustained load',
      '',
      `\`POST /validate\` for ${settings.sustain} s with ${fmt(DISTINCT_TOKENS)} distinct valid tokens in turn, more than`,
      'the verified-token cache holds, so every request misses it and the cache keeps evicting: the',
      'worst case for both memory and CPU. RSS of the service process, shown every 5 s and read every',
      'second; the verdict compares the lowest RSS of the last third of the phase with that of the',
      'middle third (the first third fills the cache and lets the heap settle).',
      '',
      '| runtime | RSS at start | after warm-up | during sustained load | max | bare app at start | req/s | p99 ms | errors / non-2xx | CPU µs/req |',
      '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...memories.map((r) => {
        const m = r.memory as MemoryReport
        const s = m.sustained
        const samples = m.samplesKiB.map((k) => fmt(k / 1024)).join(' → ')
        return `| ${r.version} | ${mib(m.startKiB)} | ${mib(m.warmKiB)} | ${samples} MiB | ${mib(m.maxKiB)} | ${mib(m.bareStartKiB)} | ${fmt(s.rps)} | ${fmt(s.latencyP99Ms)} | ${fmt(s.errors + s.timeouts)} / ${fmt(s.non2xx)} | ${s.cpuUsPerRequest === null ? '-' : fmt(s.cpuUsPerRequest, 1)} |`
      }),
    )
  }
  return lines.join('\n')
}

/** The Worker leg's results: CPU per login against the native engines, /validate's queries. */
function workerLegSection(report: WorkerLegReport | null): string {
  if (report === null) return ''
  const bun = report.logins.find((l) => l.where === 'Bun')
  const worker = report.logins.find((l) => l.engine === 'wasm')
  const vsBun = (ms: number) => (bun ? `${fmt(ms / bun.cpuMsPerLogin, 2)}x` : '-')
  const v = report.validate
  const lines = [
    '### Worker leg (workerd through `wrangler dev`, local)',
    '',
    'CPU time the serving process used per login: sequential `POST /token` logins of one user at',
    `Argon2id m=${settings.argon2.memoryKiB} KiB, t=${settings.argon2.iterations}, p=${settings.argon2.parallelism}, every runtime on the same Postgres database (the Worker through the`,
    "local Neon endpoint, Bun and Node over TCP), so the database's own work is outside every",
    "figure; read from `/proc` for the workerd processes (the Worker's and the proxy wrangler puts in",
    "front of it, so the Worker's figure errs high) and for the Bun and Node service processes.",
    'The last rows are one verify alone in workerd (bench/argon2-worker.ts), per engine.',
    '',
    '| where | password engine | CPU ms per login | against Bun |',
    '| --- | --- | ---: | ---: |',
    ...[...report.logins, ...report.rawVerify].map(
      (l) =>
        `| ${l.where} | ${l.engine} | ${fmt(l.cpuMsPerLogin, 1)} | ${vsBun(l.cpuMsPerLogin)} |`,
    ),
    '',
    `\`POST /validate\`: database queries per 1,000 requests, ${v.isolates} isolates one after the other (each a`,
    `new \`wrangler dev\` start, so an empty memory), ${fmt(v.requestsPerIsolate)} requests each over the valid tokens of`,
    `${v.accounts} accounts, \`TOKEN_REVOCATION_CACHE_SECONDS=${v.cacheSeconds}\` (so that the restarts fall within it):`,
    '',
    '| isolates | queries per 1,000 `/validate` |',
    '| --- | ---: |',
    `| in one place (one Cache API, shared revocation cache) | ${fmt(v.onePlace, 1)} |`,
    `| each in a place of its own (nothing shared, as without the Cache API layer) | ${fmt(v.ownPlaces, 1)} |`,
    '',
    '| target | measured | verdict |',
    '| --- | --- | --- |',
    worker && bun
      ? `| a login on the Worker at most 2x the CPU of a native-engine login on Bun | ${vsBun(worker.cpuMsPerLogin)} (${fmt(worker.cpuMsPerLogin, 1)} against ${fmt(bun.cpuMsPerLogin, 1)} ms) | ${worker.cpuMsPerLogin <= 2 * bun.cpuMsPerLogin ? 'met' : '**missed**'} |`
      : '| a login on the Worker at most 2x a Bun login | not measured (BENCH_RUNTIMES without bun) | - |',
  ]
  return lines.join('\n')
}

const BEGIN = '<!-- bench:begin (written by `bun run bench`; edits here are overwritten) -->'
const END = '<!-- bench:end -->'

function writeReport(section: string) {
  const block = `${BEGIN}\n${section}\n${END}`
  const current = existsSync(settings.out) ? readFileSync(settings.out, 'utf8') : '# Benchmarks\n'
  const begin = current.indexOf('<!-- bench:begin')
  const end = current.indexOf(END)
  const next =
    begin >= 0 && end > begin
      ? `${current.slice(0, begin)}${block}${current.slice(end + END.length)}`
      : `${current.trimEnd()}\n\n## Latest run\n\n${block}\n`
  writeFileSync(settings.out, next)
}

const started = new Date()
const loadBefore = os.loadavg()
await migrateIfPostgres()
if (settings.runtimes.includes('node')) await buildForNode()
const reports: RuntimeReport[] = []
const perRuntime = ['validate', 'miss', 'token', 'register', 'algorithms', 'sustain']
if (perRuntime.some((scenario) => settings.scenarios.has(scenario))) {
  for (const runtime of settings.runtimes) reports.push(await benchRuntime(runtime))
}
const workerLeg = settings.scenarios.has('worker')
  ? await benchWorkerLeg({
      root: ROOT,
      nodeBin: NODE_BIN,
      runtimes: settings.runtimes,
      logins: settings.quick ? 10 : 30,
      jwtSecret: JWT_SECRET,
      log,
      startService: (runtime, serviceEnv) =>
        startServer(`service (${runtime})`, runtime, `src/entry/${runtime}.ts`, serviceEnv),
    })
  : null
const section = [render(reports, started, loadBefore, os.loadavg()), workerLegSection(workerLeg)]
  .filter((part) => part !== '')
  .join('\n\n')
writeReport(section)
console.log(section)
log(`written to ${settings.out}`)
