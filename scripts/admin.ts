/**
 * `bun run admin -- <command> ...`: the admin API from a terminal, for operators without a UI. It
 * calls the same HTTP API as any other client (`/admin/users`, through Hono's typed client), so
 * it works against any instance on any runtime. Run it with no command for the usage.
 *
 * The base URL comes from --url or EDGE_AUTH_URL (default http://localhost:8001), the admin API
 * key from --key or EDGE_AUTH_ADMIN_KEY (prefer the variable: a flag shows in the process list).
 * A new password is read from stdin, never from the command line.
 */
import { parseArgs } from 'node:util'
import { hc } from 'hono/client'
import type { AppType } from '../src/app'
import { adminKeyHash, newAdminKey } from '../src/auth/admin-keys'
import { usernameKey } from '../src/auth/credentials'

const USAGE = `usage: bun run admin -- <command> [arguments] [--url URL] [--key KEY]

commands:
  new-key [NAME]                        make an admin API key and its ADMIN_API_KEYS entry (offline)
  list [--username PREFIX] [--limit N] [--cursor C]
                                        accounts in creation order (username: by prefix)
  show USER                             one account: created, last login, ban, active sessions
  ban USER --reason TEXT [--until ISO | --for 30m|12h|7d|2w]
                                        ban (and end every session); without an end, until unban
  unban USER                            lift the ban
  end-sessions USER                     end every session, as the user's own logout does
  set-password USER                     set a new password, read from stdin; sessions end
  reset-mfa USER                        remove the second factor (lost phone and recovery codes):
                                        TOTP off, recovery codes deleted; sessions end
  delete USER --yes                     delete the account

USER is a username, or #ID for an id. The URL comes from --url or EDGE_AUTH_URL
(default http://localhost:8001), the key from --key or EDGE_AUTH_ADMIN_KEY.`

/** What the command line tool reads and writes; injected so tests can run it without a process. */
export interface AdminCliIo {
  env: Record<string, string | undefined>
  /** The HTTP client's fetch (default: the global one). */
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> | Response
  /** The whole of stdin, read only by `set-password`. */
  readStdin(): Promise<string>
  out(text: string): void
  err(text: string): void
}

/** A usage mistake (exit code 2) or an answer of the API that is not a success (exit code 1). */
class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message)
  }
}

const usage = (message: string) => new CliError(`${message}\n\n${USAGE}`, 2)

const DURATION = /^(\d{1,6})([mhdw])$/
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** The end of a ban from --until (an ISO date-time) or --for (a duration from now). */
function banEnd(until: string | undefined, duration: string | undefined): string | undefined {
  if (until !== undefined && duration !== undefined) throw usage('give --until or --for, not both')
  if (until !== undefined) return until
  if (duration === undefined) return undefined
  const match = DURATION.exec(duration)
  if (match === null) throw usage(`--for ${duration}: expected a number and m, h, d or w (7d)`)
  const unit = match[2] as keyof typeof UNIT_MS
  return new Date(Date.now() + Number(match[1]) * UNIT_MS[unit]).toISOString()
}

/** The API's `detail`, as one line. */
async function failure(res: {
  status: number
  statusText: string
  json(): Promise<unknown>
}): Promise<CliError> {
  let detail: unknown = res.statusText
  try {
    detail = ((await res.json()) as { detail?: unknown }).detail ?? detail
  } catch {
    // Not JSON: the status text says enough.
  }
  return new CliError(
    `${res.status}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`,
    1,
  )
}

/**
 * Runs one command. @returns the exit code: 0 done, 1 the API refused (its status and `detail` on
 * stderr), 2 a usage mistake.
 */
export async function runAdminCli(argv: string[], io: AdminCliIo): Promise<number> {
  try {
    await run(argv, io)
    return 0
  } catch (error) {
    if (!(error instanceof CliError)) throw error
    io.err(error.message)
    return error.exitCode
  }
}

async function run(argv: string[], io: AdminCliIo): Promise<void> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    throw usage(error instanceof Error ? error.message : String(error))
  }
  const { values, positionals } = parsed
  const [command, target, ...extra] = positionals
  if (extra.length > 0) throw usage(`unexpected arguments: ${extra.join(' ')}`)
  if (command === undefined) throw usage('no command')

  if (command === 'new-key') {
    const name = target ?? 'admin'
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw usage('NAME: 1 to 64 of A-Z a-z 0-9 . _ -')
    const key = newAdminKey()
    io.out(`key (give it to the caller; it is not stored anywhere): ${key}`)
    io.out(`ADMIN_API_KEYS entry (append, comma-separated): ${name}:${await adminKeyHash(key)}`)
    return
  }

  const key = values.key ?? io.env.EDGE_AUTH_ADMIN_KEY
  if (key === undefined || key === '') throw usage('no admin key: set EDGE_AUTH_ADMIN_KEY or --key')
  const baseUrl = values.url ?? io.env.EDGE_AUTH_URL ?? 'http://localhost:8001'
  const send = io.fetch ?? fetch
  const api = hc<AppType>(baseUrl, {
    headers: { authorization: `Bearer ${key}` },
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      try {
        return await send(input, init)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        throw new CliError(`cannot reach ${baseUrl}: ${reason}`, 1)
      }
    },
  })
  const print = (value: unknown) => io.out(JSON.stringify(value, null, 2))

  if (command === 'list') {
    if (target !== undefined) throw usage(`list takes no USER (use --username ${target})`)
    const res = await api.admin.users.$get({
      query: {
        ...(values.username === undefined ? {} : { username: values.username }),
        ...(values.limit === undefined ? {} : { limit: values.limit }),
        ...(values.cursor === undefined ? {} : { cursor: values.cursor }),
      },
    })
    if (res.status !== 200) throw await failure(res)
    print(await res.json())
    return
  }

  if (target === undefined) throw usage(`${command} needs a USER`)
  const id = await resolveUser(api, target)
  const user = api.admin.users[':id']
  const param = { id }
  switch (command) {
    case 'show': {
      const res = await user.$get({ param })
      if (res.status !== 200) throw await failure(res)
      return print(await res.json())
    }
    case 'ban': {
      if (values.reason === undefined) throw usage('ban needs --reason')
      const until = banEnd(values.until, values.for)
      const res = await user.ban.$post({
        param,
        json: { reason: values.reason, ...(until === undefined ? {} : { until }) },
      })
      if (res.status !== 200) throw await failure(res)
      return print(await res.json())
    }
    case 'unban': {
      const res = await user.ban.$delete({ param })
      if (res.status !== 200) throw await failure(res)
      return print(await res.json())
    }
    case 'end-sessions': {
      const res = await user.sessions.$delete({ param })
      if (res.status !== 204) throw await failure(res)
      return io.out(`every session of ${target} ended`)
    }
    case 'set-password': {
      const password = (await io.readStdin()).replace(/\r?\n$/, '')
      if (password === '') throw usage('set-password reads the new password from stdin')
      const res = await user.password.$put({ param, json: { new_password: password } })
      if (res.status !== 204) throw await failure(res)
      return io.out(`password of ${target} set; every session ended`)
    }
    case 'reset-mfa': {
      const res = await user.mfa.$delete({ param })
      if (res.status !== 200) throw await failure(res)
      return print(await res.json())
    }
    case 'delete': {
      if (values.yes !== true) throw usage('delete needs --yes')
      const res = await user.$delete({ param })
      if (res.status !== 204) throw await failure(res)
      return io.out(`${target} deleted`)
    }
    default:
      throw usage(`unknown command: ${command}`)
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      username: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      reason: { type: 'string' },
      until: { type: 'string' },
      for: { type: 'string' },
      yes: { type: 'boolean' },
    },
  })
}

/**
 * The id of USER: `#42` is an id; anything else a username, found through the listing by prefix
 * and matched by its key (case-insensitively, as logins match it).
 */
async function resolveUser(api: ReturnType<typeof hc<AppType>>, user: string): Promise<string> {
  const byId = /^#([1-9]\d{0,9})$/.exec(user)
  if (byId?.[1] !== undefined) return byId[1]
  const wanted = usernameKey(user)
  let cursor: string | undefined
  for (;;) {
    const res = await api.admin.users.$get({
      query: { username: user, limit: '100', ...(cursor === undefined ? {} : { cursor }) },
    })
    if (res.status !== 200) throw await failure(res)
    const page = await res.json()
    const match = page.users.find((u) => usernameKey(u.username) === wanted)
    if (match !== undefined) return String(match.id)
    if (page.next_cursor === null) throw new CliError(`no account named ${user}`, 1)
    cursor = page.next_cursor
  }
}

if (import.meta.main) {
  const code = await runAdminCli(process.argv.slice(2), {
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  })
  process.exit(code)
}
