import { createMiddleware } from 'hono/factory'
import { unsupportedMediaType, validationError } from '../http/answers'
import type { AppEnv } from '../types'

const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json$/i
const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data'])

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? ''
}

/**
 * Demands a JSON body: over the size limit is a 413, another content type a 415, unparsable JSON
 * a FastAPI-style 422. The parsed body is cached by Hono, so the validator that follows does not
 * parse it again.
 */
export const requireJson = <E extends AppEnv = AppEnv>() =>
  createMiddleware<E>((c, next) =>
    c.var.limitBody(c, async () => {
      if (!JSON_TYPE.test(mediaType(c.req.header('content-type')))) {
        throw unsupportedMediaType('json')
      }
      try {
        await c.req.json()
      } catch {
        throw validationError([{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }])
      }
      await next()
    }),
  )

/**
 * Demands an HTML form body (urlencoded or multipart), as OAuth2 token requests are: over the size
 * limit is a 413, another content type a 415, a body that does not parse as that form (a multipart
 * body without its boundary, say) the error `malformed` makes, so that an endpoint answers it like
 * its other bad forms. The parsed form is cached by Hono, so the validator that follows does not
 * parse it again.
 */
export const requireForm = (malformed: () => Error) =>
  createMiddleware<AppEnv>((c, next) =>
    c.var.limitBody(c, async () => {
      if (!FORM_TYPES.has(mediaType(c.req.header('content-type')))) {
        throw unsupportedMediaType('form')
      }
      try {
        await c.req.formData()
      } catch {
        throw malformed()
      }
      await next()
    }),
  )
