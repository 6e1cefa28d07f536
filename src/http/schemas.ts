import { z } from '@hono/zod-openapi'

/** A string that is valid Unicode (no lone surrogates, which would not survive UTF-8). */
export const text = () =>
  z.string().refine((s) => s.isWellFormed(), { message: 'Input should be valid Unicode text' })

/** Describes a JSON response in an OpenAPI route (an error answer is described by `documented`). */
export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})
