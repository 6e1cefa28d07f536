/**
 * Swagger UI in a real browser: Debian's Chromium (never a downloaded one), driven by
 * playwright-core, against the real Bun server, the Node server and the Worker in workerd (whose
 * Swagger UI files are Workers Static Assets). Every request the page makes must go to the
 * service itself: anything else is blocked and fails the test.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBunServer } from './support/bun-server'
import { nodePostgresLeg, type RunningLeg, workerNeonLeg } from './support/legs'
import { postgresSkipReason } from './support/postgres'
import { executable } from './support/prerequisites'

const CHROMIUM = '/usr/bin/chromium'
const chromiumPresent = executable(CHROMIUM, 'apt-get install chromium; .ci/run does it')
const RESULTS = resolve(import.meta.dirname, '..', 'test-results')

/** A started service: its base URL and how to stop it. */
interface Served {
  url: string
  stop(): Promise<void>
}

const startBun = async (): Promise<Served> => startBunServer()
const startLeg = (start: () => Promise<RunningLeg>) => async (): Promise<Served> => {
  const leg = await start()
  if (leg.url === undefined) throw new Error('the leg has no URL')
  return { url: leg.url, stop: leg.stop }
}
const noPostgres = await postgresSkipReason('Swagger UI in Chromium on Node and the Worker')

describe.each([
  ['Bun', startBun, false],
  ['Node (Postgres)', startLeg(nodePostgresLeg), true],
  ['the Worker (workerd, Neon HTTP)', startLeg(workerNeonLeg), true],
] as const)('Swagger UI at /docs on %s, in Chromium', (runtime, start, needsPostgres) => {
  if (chromiumPresent.skip || (needsPostgres && noPostgres !== null)) {
    it.skip('needs Chromium (and Postgres)', () => {})
    return
  }
  let server: Served
  let browser: Browser
  let page: Page
  const foreignRequests: string[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    chromiumPresent.assert()
    server = await start()
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    const context = await browser.newContext({ viewport: { width: 1280, height: 1600 } })
    await context.route('**/*', (route) => {
      const url = route.request().url()
      if (url.startsWith(`${server.url}/`)) return route.continue()
      foreignRequests.push(url)
      return route.abort('blockedbyclient')
    })
    page = await context.newPage()
    page.setDefaultTimeout(15_000)
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text())
    })
  }, 240_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('logs in through Authorize (password flow) and executes /validate: 200', async () => {
    const username = `ui_${crypto.randomUUID().slice(0, 8)}`
    const password = 'correct horse battery staple'
    const registered = await fetch(`${server.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Browser User', username, password }),
    })
    expect(registered.status).toBe(201)

    await page.goto(`${server.url}/docs`)
    const title = page.locator('.information-container h1.title')
    await title.waitFor()
    expect(await title.textContent()).toMatch(/^edge-auth/)

    await page.locator('.scheme-container button.authorize').click()
    const oauth = page.locator('.auth-container').filter({ hasText: 'OAuth2, password' })
    await oauth.locator('#oauth_username').fill(username)
    await oauth.locator('#oauth_password').fill(password)
    const tokenResponse = page.waitForResponse(
      (res) => res.url() === `${server.url}/token` && res.request().method() === 'POST',
    )
    await oauth.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
    expect((await tokenResponse).status()).toBe(200)
    await oauth.getByRole('button', { name: 'Remove authorization' }).waitFor()
    await page.locator('.modal-ux button.close-modal').click()

    const operation = page.locator('#operations-tokens-post_validate')
    await operation.locator('.opblock-summary').click()
    await operation.getByRole('button', { name: 'Try it out' }).click()
    const validateResponse = page.waitForResponse(
      (res) => res.url() === `${server.url}/validate` && res.request().method() === 'POST',
    )
    await operation.getByRole('button', { name: 'Execute' }).click()
    const validated = await validateResponse
    expect(validated.request().headers().authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)

    const live = operation.locator('.live-responses-table .response')
    await live.first().waitFor()
    expect(await live.locator('.response-col_status').first().textContent()).toBe('200')
    const body = await live.locator('.response-col_description pre').first().textContent()
    expect(JSON.parse(body ?? '')).toEqual({ username, valid: true })

    mkdirSync(RESULTS, { recursive: true })
    const shot = `swagger-ui-validate-${runtime.toLowerCase().replace(/\W+/g, '-')}.png`
    await page.screenshot({ path: resolve(RESULTS, shot), fullPage: true })

    expect(foreignRequests).toEqual([])
    expect(pageErrors).toEqual([])
  }, 60_000)
})
