/**
 * Stands in for `@noble/hashes/argon2.js` in the Worker's bundle (`[alias]` in wrangler.toml):
 * the Worker hashes on libargon2 in WebAssembly, always (src/entry/worker.ts), so the pure-JS
 * fallback would be ~6 KiB of dead code in a script that must stay small. Never called there.
 */
const absent = (): Promise<Uint8Array> =>
  Promise.reject(new Error('@noble/hashes is not bundled in the Worker: it hashes on WebAssembly'))

/** Rejects: the Worker's engine is WebAssembly. */
export const argon2idAsync = absent
/** Rejects: the Worker's engine is WebAssembly. */
export const argon2iAsync = absent
