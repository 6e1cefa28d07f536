import { createMiddleware } from 'hono/factory'
import { ApiError, validationError } from '../errors'

const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json$/i
const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data'])

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? ''
}

/**
 * Demands a JSON body: another content type is a 415, unparsable JSON a FastAPI-style 422.
 * The parsed body is cached by Hono, so the validator that follows does not parse it again.
 */
export const requireJson = () =>
  createMiddleware(async (c, next) => {
    if (!JSON_TYPE.test(mediaType(c.req.header('content-type')))) {
      throw new ApiError(415, 'Content-Type must be application/json')
    }
    try {
      await c.req.json()
    } catch {
      throw validationError([{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }])
    }
    await next()
  })

/** Demands an HTML form body (urlencoded or multipart), as OAuth2 token requests are; otherwise 415. */
export const requireForm = () =>
  createMiddleware(async (c, next) => {
    if (!FORM_TYPES.has(mediaType(c.req.header('content-type')))) {
      throw new ApiError(415, 'Content-Type must be application/x-www-form-urlencoded')
    }
    await next()
  })
