import { z } from '@hono/zod-openapi'
import { fieldErrors } from '../errors'
import { validationError } from '../http/answers'
import { createRouter } from '../http/router'
import { requireJson } from '../middleware/body'
import type { AppServices } from '../types'

/** The furthest the clock may be moved either way: a year, in milliseconds. */
const MAX_OFFSET_MS = 366 * 24 * 60 * 60 * 1000

const OffsetSchema = z.object({
  offset_ms: z.number().int().min(-MAX_OFFSET_MS).max(MAX_OFFSET_MS),
})

/**
 * `PUT /_test/mfa-clock` `{"offset_ms"}` -> `200 {"offset_ms"}`: sets how far the clock
 * of two-factor login runs from the real one (TOTP code windows, `mfa_token` and enrolment expiry),
 * for the contract suite. Mounted only when MFA_TEST_CLOCK is on, which the configuration refuses
 * outside NODE_ENV=test; a route of the test suite, not of the API: left out of the OpenAPI document.
 */
export function mfaTestClockRoutes(deps: AppServices) {
  const router = createRouter()
  const clock = deps.mfaTestClock
  if (clock === undefined) return router
  router.put('/_test/mfa-clock', requireJson(), async (c) => {
    const body: unknown = await c.req.json()
    const parsed = OffsetSchema.safeParse(body)
    if (!parsed.success) throw validationError(fieldErrors(parsed.error.issues, 'body', body))
    const offsetMs = parsed.data.offset_ms
    clock.set(offsetMs)
    c.get('logger').warn('mfa_test_clock', { offset_ms: offsetMs })
    return c.json({ offset_ms: offsetMs }, 200)
  })
  return router
}
