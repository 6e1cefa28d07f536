/**
 * Two-factor login through Swagger UI in a real browser (Debian's Chromium, playwright-core, the
 * real Bun server): a user enrols in TOTP with the /me/mfa/totp operations (the start with the
 * current password, which the body /docs fills in asks for), then logs in with
 * `POST /token` twice (password, then the mfa-otp grant) and uses the access token through the
 * Authorize dialog, as the README and /docs describe. Codes come from test/support/totp.ts.
 */
import { type Browser, chromium, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BunServer, startBunServer } from './support/bun-server'
import { executable } from './support/prerequisites'
import { secretOfUri, totpNow } from './support/totp'

const CHROMIUM = '/usr/bin/chromium'
const chromiumPresent = executable(CHROMIUM, 'apt-get install chromium; .ci/run does it')
const MFA_GRANT = 'urn:edge-auth:params:oauth:grant-type:mfa-otp'

describe.skipIf(chromiumPresent.skip)('two-factor login in Swagger UI, in Chromium', () => {
  let server: BunServer
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []

  beforeAll(async () => {
    chromiumPresent.assert()
    server = await startBunServer()
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    })
    const context = await browser.newContext({ viewport: { width: 1280, height: 1600 } })
    await context.route('**/*', (route) =>
      route.request().url().startsWith(`${server.url}/`)
        ? route.continue()
        : route.abort('blockedbyclient'),
    )
    page = await context.newPage()
    page.setDefaultTimeout(15_000)
    page.on('pageerror', (error) => pageErrors.push(error.message))
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  /** Opens an operation and presses "Try it out". */
  async function tryOut(id: string): Promise<Locator> {
    const operation = page.locator(`#${id}`)
    await operation.locator('.opblock-summary').click()
    await operation.getByRole('button', { name: 'Try it out' }).click()
    return operation
  }

  /** Presses Execute; returns the status and JSON body of the answer to `path`, and the request's Authorization. */
  async function execute(operation: Locator, path: string) {
    const response = page.waitForResponse((res) => res.url() === `${server.url}${path}`)
    await operation.getByRole('button', { name: 'Execute' }).click()
    const res = await response
    const body = await res.json()
    await operation.getByRole('button', { name: 'Clear' }).click()
    return { status: res.status(), body, authorization: res.request().headers().authorization }
  }

  /** Sets the form fields of an operation's request body, blanking every other field. */
  async function fillForm(operation: Locator, fields: Record<string, string>) {
    const rows = operation.locator('tr[data-property-name]')
    for (const row of await rows.all()) {
      const name = await row.getAttribute('data-property-name')
      const input = row.locator('input[type="text"], input:not([type])').first()
      if ((await input.count()) === 0) continue
      await input.fill(name !== null && name in fields ? (fields[name] as string) : '')
    }
  }

  it('enrols, then logs in with password and code, and the token works through Authorize', async () => {
    const username = `ui2fa_${crypto.randomUUID().slice(0, 8)}`
    const password = 'correct horse battery staple'
    const registered = await fetch(`${server.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Browser User', username, password }),
    })
    expect(registered.status).toBe(201)

    await page.goto(`${server.url}/docs`)
    await page.locator('.information-container h1.title').waitFor()

    // Log in with the password flow of the Authorize dialog (no TOTP yet).
    await page.locator('.scheme-container button.authorize').click()
    const oauth = page.locator('.auth-container').filter({ hasText: 'OAuth2, password' })
    await oauth.locator('#oauth_username').fill(username)
    await oauth.locator('#oauth_password').fill(password)
    await oauth.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
    await oauth.getByRole('button', { name: 'Remove authorization' }).waitFor()
    await page.locator('.modal-ux button.close-modal').click()

    // Enrol: start with the current password (the body /docs fills in asks for it; a wrong one
    // is refused), then confirm with a code of the secret shown.
    const start = await tryOut('operations-mfa-post_me_mfa_totp')
    const body = start.locator('textarea.body-param__text')
    expect(JSON.parse(await body.inputValue())).toEqual({
      current_password: expect.any(String),
    })
    await body.fill(JSON.stringify({ current_password: 'not the password' }))
    const refused = await execute(start, '/me/mfa/totp')
    expect(refused.status).toBe(403)
    expect(refused.body).toEqual({ detail: 'Incorrect password' })
    await body.fill(JSON.stringify({ current_password: password }))
    const started = await execute(start, '/me/mfa/totp')
    expect(started.status, JSON.stringify(started.body)).toBe(200)
    const secret = secretOfUri(started.body.otpauth_uri)
    const confirm = await tryOut('operations-mfa-post_me_mfa_totp_confirm')
    await confirm
      .locator('textarea.body-param__text')
      .fill(JSON.stringify({ otp: totpNow(secret) }))
    const confirmed = await execute(confirm, '/me/mfa/totp/confirm')
    expect(confirmed.status).toBe(200)
    expect(confirmed.body.recovery_codes).toHaveLength(10)

    // Log in again: the password answers 403 mfa_required, the second step returns the tokens.
    const token = await tryOut('operations-tokens-post_token')
    await fillForm(token, { grant_type: 'password', username, password })
    const challenged = await execute(token, '/token')
    expect(challenged.status, JSON.stringify(challenged.body)).toBe(403)
    expect(challenged.body.error).toBe('mfa_required')
    await fillForm(token, {
      grant_type: MFA_GRANT,
      mfa_token: challenged.body.mfa_token,
      otp: totpNow(secret, Date.now(), 1),
    })
    const loggedIn = await execute(token, '/token')
    expect(loggedIn.status, JSON.stringify(loggedIn.body)).toBe(200)

    // Use the access token through the bearer scheme of the Authorize dialog.
    await page.locator('.scheme-container button.authorize').click()
    // The password-only session's token goes, so /me can only use the new one.
    await page.getByRole('button', { name: 'Remove authorization' }).first().click()
    // The user scheme `bearer`, not the admin API's `adminKey` (an HTTP bearer scheme too).
    const bearer = page
      .locator('.auth-container')
      .filter({ hasText: 'bearer (http, Bearer)' })
      .filter({ has: page.locator('#auth-bearer-value') })
    await bearer.locator('#auth-bearer-value').fill(loggedIn.body.access_token)
    await bearer.getByRole('button', { name: 'Apply credentials' }).click()
    await page.locator('.modal-ux button.close-modal').click()
    const me = await tryOut('operations-accounts-get_me')
    const profile = await execute(me, '/me')
    expect(profile.status).toBe(200)
    expect(profile.authorization).toBe(`Bearer ${loggedIn.body.access_token}`)
    expect(profile.body).toMatchObject({ username, totp_enabled: true })
    expect(pageErrors).toEqual([])
  }, 120_000)
})
