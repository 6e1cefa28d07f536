/**
 * The Node entry point's connection limits (HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS,
 * MAX_CONNECTIONS), on the real `node src/entry/node.ts` process, set short so the test is quick:
 * a client that trickles its headers, one that idles after an answer, and one too many.
 */
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONTRACT_ENV } from './contract/target'
import { cleanEnv, NODE, type ServerProcess, startServer } from './support/process'

const HEADERS_TIMEOUT_MS = 1000
const KEEP_ALIVE_TIMEOUT_MS = 1000
const MAX_CONNECTIONS = 3
/** Node looks for late connections every 500 ms; the rest is a busy machine's slack. */
const SLACK_MS = 1500
/** Node 24 keeps an idle keep-alive socket this much longer than `keepAliveTimeout` (`keepAliveTimeoutBuffer`). */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000

let server: ServerProcess
let port: number
const sockets: Socket[] = []

beforeAll(async () => {
  server = await startServer({
    name: 'node entry',
    command: NODE,
    args: ['--import', 'tsx', 'src/entry/node.ts'],
    env: cleanEnv({
      ...CONTRACT_ENV,
      DATABASE_URL: 'memory://',
      PORT: '0',
      HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
      MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    }),
    ready: /Listening on (http:\/\/\S+)/,
  })
  port = Number(new URL(server.url).port)
}, 120_000)
afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await server?.stop()
})

/** An open connection, with what the server sent and when it closed (ms after opening). */
async function open() {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  const opened = Date.now()
  let received = ''
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1')
  })
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => resolve(Date.now() - opened)),
  )
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  return { socket, closed, received: () => received }
}

const HEAD = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'

describe('Node entry point: connection limits', () => {
  it('cuts off a client that trickles its headers within HEADERS_TIMEOUT_MS', async () => {
    const conn = await open()
    conn.socket.write(HEAD)
    let n = 0
    const trickle = setInterval(() => {
      if (!conn.socket.destroyed) conn.socket.write(`X-Trickle-${n++}: a\r\n`)
    }, 200)
    try {
      const closedAfter = await Promise.race([
        conn.closed,
        new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000)),
      ])
      expect(closedAfter, 'still open after 10 s').toBeGreaterThan(0)
      expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS)
      expect(conn.received()).toMatch(/^HTTP\/1\.1 408 /)
    } finally {
      clearInterval(trickle)
    }
  }, 15_000)

  it('closes an idle keep-alive connection after KEEP_ALIVE_TIMEOUT_MS', async () => {
    const conn = await open()
    conn.socket.write(`${HEAD}\r\n`)
    const closedAfter = await Promise.race([
      conn.closed,
      new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000)),
    ])
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200 /)
    expect(closedAfter, 'still open after 10 s').toBeGreaterThan(0)
    expect(closedAfter).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + NODE_KEEP_ALIVE_BUFFER_MS + SLACK_MS)
  }, 15_000)

  it('closes connections beyond MAX_CONNECTIONS at once, and serves again once they go', async () => {
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => open()))
    // the server counts a connection once it has accepted it
    await new Promise((resolve) => setTimeout(resolve, 200))
    const extra = await open()
    extra.socket.write(`${HEAD}\r\n`)
    const closedAfter = await extra.closed
    expect(extra.received()).toBe('')
    expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT_MS)
    for (const conn of held) conn.socket.destroy()
    await Promise.all(held.map((conn) => conn.closed))
    await expect
      .poll(async () => (await fetch(`${server.url}/healthz`)).status, { timeout: 5000 })
      .toBe(200)
  }, 15_000)
})
