import { defineConfig, type Plugin } from 'vitest/config'

/**
 * `import compiled from './x.wasm'` as wrangler bundles it for workerd: the default export is a
 * compiled `WebAssembly.Module`, so the Worker entry runs in process as it does on Workers.
 */
const wasmModules: Plugin = {
  name: 'wasm-module-imports',
  enforce: 'pre',
  load(id) {
    if (!id.endsWith('.wasm')) return null
    const file = JSON.stringify(id)
    return `import { readFileSync } from 'node:fs'\nexport default new WebAssembly.Module(readFileSync(${file}))`
  },
}

/**
 * Test files that start servers or other processes (Bun, Node, workerd, nginx, Chromium) or need
 * the machine's Postgres: the `integration` project. Everything else runs in this process on
 * in-memory PGlite: the `unit` project (`bun run test:unit`).
 */
const INTEGRATION = [
  'test/admin-cli-process.test.ts',
  'test/caddy.test.ts',
  'test/contract/legs/!(in-process).test.ts',
  'test/dev-worker.test.ts',
  'test/dev-worker-dev-vars.test.ts',
  'test/drivers.test.ts',
  'test/entry-points.test.ts',
  'test/event-loop.test.ts',
  'test/metrics-scrape.test.ts',
  'test/neon-local.test.ts',
  'test/nginx.test.ts',
  'test/node-server-limits.test.ts',
  'test/password.test.ts',
  'test/postgres.test.ts',
  'test/sessions-postgres.test.ts',
  'test/signing-keys.test.ts',
  'test/swagger-ui.browser.test.ts',
  'test/swagger-ui-mfa.browser.test.ts',
  'test/swagger-ui.test.ts',
  'test/worker-memory.test.ts',
  'test/worker-revocation-cache.test.ts',
]

/**
 * Integration files that must not share a process with the others: drizzle's neon-http driver
 * replaces the Neon driver's process-wide type parsers when it is built, and the local Neon
 * endpoint's test checks the driver's own parsing.
 */
const OWN_PROCESS = ['test/neon-local.test.ts']

export default defineConfig({
  plugins: [wasmModules],
  test: {
    // Through the plugin above, not Node's own WebAssembly ESM integration (which instantiates).
    server: { deps: { inline: ['@phi-ag/argon2'] } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/support/global-setup.ts'],
    // Most of an integration file's time is spent waiting on the servers it started, so more
    // files than cores run at once (vitest's default is one fewer worker than cores).
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: INTEGRATION,
          // Nothing in src/ is built at import time, so the files of a worker can share the
          // modules it imported instead of importing them again for each file.
          isolate: false,
        },
      },
      {
        extends: true,
        // A test that starts a server waits for it: on a loaded machine that takes longer. The
        // files of a worker share its modules, as in `unit`: every server they start is theirs.
        test: {
          name: 'integration',
          include: INTEGRATION,
          exclude: OWN_PROCESS,
          isolate: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration (own process)',
          include: OWN_PROCESS,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
})
