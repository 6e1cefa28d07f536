/**
 * A real gateway: Debian's Caddy, run unprivileged with the `forward_auth` configuration of
 * docs/gateways.md (only the ports changed), this service's real Bun server as the auth server,
 * and a tiny upstream that echoes the identity headers it receives.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET } from './support/app'
import { type BunServer, registerAndLogin, startBunServer, stopProcess } from './support/bun-server'
import { documentedConfig, freePort, startEchoUpstream, waitUntilUp } from './support/gateway'
import { forgeJwt, nowSeconds } from './support/jwt'
import { executable } from './support/prerequisites'

const CADDY = '/usr/bin/caddy'
const caddyPresent = executable(CADDY, 'apt-get install caddy; .ci/run does it')

describe.skipIf(caddyPresent.skip)('Caddy forward_auth in front of an upstream', () => {
  let auth: BunServer
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let caddy: ChildProcess
  let home: string
  let gateway: string
  let token: string
  let userId: number
  const username = 'cady_caddy'

  beforeAll(async () => {
    caddyPresent.assert()
    auth = await startBunServer()
    token = await registerAndLogin(auth.url, {
      name: 'Cady',
      username,
      password: 'correct horse battery staple',
    })
    userId = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).uid
    upstream = await startEchoUpstream()

    const listen = await freePort()
    const site = documentedConfig('caddy', [
      [':8080 {', `http://127.0.0.1:${listen} {`],
      ['forward_auth 127.0.0.1:8001 {', `forward_auth 127.0.0.1:${auth.port} {`],
      ['reverse_proxy 127.0.0.1:3000', `reverse_proxy 127.0.0.1:${upstream.port}`],
    ])
    home = mkdtempSync(join(tmpdir(), 'edge-auth-caddy-'))
    // No admin endpoint, no automatic HTTPS, nothing written outside `home`.
    const config = `{\n\tadmin off\n\tauto_https off\n\tstorage file_system ${home}/data\n}\n\n${site}`
    writeFileSync(join(home, 'Caddyfile'), config)
    caddy = spawn(CADDY, ['run', '--adapter', 'caddyfile', '--config', join(home, 'Caddyfile')], {
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    caddy.stderr?.on('data', (chunk) => {
      output += chunk
    })
    gateway = `http://127.0.0.1:${listen}`
    await waitUntilUp('caddy', gateway, () => output, caddy)
  })

  afterAll(async () => {
    if (caddy) await stopProcess(caddy)
    await upstream?.close()
    await auth?.stop()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  const through = (path: string, init: RequestInit = {}) => fetch(`${gateway}${path}`, init)
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` })

  it('without a token: 401 with WWW-Authenticate: Bearer, and the upstream never sees it', async () => {
    const before = upstream.seen.length
    const res = await through('/api/messages')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(await res.json()).toEqual({ detail: 'Not authenticated' })
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
