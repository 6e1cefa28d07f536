/**
 * Stands in for `zod` in the Worker's bundle (`[alias]` in wrangler.toml): zod's classic API from
 * zod's own modules, except that `z.locales` and `z.core.locales` hold English only.
 *
 * `@hono/zod-openapi` hands the whole `z` namespace to `extendZodWithOpenApi`, so the bundler
 * must keep every member of it, `z.core` with them, and both carry zod's 64 translations of its
 * error messages: about 260 KiB of the script (a quarter of it), none of which the service
 * selects. Errors are worded as everywhere else: zod's classic schemas install the English
 * error map themselves when the first schema is built (from their own import of it), whatever
 * `z.locales` holds; the contract suite compares a 422's wording on every runtime.
 *
 * Shaped like zod's `index.js`: `z` (and the default export) is the namespace of api.ts.
 */
import * as z from './api'

export * from './api'
export { z, z as default }
