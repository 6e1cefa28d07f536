import { notAuthenticated } from '../http/answers'
import { bearerCredential } from '../http/bearer'
import { createRouter } from '../http/router'
import { NO_METRICS } from '../metrics'
import type { AppServices } from '../types'

const utf8 = new TextEncoder()

/** The SHA-256 of a secret: both sides of the comparison have the same length whatever was sent. */
async function digest(secret: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(secret)))
}

/** Whether two digests are equal, in time independent of where they differ. */
function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number)
  return difference === 0
}

/**
 * `GET /metrics`: the Prometheus text exposition, for a scraper that presents METRICS_TOKEN as a
 * bearer token (compared in constant time). 404 when METRICS_TOKEN is unset (metrics off: the
 * default) or nothing records (Workers, where the entry point makes no recorder), 401 with a bearer challenge for a missing or wrong token. An
 * operations endpoint, not part of the API: left out of the OpenAPI document.
 */
export function metricsRoutes(deps: AppServices) {
  const router = createRouter()
  const { metricsToken } = deps
  if (metricsToken === undefined || deps.metrics === NO_METRICS) return router
  const expected = digest(metricsToken)
  router.get('/metrics', async (c) => {
    const presented = bearerCredential(c)
    if (presented === undefined || !sameDigest(await digest(presented), await expected)) {
      throw notAuthenticated()
    }
    const { contentType, body } = await deps.metrics.exposition()
    return c.body(body, 200, { 'Content-Type': contentType })
  })
  return router
}
