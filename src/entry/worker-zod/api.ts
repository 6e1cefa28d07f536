/**
 * The members of `z` in the Worker's bundle (see index.ts): everything `zod/v4` exports, with
 * `core` and `locales` replaced by their English-only versions.
 */
import en from 'zod/v4/locales/en.js'

// A name this module exports itself takes precedence over the same name from `export *`.
export * from 'zod/v4'
export * as core from './core'

/** Zod's locales as far as the Worker ships them: English, the default. */
export const locales = Object.freeze({ en })

/**
 * `zod/v4` also exports `z`, its complete namespace (every locale in it); zod's own `z` has no
 * member `z`, and here it is undefined, so that the bundle does not keep that namespace.
 */
export const z = undefined
