/**
 * A static `.wasm` import: wrangler (workerd) and the test runner hand over the compiled module.
 * Only Worker-only modules import one; Bun and Node load WebAssembly from files when they need it.
 */
declare module '*.wasm' {
  const compiled: WebAssembly.Module
  export default compiled
}
