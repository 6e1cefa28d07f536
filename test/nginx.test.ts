/**
 * A real gateway: Debian's nginx, run unprivileged from a temporary prefix with the `auth_request`
 * configuration of docs/gateways.md (only the ports changed), this service's real Bun server as
 * the auth server, and a tiny upstream that echoes the identity headers it receives.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET } from './support/app'
import { type BunServer, registerAndLogin, startBunServer, stopProcess } from './support/bun-server'
import { forgeJwt, nowSeconds } from './support/jwt'
import { executable } from './support/prerequisites'

const NGINX = '/usr/sbin/nginx'
const nginxPresent = executable(NGINX, 'apt-get install nginx; .ci/run does it')
const GATEWAYS_MD = resolve(import.meta.dirname, '..', 'docs', 'gateways.md')

interface Seen {
  method: string
  url: string
  user: string | null
  userId: string | null
  body: string
}

/** The nginx configuration of docs/gateways.md, pointed at the given ports. */
function documentedNginxConfig(ports: { auth: number; upstream: number; listen: number }): string {
  const block = /```nginx\n([\s\S]*?)```/.exec(readFileSync(GATEWAYS_MD, 'utf8'))?.[1]
  if (block === undefined) throw new Error('docs/gateways.md has no nginx block')
  const replacements: [string, string][] = [
    ['server 127.0.0.1:8001;', `server 127.0.0.1:${ports.auth};`],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${ports.upstream};`],
    ['listen 8080;', `listen 127.0.0.1:${ports.listen};`],
  ]
  let config = block
  for (const [from, to] of replacements) {
    if (!config.includes(from)) throw new Error(`docs/gateways.md: no "${from}" in the nginx block`)
    config = config.replace(from, to)
  }
  return config
}

describe.skipIf(nginxPresent.skip)('nginx auth_request in front of an upstream', () => {
  let auth: BunServer
  let upstream: Server
  let nginx: ChildProcess
  let prefix: string
  let gateway: string
  const seen: Seen[] = []
  let token: string
  let userId: number
  const username = 'nina_nginx'

  beforeAll(async () => {
    nginxPresent.assert()
    auth = await startBunServer()
    token = await registerAndLogin(auth.url, {
      name: 'Nina',
      username,
      password: 'correct horse battery staple',
    })
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
    userId = claims.uid

    upstream = createServer((req, res) => {
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
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done))
    const upstreamPort = (upstream.address() as { port: number }).port

    const listen = await freePort()
    prefix = mkdtempSync(join(tmpdir(), 'edge-auth-nginx-'))
    chmodSync(prefix, 0o755)
    const config = `
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log notice;
events { worker_connections 64; }
http {
    access_log ${prefix}/access.log;
    client_body_temp_path ${prefix}/client_body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
${documentedNginxConfig({ auth: auth.port, upstream: upstreamPort, listen })}
}
`
    writeFileSync(join(prefix, 'nginx.conf'), config)
    nginx = spawn(
      NGINX,
      [
        '-p',
        prefix,
        '-e',
        `${prefix}/error.log`,
        '-c',
        `${prefix}/nginx.conf`,
        '-g',
        'daemon off;',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    nginx.stderr?.on('data', (chunk) => {
      output += chunk
    })
    gateway = `http://127.0.0.1:${listen}`
    await waitUntilUp(gateway, () => output, nginx)
  })

  afterAll(async () => {
    if (nginx) await stopProcess(nginx)
    if (upstream) await new Promise((done) => upstream.close(done))
    await auth?.stop()
    if (prefix) rmSync(prefix, { recursive: true, force: true })
  })

  const through = (path: string, init: RequestInit = {}) => fetch(`${gateway}${path}`, init)
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` })

  it('without a token: 401 with WWW-Authenticate: Bearer, and the upstream never sees it', async () => {
    const before = seen.length
    const res = await through('/api/messages')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(seen.length).toBe(before)
  })

  it('with a valid token: 200, and the upstream sees X-Auth-User and X-Auth-User-Id', async () => {
    const res = await through('/api/messages?room=1', { headers: bearer(token) })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      method: 'GET',
      url: '/api/messages?room=1',
      user: username,
      userId: String(userId),
    })
  })

  it('with an expired token: 401 invalid_token, and the upstream never sees it', async () => {
    const before = seen.length
    const expired = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { sub: username, uid: userId, exp: nowSeconds() - 60 },
      TEST_SECRET,
    )
    const res = await through('/api/messages', { headers: bearer(expired) })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(seen.length).toBe(before)
  })

  it('a POST with a body passes, body intact, after the check', async () => {
    const res = await through('/api/messages', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hello' }),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      method: 'POST',
      user: username,
      body: '{"text":"hello"}',
    })
  })

  it("a client's own X-Auth-User and X-Auth-User-Id never reach the upstream", async () => {
    const forged = { 'x-auth-user': 'admin', 'x-auth-user-id': '1' }
    const res = await through('/api/me', { headers: { ...bearer(token), ...forged } })
    expect(await res.json()).toMatchObject({ user: username, userId: String(userId) })

    const denied = await through('/api/me', { headers: forged })
    expect(denied.status).toBe(401)
  })
})

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createNetServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

async function waitUntilUp(url: string, output: () => string, child: ChildProcess) {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${output()}`)
    try {
      await fetch(url)
      return
    } catch {
      await new Promise((done) => setTimeout(done, 100))
    }
  }
  throw new Error(`nginx did not start:\n${output()}`)
}
