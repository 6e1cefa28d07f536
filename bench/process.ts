/**
 * The benchmark's processes: every child it starts goes through {@link startProcess}, which
 * spawns it, waits until its output matches a pattern (or it ends), and stops it on exit, so no
 * server outlives a run. {@link runToEnd} is the same for a process that runs to its end.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const children = new Set<ChildProcess>()
const stopAll = () => {
  for (const child of children) child.kill('SIGTERM')
}
process.on('exit', stopAll)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    stopAll()
    process.exit(130)
  })
}

/** What to start and what to wait for. */
export interface ProcessSpec {
  name: string
  command: string
  args: string[]
  cwd: string
  env: Record<string, string | undefined>
  /** Resolves once stdout or stderr matches; without it, once the process ends with status 0. */
  ready?: RegExp
  /** Text written to stdin, which is then closed. */
  input?: string
  timeoutMs?: number
}

/** A started process. */
export interface StartedProcess {
  name: string
  pid: number
  /** The match of `ready` (undefined for a process run to its end). */
  match: RegExpExecArray | undefined
  /** Everything it printed so far (stdout and stderr). */
  output(): string
  /** Its stdout alone. */
  stdout(): string
  /** Sends SIGTERM and resolves once it has exited. */
  stop(): Promise<void>
}

/** Starts a process and resolves when its output matches `spec.ready` (or, without one, when it ends well). */
export function startProcess(spec: ProcessSpec): Promise<StartedProcess> {
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  let all = ''
  let out = ''
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done()
      child.once('exit', () => done())
      child.kill('SIGTERM')
    })
  const started = (match: RegExpExecArray | undefined): StartedProcess => ({
    name: spec.name,
    pid: child.pid ?? -1,
    match,
    output: () => all,
    stdout: () => out,
    stop,
  })
  return new Promise((resolve, reject) => {
    let settled = false
    const settle = (outcome: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      outcome()
    }
    const timer = setTimeout(
      () =>
        settle(
          () =>
            void stop().then(() => reject(new Error(`${spec.name} did not get ready:\n${all}`))),
        ),
      spec.timeoutMs ?? 60_000,
    )
    const onData = (chunk: Buffer, isStdout: boolean) => {
      all += chunk
      if (isStdout) out += chunk
      const match = spec.ready?.exec(all) ?? null
      if (match !== null) settle(() => resolve(started(match)))
    }
    child.stdout.on('data', (chunk: Buffer) => onData(chunk, true))
    child.stderr.on('data', (chunk: Buffer) => onData(chunk, false))
    child.on('error', (error) => settle(() => reject(error)))
    child.on('close', (code) => {
      children.delete(child)
      if (spec.ready === undefined && code === 0) settle(() => resolve(started(undefined)))
      else settle(() => reject(new Error(`${spec.name} exited with ${code}:\n${all}`)))
    })
    child.stdin.end(spec.input ?? '')
  })
}

/** Runs a process to its end and returns its stdout; throws with its output when it fails. */
export async function runToEnd(spec: Omit<ProcessSpec, 'ready'>): Promise<string> {
  return (await startProcess({ ...spec, timeoutMs: spec.timeoutMs ?? 600_000 })).stdout()
}

/** CPU time used so far by a process, in milliseconds; null where /proc is missing. */
export function cpuMs(pid: number): number | null {
  const stat = `/proc/${pid}/stat`
  if (!existsSync(stat)) return null
  const fields = readFileSync(stat, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1000) / 100
}

/** The processes started by `pid`, its children's children included (Linux /proc); empty elsewhere. */
export function descendants(pid: number): { pid: number; command: string }[] {
  if (!existsSync('/proc')) return []
  const parentOf = new Map<number, number>()
  const commandOf = new Map<number, string>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.split(') ')[1]?.split(' ')[1])
      parentOf.set(Number(entry), ppid)
      commandOf.set(
        Number(entry),
        readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' '),
      )
    } catch {
      // gone meanwhile
    }
  }
  const found: { pid: number; command: string }[] = []
  const visit = (parent: number) => {
    for (const [child, ppid] of parentOf) {
      if (ppid !== parent) continue
      found.push({ pid: child, command: commandOf.get(child) ?? '' })
      visit(child)
    }
  }
  visit(pid)
  return found
}
