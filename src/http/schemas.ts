import { z } from '@hono/zod-openapi'

/** A string that is valid Unicode (no lone surrogates, which would not survive UTF-8). */
export const text = () =>
  z.string().refine((s) => s.isWellFormed(), { message: 'Input should be valid Unicode text' })

/** Describes a JSON response in an OpenAPI route (an error answer is described by `documented`). */
export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
})

/**
 * The second-factor fields of a request that needs one (the account endpoints with TOTP on and
 * `/token`'s second step): a code of the authenticator app, or a recovery code in its place.
 */
export const secondFactorFields = {
  otp: text()
    .max(16)
    .optional()
    .openapi({ description: 'A code of the authenticator app (6 digits)' }),
  recovery_code: text().max(64).optional().openapi({
    description: 'A recovery code (`abcd-efgh-ijkl-mnop`), in place of `otp`; each works once',
  }),
}
