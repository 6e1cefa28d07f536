/**
 * Builds assets/, the Worker's static files (Workers Static Assets, `[assets]` in wrangler.toml):
 * swagger-ui-dist's bundle, stylesheet and licence notice under assets/docs/, and a `_headers`
 * file giving them the caching and `nosniff` the app gives them on Bun and Node. Run on every
 * `bun install` (postinstall) and before `build:worker` and `deploy`, so the directory always
 * matches the swagger-ui-dist version in bun.lock; not committed (.gitignore).
 * Bun and Node serve the same files from the package itself (src/openapi/swagger-ui.ts).
 *
 * A file whose content is already right is left alone: a `wrangler dev` serving the directory
 * restarts its Worker on any change, so a second run (`dev:worker` runs this too) must not touch it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DOCS_PATH, SWAGGER_UI_ASSET_HEADERS, SWAGGER_UI_FILES } from '../src/openapi/swagger-ui'

const require = createRequire(import.meta.url)
const dist = dirname(require.resolve('swagger-ui-dist/package.json'))
const version: string = JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8')).version

const root = join(import.meta.dirname, '..', 'assets')
const headers = Object.entries(SWAGGER_UI_ASSET_HEADERS).map(
  ([name, value]) => `  ${name}: ${value}`,
)
/** Each file of assets/ (path relative to it) and its content. */
const wanted = new Map<string, Uint8Array>([
  ...Object.keys(SWAGGER_UI_FILES).map((file): [string, Uint8Array] => [
    join('.', DOCS_PATH, file),
    readFileSync(join(dist, file)),
  ]),
  ['_headers', new TextEncoder().encode(`${DOCS_PATH}/*\n${headers.join('\n')}\n`)],
])

if (existsSync(root)) {
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    if (entry.isFile() && !wanted.has(path.slice(root.length + 1))) rmSync(path)
  }
}
let written = 0
for (const [file, content] of wanted) {
  const path = join(root, file)
  if (existsSync(path) && Buffer.compare(readFileSync(path), content) === 0) continue
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, content)
  written++
}
console.log(`swagger-ui-dist ${version} in ${root}: ${written} of ${wanted.size} files written`)
