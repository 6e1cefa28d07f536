/**
 * A Worker that only verifies a password, for the benchmark's Worker leg (bench/worker.ts): the
 * raw cost of one Argon2id verify in workerd with the WebAssembly engine and with `@noble/hashes`,
 * at the service's default cost. `POST /verify?engine=wasm|noble`. Not part of the service.
 */
import argon2Wasm from '@phi-ag/argon2/argon2.wasm'
import { createPasswordHasher, type PasswordHasher } from '../src/auth/password'

const PASSWORD = 'correct horse battery staple'
const stored = new Map<string, { hasher: PasswordHasher; phc: string }>()

async function hasherFor(engine: 'wasm' | 'noble') {
  let found = stored.get(engine)
  if (found === undefined) {
    const hasher = createPasswordHasher({ engine, wasmModule: argon2Wasm })
    found = { hasher, phc: await hasher.hash(PASSWORD) }
    stored.set(engine, found)
  }
  return found
}

export default {
  async fetch(request: Request): Promise<Response> {
    const engine = new URL(request.url).searchParams.get('engine')
    if (engine !== 'wasm' && engine !== 'noble') return new Response('engine?', { status: 400 })
    const { hasher, phc } = await hasherFor(engine)
    return Response.json({ engine: hasher.engine, verified: await hasher.verify(PASSWORD, phc) })
  },
}
