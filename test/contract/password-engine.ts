import { describe, expect, it } from 'vitest'
import { loginToken, registerUser, type TargetRef, waitForLine } from './target'

/** Engines that hash at native speed: the runtime's own, or libargon2 in WebAssembly. */
const FAST_ENGINES = ['bun', 'node', 'wasm']

/**
 * Logins run on a fast Argon2 engine on every runtime, the Worker included (WebAssembly there):
 * `@noble/hashes`, the pure-JS fallback, costs about ten times the CPU, which Workers bill and cap.
 * The service names its engine once, when it builds the app; the line carries nothing secret.
 */
export function passwordEngineContract(target: TargetRef): void {
  describe('password engine', () => {
    it('hashes and verifies on a native or WebAssembly engine, never the pure-JS fallback', async () => {
      const { username, password } = await registerUser(target, 'engine')
      await loginToken(target, username, password)
      const line = await waitForLine(target, ['"event":"password_engine"'])
      expect(line, 'no password_engine line in the logs').toBeDefined()
      const { engine } = JSON.parse(line ?? '{}') as { engine?: string }
      expect(FAST_ENGINES).toContain(engine)
    })
  })
}
