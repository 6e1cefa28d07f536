/**
 * Builds assets/, the Worker's static files (Workers Static Assets, `[assets]` in wrangler.toml):
 * swagger-ui-dist's bundle, stylesheet and licence notice under assets/docs/, and a `_headers`
 * file giving them the caching and `nosniff` the app gives them on Bun and Node. Run on every
 * `bun install` (postinstall) and before `build:worker` and `deploy`, so the directory always
 * matches the swagger-ui-dist version in bun.lock; not committed (.gitignore).
 * Bun and Node serve the same files from the package itself (src/openapi/swagger-ui.ts).
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DOCS_PATH, SWAGGER_UI_ASSET_HEADERS, SWAGGER_UI_FILES } from '../src/openapi/swagger-ui'

const require = createRequire(import.meta.url)
const dist = dirname(require.resolve('swagger-ui-dist/package.json'))
const version: string = JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8')).version

const root = join(import.meta.dirname, '..', 'assets')
rmSync(root, { recursive: true, force: true })
mkdirSync(join(root, DOCS_PATH), { recursive: true })
for (const file of Object.keys(SWAGGER_UI_FILES)) {
  copyFileSync(join(dist, file), join(root, DOCS_PATH, file))
}
const headers = Object.entries(SWAGGER_UI_ASSET_HEADERS).map(
  ([name, value]) => `  ${name}: ${value}`,
)
writeFileSync(join(root, '_headers'), `${DOCS_PATH}/*\n${headers.join('\n')}\n`)
console.log(`Copied swagger-ui-dist ${version} to ${root}`)
