import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { z } from 'zod'

/** One item of a FastAPI-style validation error: where, what, and which kind. The input is never echoed. */
export interface FieldError {
  loc: (string | number)[]
  msg: string
  type: string
}

/**
 * An expected failure with a status the client should see. `app.onError` turns it into
 * `{"detail": ...}` (plus any extra fields), the shape FastAPI clients already parse.
 */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly status: ContentfulStatusCode,
    readonly detail: string | FieldError[],
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(typeof detail === 'string' ? detail : 'validation error')
  }
}

/** The JSON body of an {@link ApiError}: what is sent, and what its documentation shows. */
export function errorBody(error: ApiError): Record<string, unknown> {
  return { ...error.extra, detail: error.detail }
}

/** Renders an {@link ApiError} as JSON. */
export function errorResponse(c: Context, error: ApiError): Response {
  return c.json(errorBody(error), error.status, error.headers)
}

/** What an unknown field's name must look like to be named in `loc` (anything else is input). */
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

/**
 * Maps zod issues to FastAPI's `{loc, msg, type}` items. `raw` is the input as received, used
 * only to tell a missing field from a wrong one. A field a strict schema does not know is one
 * item each, Pydantic's `extra_forbidden`, its name in `loc` only when it looks like a field name.
 */
export function fieldErrors(
  issues: z.core.$ZodIssue[],
  location: string,
  raw: unknown,
): FieldError[] {
  return issues.flatMap((issue): FieldError | FieldError[] => {
    const loc = [location, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))]
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        loc: FIELD_NAME.test(key) ? [...loc, key] : loc,
        msg: 'Extra inputs are not permitted',
        type: 'extra_forbidden',
      }))
    }
    if (issue.code === 'invalid_type') {
      if (issue.path.length > 0 && valueAt(raw, issue.path) === undefined) {
        return { loc, msg: 'Field required', type: 'missing' }
      }
      if (issue.expected === 'object') {
        return {
          loc,
          msg: 'Input should be a valid dictionary or object',
          type: 'model_attributes_type',
        }
      }
      return {
        loc,
        msg: `Input should be a valid ${issue.expected}`,
        type: `${issue.expected}_type`,
      }
    }
    if (issue.code === 'too_small') return { loc, msg: issue.message, type: 'string_too_short' }
    if (issue.code === 'too_big') return { loc, msg: issue.message, type: 'string_too_long' }
    return { loc, msg: issue.message, type: 'value_error' }
  })
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let current = raw
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key))
      return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}
