import { describe, expect, it } from 'vitest'
import {
  client,
  expect429,
  LOOPBACK_ADDRESSES,
  PASSWORD,
  registerUser,
  type TargetRef,
  uniqueName,
  waitForLine,
} from './target'

/**
 * Login throttling per account, over HTTP, with the default limit (5 failures per account per
 * 15 minutes, then a 15-minute block). The per-address limits are off on the contract servers,
 * whose requests all come from one loopback address; they, the block's expiry and the absence of
 * hashing while blocked are tested in process (test/throttle.test.ts), with a fake clock and a
 * fake peer address.
 */
export function throttleContract(target: TargetRef): void {
  const { login, register } = client(target)
  /** A login whose X-Forwarded-For claims another client each time (TRUST_PROXY is off). */
  const loginVia = (fields: Record<string, string>, forwardedFor: string) =>
    target().fetch('/token', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-for': forwardedFor,
      },
      body: new URLSearchParams(fields).toString(),
    })

  describe('login throttling per account', () => {
    it('5 failures block the account: 429 + Retry-After, also for the right password; a new X-Forwarded-For does not help', async () => {
      const { username } = await registerUser(target, 'victim')
      for (let i = 0; i < 5; i++) {
        const res = await loginVia({ username, password: `wrong-${i}` }, `203.0.113.${i + 1}`)
        expect(res.status).toBe(401)
      }
      const retryAfter = await expect429(
        await loginVia({ username, password: 'wrong again' }, '203.0.113.99'),
      )
      expect(retryAfter).toBeLessThanOrEqual(900)
      expect(retryAfter).toBeGreaterThan(800)
      await expect429(await loginVia({ username, password: PASSWORD }, '198.51.100.7'))
      await expect429(await login({ username, password: PASSWORD }))
    })

    it('counts every spelling of the account together (case, spaces)', async () => {
      const { username } = await registerUser(target, 'spelled')
      const spellings = [username, username.toUpperCase(), ` ${username} `]
      for (let i = 0; i < 5; i++) {
        const spelling = spellings[i % spellings.length] as string
        expect((await login({ username: spelling, password: 'nope-nope' })).status).toBe(401)
      }
      await expect429(await login({ username: username.toUpperCase(), password: PASSWORD }))
    })

    it('does not block another account', async () => {
      const [victim, bystander] = [await registerUser(target, 'victim'), await registerUser(target)]
      for (let i = 0; i < 6; i++) await login({ username: victim.username, password: 'wrong-pw' })
      await expect429(await login({ username: victim.username, password: PASSWORD }))
      expect((await login({ username: bystander.username, password: PASSWORD })).status).toBe(200)
    })

    it('a success resets the count', async () => {
      const { username } = await registerUser(target, 'reset')
      for (let i = 0; i < 4; i++) await login({ username, password: 'wrong-pw' })
      expect((await login({ username, password: PASSWORD })).status).toBe(200)
      for (let i = 0; i < 5; i++) {
        expect((await login({ username, password: 'wrong-pw' })).status).toBe(401)
      }
      await expect429(await login({ username, password: PASSWORD }))
    })

    it('of 30 concurrent wrong guesses, exactly 5 are checked (401), the rest are 429', async () => {
      const { username } = await registerUser(target, 'rush')
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => login({ username, password: `guess-${i}` })),
      )
      const statuses = results.map((r) => r.status)
      expect(statuses.filter((s) => s === 401)).toHaveLength(5)
      expect(statuses.filter((s) => s === 429)).toHaveLength(25)
    })

    it('an unknown name is throttled too, and never blocks its later registration or first login', async () => {
      const username = uniqueName('future')
      for (let i = 0; i < 5; i++) {
        expect((await login({ username, password: 'wrong-pw' })).status).toBe(401)
      }
      await expect429(await login({ username, password: PASSWORD }))
      expect((await register({ name: 'Newcomer', username, password: PASSWORD })).status).toBe(201)
      expect((await login({ username, password: PASSWORD })).status).toBe(200)
    })
  })

  describe('the client address', () => {
    it('is the connection’s (loopback here), never what X-Forwarded-For claims', async () => {
      const requestId = `xff-${crypto.randomUUID()}`
      // a 404, so that the production default ACCESS_LOG=errors-and-writes writes its line
      const res = await target().fetch('/no-such-path', {
        headers: { 'x-request-id': requestId, 'x-forwarded-for': '203.0.113.50' },
      })
      expect(res.status).toBe(404)
      const line = await waitForLine(target, ['"event":"http_request"', requestId])
      expect(line, `no http_request line for ${requestId}`).toBeDefined()
      const { ip } = JSON.parse(line as string) as { ip?: string }
      expect(LOOPBACK_ADDRESSES).toContain(ip)
    })
  })
}
