/** `z.core` in the Worker's bundle (see index.ts): `zod/v4/core` with English as its only locale. */
import en from 'zod/v4/locales/en.js'

// A name this module exports itself takes precedence over the same name from `export *`.
export * from 'zod/v4/core'

/** Zod's locales as far as the Worker ships them: English, the default. */
export const locales = Object.freeze({ en })
