/**
 * The client address as real servers see it: the Bun entry point run as a process, and the Node
 * adapter serving the app on a socket. Registration is limited to 2 per address, so the third
 * request shows which address was counted.
 */
import { execFileSync } from 'node:child_process'
import { serve } from '@hono/node-server'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../src/app'
import { createPasswordHasher } from '../src/auth/password'
import { createTokenService } from '../src/auth/tokens'
import { DEFAULT_SECURITY } from '../src/config'
import { nodeClientAddress } from '../src/entry/client-address'
import { createLogger } from '../src/logger'
import { FAST_ARGON2, TEST_SECRET } from './support/app'
import { startBunServer } from './support/bun-server'
import { openMigratedPglite } from './support/pglite'

const password = 'correct horse battery staple'
const unique = () => `entry_${Math.random().toString(36).slice(2, 10)}`

function hasBun(): boolean {
  try {
    execFileSync('bun', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const bunAvailable = hasBun()
const mustRun = process.env.CI === 'true'
if (!bunAvailable && !mustRun) console.warn('Skipping the Bun entry point test: no bun on PATH')

const register = (base: string, forwardedFor?: string) =>
  fetch(new URL('/register', base), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
    },
    body: JSON.stringify({ name: 'Entry', username: unique(), password }),
  })

interface Started {
  base: string
  logs: string[]
  stop(): Promise<void>
}

async function startBun(env: Record<string, string>): Promise<Started> {
  const server = await startBunServer({ THROTTLE_REGISTER_ADDRESS_MAX: '2', ...env })
  return {
    base: server.url,
    get logs() {
      return server.output().split('\n')
    },
    stop: server.stop,
  }
}

async function startNode(trustProxyHops: number): Promise<Started> {
  const handle = await openMigratedPglite()
  const logs: string[] = []
  const app = createApp({
    db: handle.db,
    passwords: createPasswordHasher({ params: FAST_ARGON2 }),
    tokens: createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 600 }),
    logger: createLogger((line) => logs.push(line)),
    clientAddress: nodeClientAddress,
    security: {
      ...DEFAULT_SECURITY,
      trustProxyHops,
      throttle: {
        ...DEFAULT_SECURITY.throttle,
        registerAddress: { max: 2, windowSeconds: 3600, lockoutSeconds: 3600 },
      },
    },
  })
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>(
    (resolve) => {
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve({ server, port: info.port }),
      )
    },
  )
  return {
    base: `http://127.0.0.1:${port}`,
    logs,
    stop: async () => {
      await new Promise((resolve) => server.close(resolve))
      await handle.close()
    },
  }
}

const requestLines = (logs: string[]) =>
  logs
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => l.event === 'http_request')

let running: Started | undefined
afterEach(async () => {
  await running?.stop()
  running = undefined
})

const runtimes = [
  [
    'Bun entry point',
    (hops: number) => startBun({ TRUST_PROXY: String(hops) }),
    bunAvailable || mustRun,
  ],
  ['Node adapter', startNode, true],
] as const

describe.each(runtimes)('%s', (_name, start, enabled) => {
  it.skipIf(!enabled)(
    'counts the socket address; without TRUST_PROXY, X-Forwarded-For from an internal peer is an untrusted proxy',
    async () => {
      const server = await start(0)
      running = server
      expect((await register(running.base)).status).toBe(201)
      expect((await register(running.base)).status).toBe(201)
      const third = await register(running.base)
      expect(third.status).toBe(429)
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(third.headers.get('server')).toBeNull()
      expect(third.headers.get('x-content-type-options')).toBe('nosniff')
      // Loopback with a forwarding header: a proxy shared by every client, so no address counts.
      expect((await register(running.base, '203.0.113.3')).status).toBe(201)
      expect((await register(running.base, '203.0.113.4')).status).toBe(201)
      // A server writes its log lines after the turn that answered: wait for them.
      await expect
        .poll(() => requestLines(server.logs).map((l) => l.ip))
        .toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'])
      const warnings = server.logs.filter((l) => l.includes('"event":"untrusted_proxy"'))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('"header":"x-forwarded-for"')
    },
  )

  it.skipIf(!enabled)('with TRUST_PROXY=1 counts the address the proxy appended', async () => {
    const server = await start(1)
    running = server
    for (const client of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      expect((await register(running.base, `198.51.100.9, ${client}`)).status).toBe(201)
    }
    await expect
      .poll(() => requestLines(server.logs).map((l) => l.ip))
      .toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3'])
  })
})
