/**
 * A real gateway: Debian's nginx, run unprivileged from a temporary prefix with the `auth_request`
 * configuration of docs/gateways.md (only the ports changed), this service's real Bun server as
 * the auth server, and a tiny upstream that echoes the identity headers it receives.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET } from './support/app'
import { type BunServer, registerAndLogin, startBunServer, stopProcess } from './support/bun-server'
import { documentedConfig, freePort, startEchoUpstream, waitUntilUp } from './support/gateway'
import { forgeJwt, nowSeconds } from './support/jwt'
import { executable } from './support/prerequisites'

const NGINX = '/usr/sbin/nginx'
const nginxPresent = executable(NGINX, 'apt-get install nginx; .ci/run does it')

/** The nginx configuration of docs/gateways.md, pointed at the given ports. */
function documentedNginxConfig(ports: { auth: number; upstream: number; listen: number }): string {
  return documentedConfig('nginx', [
    ['server 127.0.0.1:8001;', `server 127.0.0.1:${ports.auth};`],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${ports.upstream};`],
    ['listen 8080;', `listen 127.0.0.1:${ports.listen};`],
  ])
}

describe.skipIf(nginxPresent.skip)('nginx auth_request in front of an upstream', () => {
  let auth: BunServer
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let nginx: ChildProcess
  let prefix: string
  let gateway: string
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

    upstream = await startEchoUpstream()
    const upstreamPort = upstream.port

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
    await waitUntilUp('nginx', gateway, () => output, nginx)
  })

  afterAll(async () => {
    if (nginx) await stopProcess(nginx)
    await upstream?.close()
    await auth?.stop()
    if (prefix) rmSync(prefix, { recursive: true, force: true })
  })

  const through = (path: string, init: RequestInit = {}) => fetch(`${gateway}${path}`, init)
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` })

  it('without a token: 401 with WWW-Authenticate: Bearer, and the upstream never sees it', async () => {
    const before = upstream.seen.length
    const res = await through('/api/messages')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(upstream.seen.length).toBe(before)
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
    const before = upstream.seen.length
    const expired = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { sub: username, uid: userId, exp: nowSeconds() - 60 },
      TEST_SECRET,
    )
    const res = await through('/api/messages', { headers: bearer(expired) })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(upstream.seen.length).toBe(before)
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
