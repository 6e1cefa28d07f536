import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Where `initdb` and `pg_ctl` are, or why they cannot be used. */
export type PostgresBinaries = { ok: true; bin: string } | { ok: false; reason: string }

const isRoot = () => process.getuid?.() === 0

/**
 * Finds a PostgreSQL installation's binaries: `PG_BIN`, then Debian's /usr/lib/postgresql/<n>/bin
 * (newest first). As root, `runuser` is needed too, since initdb refuses to run as root.
 */
export function findPostgresBinaries(): PostgresBinaries {
  const candidates = [process.env.PG_BIN]
  const debian = '/usr/lib/postgresql'
  if (existsSync(debian)) {
    const versions = readdirSync(debian).sort((a, b) => Number(b) - Number(a))
    candidates.push(...versions.map((v) => join(debian, v, 'bin')))
  }
  const bin = candidates.find(
    (dir) =>
      dir !== undefined && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')),
  )
  if (bin === undefined) {
    return { ok: false, reason: 'initdb/pg_ctl not found (set PG_BIN or install postgresql)' }
  }
  if (isRoot() && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')) {
    return { ok: false, reason: 'running as root without runuser: initdb refuses to run as root' }
  }
  return { ok: true, bin }
}

/** A free TCP port on 127.0.0.1 (free when asked; the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

/** A Postgres cluster in a temporary directory, on a free port, that a test may stop and freeze. */
export interface ThrowawayPostgres {
  url: string
  start(): Promise<void>
  /** A fast shutdown: sessions are ended, new connections are refused. */
  stop(): Promise<void>
  /** SIGSTOPs the postmaster and its children: the server keeps its sockets but answers nothing. */
  freeze(): void
  /** SIGCONTs what {@link ThrowawayPostgres.freeze} stopped. */
  thaw(): void
  /** Stops the server and deletes its directory. */
  destroy(): Promise<void>
}

/** Creates and starts a throwaway cluster with `initdb` and `pg_ctl` (as the `postgres` user when root). */
export async function startThrowawayPostgres(bin: string): Promise<ThrowawayPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-pg-'))
  if (isRoot()) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  const data = join(dir, 'data')
  const port = await freePort()
  const pg = (tool: string, args: string[]) =>
    isRoot()
      ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args])
      : run(join(bin, tool), args)

  await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`
  const start = () =>
    pg('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-t',
      '30',
      '-o',
      options,
      'start',
    ]).then(() => undefined)
  const stop = (mode: 'fast' | 'immediate') =>
    pg('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']).then(() => undefined)
  let frozen: number[] = []
  const signal = (pids: number[], name: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name)
      } catch {}
    }
  }
  await start()

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop: () => stop('fast'),
    freeze() {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      frozen = [postmaster, ...childrenOf(postmaster)]
      signal(frozen, 'SIGSTOP')
    },
    thaw() {
      signal(frozen, 'SIGCONT')
      frozen = []
    },
    async destroy() {
      signal(frozen, 'SIGCONT')
      await stop('immediate').catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The direct children of a process, read from /proc (Linux). */
function childrenOf(parent: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === parent) children.push(Number(entry))
    } catch {}
  }
  return children
}
