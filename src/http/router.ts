import { OpenAPIHono } from '@hono/zod-openapi'
import { fieldErrors } from '../errors'
import type { AppEnv } from '../types'
import { validationError } from './answers'

const LOCATIONS: Record<string, string> = {
  json: 'body',
  form: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
}

/**
 * A router whose request validation failures become FastAPI's 422 `{"detail": [{loc, msg, type}]}`,
 * thrown so that `app.onError` renders them like every other error.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const location = LOCATIONS[result.target] ?? result.target
        // @hono/zod-validator passes the raw input as `data` on failure too; its type omits it.
        const raw = (result as { data?: unknown }).data
        throw validationError(fieldErrors(result.error.issues, location, raw))
      }
    },
  })
}
