/**
 * The layers of docs/architecture.md, checked on the source: which directory of src/ may import
 * which. A new import that crosses a line fails here, naming the file and the import.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '../src')

/** Every .ts file under src/, relative to it (`routes/token.ts`). */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : []
  })
}

/** The imports of a file: packages by name, files of src/ by their path (`db/sessions`). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8')
  const specifiers = [...text.matchAll(/^(?:import|export)[^'"]*?from\s+'([^']+)'/gm)].map(
    (match) => match[1] as string,
  )
  return specifiers.map((specifier) =>
    specifier.startsWith('.')
      ? relative(SRC, resolve(SRC, dirname(file), specifier)).replace(/\.ts$/, '')
      : specifier,
  )
}

const files = sourceFiles()
const importing = (prefix: string) =>
  files
    .filter((file) => file.startsWith(prefix))
    .flatMap((file) => importsOf(file).map((target) => `${file} -> ${target}`))

describe('layers (docs/architecture.md)', () => {
  it('finds the source', () => {
    expect(files).toContain('routes/token.ts')
    expect(importing('routes/token.ts')).toContain('routes/token.ts -> use-cases/login')
  })

  it('only db/ imports drizzle-orm', () => {
    const outside = files.filter((file) => !file.startsWith('db/'))
    const offending = outside.flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith('drizzle-orm'))
        .map((target) => `${file} -> ${target}`),
    )
    expect(offending).toEqual([])
  })

  it('a route imports no other route, and of db/ only its error codes and the readiness ping', () => {
    const offending = importing('routes/').filter((edge) => {
      const target = edge.split(' -> ')[1] as string
      return (
        target.startsWith('routes/') ||
        (target.startsWith('db/') && !['db/errors', 'db/ping'].includes(target))
      )
    })
    expect(offending).toEqual([])
  })

  it('http/ imports no route and, of db/, only the shape of an account', () => {
    const offending = importing('http/').filter((edge) => {
      const target = edge.split(' -> ')[1] as string
      return target.startsWith('routes/') || (target.startsWith('db/') && target !== 'db/users')
    })
    expect(offending).toEqual([])
  })

  it('use cases know neither HTTP nor SQL', () => {
    const offending = importing('use-cases/').filter((edge) =>
      /-> (hono|@hono\/|errors$|http\/|routes\/|middleware\/|drizzle-orm)/.test(edge),
    )
    expect(offending).toEqual([])
  })

  it('auth/ knows no HTTP answer, route, use case or SQL', () => {
    const offending = importing('auth/').filter((edge) =>
      /-> (hono$|@hono\/|errors$|http\/|routes\/|use-cases\/|middleware\/|drizzle-orm)/.test(edge),
    )
    expect(offending).toEqual([])
  })

  it('db/ knows nothing above it (but the migration computing adopted usernames keys)', () => {
    const offending = importing('db/').filter(
      (edge) =>
        /-> (auth\/|use-cases\/|http\/|routes\/|middleware\/|hono|@hono\/)/.test(edge) &&
        edge !== 'db/migrate.ts -> auth/credentials',
    )
    expect(offending).toEqual([])
  })

  it('only the Bun and Node entry imports prom-client, and metrics.ts is a leaf', () => {
    const offending = files.flatMap((file) =>
      importsOf(file)
        .filter((target) => target === 'prom-client' && file !== 'entry/prometheus.ts')
        .map((target) => `${file} -> ${target}`),
    )
    expect(offending).toEqual([])
    expect(importing('metrics.ts')).toEqual([])
    expect(importing('entry/worker.ts')).not.toContain('entry/worker.ts -> entry/server')
  })
})
