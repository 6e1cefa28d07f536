/**
 * The runtime's own `node:crypto`, for the SHA-256 work done on every login and refresh: a JWT
 * signature (HMAC-SHA-256) and the refresh token's digest.
 *
 * Why not `crypto.subtle` everywhere: on Bun, `crypto.subtle` runs on the thread pool that also
 * runs Argon2, one thread per core, so under login load a signature waits for a running hash to
 * finish (milliseconds) although it needs microseconds. `node:crypto` computes it at once on the
 * calling thread. Workers have no `node:crypto` (no `nodejs_compat`) and keep `crypto.subtle`.
 */
export type NodeCrypto = typeof import('node:crypto')

/**
 * `node:crypto` where the runtime has it built in (Bun, Node), looked up with
 * `process.getBuiltinModule` rather than imported, so the Worker bundle never references it;
 * undefined on Workers.
 */
export const builtinCrypto: NodeCrypto | undefined = (
  globalThis as { process?: { getBuiltinModule?(id: string): unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined
