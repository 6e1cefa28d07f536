/**
 * What the tests of real gateways (nginx, Caddy) share: an upstream that echoes what reaches it,
 * free ports, the documented configuration block, and waiting for the gateway to listen.
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { resolve } from 'node:path'

/** What the upstream saw of one request. */
export interface Seen {
  method: string
  url: string
  user: string | null
  userId: string | null
  body: string
}

/** An upstream on a free port that answers each request with what it saw, and remembers it. */
export async function startEchoUpstream(): Promise<{
  server: Server
  port: number
  seen: Seen[]
  close: () => Promise<void>
}> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const header = (name: string) => (req.headers[name] as string | undefined) ?? null
      const record: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        user: header('x-auth-user'),
        userId: header('x-auth-user-id'),
        body,
      }
      seen.push(record)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(record))
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const port = (server.address() as { port: number }).port
  return { server, port, seen, close: () => new Promise((done) => server.close(() => done())) }
}

/** A port free on 127.0.0.1 just now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createNetServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

const GATEWAYS_MD = resolve(import.meta.dirname, '..', '..', 'docs', 'gateways.md')

/**
 * The first ```` ```language ```` block of docs/gateways.md, with each `[from, to]` replaced (the
 * ports); throws when the block or a `from` is missing, so the documentation cannot drift.
 */
export function documentedConfig(language: string, replacements: [string, string][]): string {
  const fence = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``)
  const block = fence.exec(readFileSync(GATEWAYS_MD, 'utf8'))?.[1]
  if (block === undefined) throw new Error(`docs/gateways.md has no ${language} block`)
  let config = block
  for (const [from, to] of replacements) {
    if (!config.includes(from))
      throw new Error(`docs/gateways.md: no "${from}" in the ${language} block`)
    config = config.replace(from, to)
  }
  return config
}

/** Waits until `url` answers, failing early if the gateway process exits. */
export async function waitUntilUp(
  name: string,
  url: string,
  output: () => string,
  child: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${output()}`)
    try {
      await fetch(url)
      return
    } catch {
      await new Promise((done) => setTimeout(done, 100))
    }
  }
  throw new Error(`${name} did not start:\n${output()}`)
}
