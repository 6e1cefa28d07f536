import { z } from '@hono/zod-openapi'

/** A string that is valid Unicode (no lone surrogates, which would not survive UTF-8). */
export const text = () =>
  z.string().refine((s) => s.isWellFormed(), { message: 'Input should be valid Unicode text' })

/** FastAPI's `{"detail": "..."}` error body. */
export const ErrorSchema = z
  .object({ detail: z.string().openapi({ example: 'Incorrect username or password' }) })
  .openapi('Error')

/** FastAPI's 422 body: a list of field errors. */
export const ValidationErrorSchema = z
  .object({
    detail: z.array(
      z.object({
        loc: z.array(z.union([z.string(), z.number()])).openapi({ example: ['body', 'username'] }),
        msg: z.string().openapi({ example: 'Field required' }),
        type: z.string().openapi({ example: 'missing' }),
      }),
    ),
  })
  .openapi('ValidationError')

/** Describes a JSON response in an OpenAPI route. */
export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})
