import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** `node_modules/.bin`, where Node 24, wrangler and the other tools live. */
export const BIN = `${ROOT}node_modules/.bin`

/** The Node binary the project runs on (the `node` dev dependency), or this process's own. */
export const NODE = existsSync(`${BIN}/node`) ? `${BIN}/node` : process.execPath

/** The Bun binary: `BUN_BINARY` if set, otherwise `bun` from the PATH. */
export const BUN = process.env.BUN_BINARY ?? 'bun'

/** True when running under CI, where a missing prerequisite must fail rather than skip. */
export const IN_CI = process.env.CI === 'true'

const INHERITED = ['HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'USER', 'SHELL', 'CI', 'BUN_INSTALL']

/**
 * A child environment holding only the basics (PATH with node_modules/.bin first, HOME, ...) and
 * `extra`, so no DATABASE_URL or JWT_SECRET of the developer's shell leaks into a server under test.
 */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: `${BIN}:${process.env.PATH ?? ''}` }
  for (const name of INHERITED) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return { ...env, ...extra }
}

/** A server started by {@link startServer}. */
export interface ServerProcess {
  /** Base URL, without a trailing slash. */
  url: string
  /** Everything the process has printed so far (stdout and stderr interleaved). */
  output(): string
  /** Stops the process and everything it started (its process group). Safe to call twice. */
  stop(): Promise<void>
}

/** Options of {@link startServer}. */
export interface StartOptions {
  /** For error messages. */
  name: string
  command: string
  args: string[]
  env: Record<string, string>
  /** Working directory; the repository root unless given. */
  cwd?: string
  /** Matched against the output; its first group is the server's URL. */
  ready: RegExp
  timeoutMs?: number
}

const MAX_OUTPUT = 4 * 1024 * 1024
const running = new Set<ChildProcess>()
let exitHookInstalled = false

const GRACE_MS = 10_000

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false
  }
}

function groupAlive(pid: number): boolean {
  return signalGroup(pid, 0)
}

/**
 * Starts a server in its own process group and waits until its output announces a URL.
 * Rejects (after stopping it) if the process exits first or the timeout passes; the error
 * carries the end of its output.
 */
export function startServer(options: StartOptions): Promise<ServerProcess> {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const child of running) if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
    })
  }
  const child = spawn(options.command, options.args, {
    cwd: options.cwd ?? ROOT,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let output = ''
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  })

  const stop = async () => {
    if (child.pid === undefined) return
    signalGroup(child.pid, 'SIGTERM')
    // The group leader (`bun run`, wrangler) may exit before the processes it started have
    // cleaned up: wait for the whole group, then kill whatever is left.
    const until = Date.now() + GRACE_MS
    while (groupAlive(child.pid) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (groupAlive(child.pid)) signalGroup(child.pid, 'SIGKILL')
    await exited
    running.delete(child)
  }

  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer)
      void stop().then(() =>
        reject(new Error(`${options.name}: ${reason}\n--- output ---\n${output.slice(-4000)}`)),
      )
    }
    const timer = setTimeout(
      () => fail(`not ready after ${options.timeoutMs ?? 90_000} ms`),
      options.timeoutMs ?? 90_000,
    )
    let ready = false
    const onData = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT) output += chunk.toString('utf8')
      if (ready) return
      const match = options.ready.exec(output)
      if (match?.[1] === undefined) return
      ready = true
      clearTimeout(timer)
      resolve({
        url: match[1].replace('//localhost:', '//127.0.0.1:').replace(/\/$/, ''),
        output: () => output,
        stop,
      })
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', (error) => fail(`could not start ${options.command}: ${error.message}`))
    child.once('exit', (code, signal) => {
      if (!ready) fail(`exited before it was ready (code ${code}, signal ${signal})`)
    })
  })
}

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export function run(command: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve(output)
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`))
    })
  })
}
