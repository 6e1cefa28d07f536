import { createRoute, z } from '@hono/zod-openapi'
import { sql } from 'drizzle-orm'
import { databaseUnavailableCode } from '../db/errors'
import { ApiError } from '../errors'
import type { AppServices } from '../types'
import { createRouter } from './router'
import { ErrorSchema, jsonContent } from './schemas'

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
    503: jsonContent(ErrorSchema, 'The database is unreachable or too slow'),
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
        await withDeadline(deps.db.execute(sql`select 1`), deps.security.readyTimeoutMs)
      } catch (error) {
        c.get('logger').warn('db_unavailable', {
          probe: 'readyz',
          code:
            error instanceof ProbeTimeout
              ? 'probe_timeout'
              : (databaseUnavailableCode(error) ?? 'error'),
        })
        throw new ApiError(503, 'Database unavailable')
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
