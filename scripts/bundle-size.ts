/**
 * `bun run build:worker` (after wrangler's dry run): prints the size of the Worker bundle, raw and
 * gzipped (what Cloudflare's size limits count). Usage: `bun scripts/bundle-size.ts dist/worker.js`.
 */
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const file = process.argv[2] ?? 'dist/worker.js'
const bytes = readFileSync(file)
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`
console.log(`Worker bundle ${file}: ${kib(bytes.length)}, gzipped ${kib(gzipSync(bytes).length)}`)
