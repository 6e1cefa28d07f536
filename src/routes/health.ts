import { createRoute, z } from '@hono/zod-openapi'
import { databaseUnavailableCode } from '../db/errors'
import { ping } from '../db/ping'
import { databaseUnavailable, documented } from '../http/answers'
import { createRouter } from '../http/router'
import { jsonContent } from '../http/schemas'
import type { AppServices } from '../types'

const StatusSchema = z.object({ status: z.literal('ok') }).openapi('HealthStatus')

const live = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['health'],
  summary: 'Liveness: the process answers (the database is not consulted)',
  responses: { 200: jsonContent(StatusSchema, 'The process is alive') },
})

const ready = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['health'],
  summary: 'Readiness: the database answers `select 1` in time',
  responses: {
    200: jsonContent(StatusSchema, 'Ready to serve'),
    503: documented('The database is unreachable or too slow', databaseUnavailable()),
  },
})

class ProbeTimeout extends Error {
  override name = 'ProbeTimeout'
}

/** `GET /healthz` and `GET /readyz`, for load balancers and orchestrators. */
export function healthRoutes(deps: AppServices) {
  return createRouter()
    .openapi(live, (c) => c.json({ status: 'ok' as const }, 200))
    .openapi(ready, async (c) => {
      try {
        await withDeadline(ping(deps.db), deps.security.readyTimeoutMs)
      } catch (error) {
        c.get('logger').warn('db_unavailable', {
          probe: 'readyz',
          code:
            error instanceof ProbeTimeout
              ? 'probe_timeout'
              : (databaseUnavailableCode(error) ?? 'error'),
        })
        throw databaseUnavailable()
      }
      return c.json({ status: 'ok' as const }, 200)
    })
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout()), ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
