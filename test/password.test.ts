import { execFile, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { DeriveInput, PasswordEngineName } from '../src/auth/argon2-engines'
import {
  ARGON2_LIMITS,
  type Argon2Params,
  encodeArgon2Hash,
  type ParsedArgon2Hash,
  parseArgon2Hash,
} from '../src/auth/argon2-phc'
import { createWasmEngine, loadArgon2WasmModule } from '../src/auth/argon2-wasm'
import { createPasswordHasher, DEFAULT_ARGON2_PARAMS } from '../src/auth/password'
import {
  ARGON2_CFFI_DOCS,
  type HashFixture,
  LEGACY_FIXTURES,
  PASSLIB_ARGON2ID,
  REFERENCE_VECTORS,
} from './fixtures/argon2-hashes'
import type { BunCheckReport, BunCheckRequest } from './support/bun-password-check'
import type { OldNodeCheckReport, OldNodeCheckRequest } from './support/old-node-password-check'
import { NOT_COVERED, RFC9106_ARGON2ID, rfc9106Tags } from './support/rfc9106'

const FAST: Argon2Params = { memoryKiB: 256, iterations: 1, parallelism: 1 }
const FAST_LANES: Argon2Params = { memoryKiB: 200, iterations: 2, parallelism: 3 }
const PASSWORD_SOURCES = [
  'password.ts',
  'argon2-engines.ts',
  'argon2-phc.ts',
  'argon2-wasm.ts',
].map((file) => fileURLToPath(new URL(`../src/auth/${file}`, import.meta.url)))
const BUN_SCRIPT = fileURLToPath(new URL('./support/bun-password-check.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

const SAMPLE_PASSWORDS: readonly string[] = [
  'hunter2',
  '',
  ' leading and trailing spaces ',
  'päßwörd ☕ 密码 🔐',
  'e\u0301', // NFD é; must not match NFC é
  'x'.repeat(1000),
]

function isEngineAvailable(engine: PasswordEngineName): boolean {
  try {
    createPasswordHasher({ params: FAST, engine })
    return true
  } catch {
    return false
  }
}

const CHEAP_REFERENCE_VECTORS = REFERENCE_VECTORS.filter((f) => f.phc.includes('$m=256,'))

const IN_PROCESS_ENGINES = (['bun', 'node', 'wasm', 'noble'] as const).filter(isEngineAvailable)

function nodeHasArgon2(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  return major > 24 || (major === 24 && minor >= 7)
}

function shapeOf(phc: string): Omit<ParsedArgon2Hash, 'salt' | 'tag'> & {
  saltBytes: number
  tagBytes: number
} {
  const parsed = parseArgon2Hash(phc)
  if (parsed === null) throw new Error(`unparseable: ${phc}`)
  const { salt, tag, ...rest } = parsed
  return { ...rest, saltBytes: salt.length, tagBytes: tag.length }
}

function withLastChar(text: string, char: string): string {
  return text.slice(0, -1) + char
}

describe('engine selection', () => {
  it('offers node:crypto argon2 on Node >= 24.7, wasm on Node and Bun, and noble everywhere', () => {
    expect(IN_PROCESS_ENGINES).toContain('noble')
    expect(IN_PROCESS_ENGINES).toContain('wasm')
    if (nodeHasArgon2() && !('Bun' in globalThis)) expect(IN_PROCESS_ENGINES).toContain('node')
  })

  it('auto picks the fastest available engine and the OWASP defaults', () => {
    const hasher = createPasswordHasher()
    expect(hasher.engine).toBe(IN_PROCESS_ENGINES[0])
    expect(hasher.params).toEqual({ memoryKiB: 19456, iterations: 2, parallelism: 1 })
    expect(DEFAULT_ARGON2_PARAMS).toEqual(hasher.params)
  })

  it('falls back to noble when node:crypto is unreachable and no wasm module is given', () => {
    const original = process.getBuiltinModule
    try {
      Object.assign(process, { getBuiltinModule: undefined })
      expect(createPasswordHasher({ params: FAST }).engine).toBe('noble')
      expect(() => createPasswordHasher({ params: FAST, engine: 'node' })).toThrow(/not available/)
      expect(() => createPasswordHasher({ params: FAST, engine: 'wasm' })).toThrow(/not available/)
    } finally {
      Object.assign(process, { getBuiltinModule: original })
    }
  })

  it('picks wasm given a compiled module where node:crypto is unreachable (Workers)', async () => {
    const module = loadArgon2WasmModule()
    if (module === null) throw new Error('the wasm module did not load from the package file')
    const original = process.getBuiltinModule
    try {
      Object.assign(process, { getBuiltinModule: undefined })
      const hasher = createPasswordHasher({ params: FAST, wasmModule: module })
      expect(hasher.engine).toBe('wasm')
      expect(await hasher.verify(PASSLIB_ARGON2ID.password, PASSLIB_ARGON2ID.phc)).toBe(true)
    } finally {
      Object.assign(process, { getBuiltinModule: original })
    }
  })

  it.skipIf('Bun' in globalThis)('picks wasm on Node without node:crypto argon2 (< 24.7)', () => {
    const original = process.getBuiltinModule
    const withoutArgon2 = (id: string) => {
      const builtin = original.call(process, id)
      return id === 'node:crypto' || id === 'crypto' ? { ...builtin, argon2: undefined } : builtin
    }
    try {
      Object.assign(process, { getBuiltinModule: withoutArgon2 })
      expect(createPasswordHasher({ params: FAST }).engine).toBe('wasm')
    } finally {
      Object.assign(process, { getBuiltinModule: original })
    }
  })

  it.skipIf('Bun' in globalThis)('refuses to force the bun engine outside Bun', () => {
    expect(() => createPasswordHasher({ engine: 'bun' })).toThrow(/not available/)
  })

  it.each(PASSWORD_SOURCES)('%s imports no runtime-specific module statically', (path) => {
    const source = readFileSync(path, 'utf8')
    expect(source).not.toMatch(/^\s*import\s[^;]*?from\s+['"](node:|bun|[^'"]*\.wasm['"])/m)
    expect(source).not.toMatch(/\brequire\(/)
  })

  it.each([
    ['m below 8*p', { memoryKiB: 15, iterations: 1, parallelism: 2 }],
    ['m above the bound', { memoryKiB: 262_145, iterations: 1, parallelism: 1 }],
    ['t = 0', { memoryKiB: 256, iterations: 0, parallelism: 1 }],
    ['p = 0', { memoryKiB: 256, iterations: 1, parallelism: 0 }],
    ['fractional m', { memoryKiB: 256.5, iterations: 1, parallelism: 1 }],
    ['work bound', { memoryKiB: 262_144, iterations: 5, parallelism: 1 }],
  ])('rejects configured params: %s', (_name, params) => {
    expect(() => createPasswordHasher({ params })).toThrow(RangeError)
  })
})

describe.each(IN_PROCESS_ENGINES)('%s engine', (engine) => {
  const hasher = createPasswordHasher({ params: FAST, engine })

  it('round-trips and writes a standard argon2id PHC string', async () => {
    const phc = await hasher.hash('correct horse battery staple')
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(shapeOf(phc)).toEqual({
      variant: 'argon2id',
      version: 19,
      ...FAST,
      saltBytes: 16,
      tagBytes: 32,
    })
    expect(await hasher.verify('correct horse battery staple', phc)).toBe(true)
    expect(hasher.needsRehash(phc)).toBe(false)
  })

  it('uses a fresh salt for every hash', async () => {
    const [a, b] = await Promise.all([hasher.hash('same'), hasher.hash('same')])
    expect(a).not.toBe(b)
  })

  it('rejects a wrong password', async () => {
    const phc = await hasher.hash('correct horse battery staple')
    expect(await hasher.verify('correct horse battery stapl', phc)).toBe(false)
    expect(await hasher.verify('Correct horse battery staple', phc)).toBe(false)
    expect(await hasher.verify('', phc)).toBe(false)
  })

  it.each(SAMPLE_PASSWORDS.map((p) => [JSON.stringify(p).slice(0, 40), p]))(
    'round-trips %s',
    async (_label, password) => {
      const phc = await hasher.hash(password)
      expect(await hasher.verify(password, phc)).toBe(true)
      expect(await hasher.verify(`${password}x`, phc)).toBe(false)
    },
  )

  it('does not normalize (NFC and NFD differ)', async () => {
    const phc = await hasher.hash('caf\u00e9')
    expect(await hasher.verify('cafe\u0301', phc)).toBe(false)
    expect(await hasher.verify('caf\u00e9', phc)).toBe(true)
  })

  it('does not truncate (128-char passwords differing only in the last character)', async () => {
    const a = `${'a'.repeat(127)}b`
    const b = `${'a'.repeat(127)}c`
    const phc = await hasher.hash(a)
    expect(await hasher.verify(a, phc)).toBe(true)
    expect(await hasher.verify(b, phc)).toBe(false)
  })

  it('hashes with the configured lanes and odd memory sizes', async () => {
    const laned = createPasswordHasher({ params: FAST_LANES, engine })
    const phc = await laned.hash('lanes')
    expect(phc.startsWith('$argon2id$v=19$m=200,t=2,p=3$')).toBe(true)
    expect(await laned.verify('lanes', phc)).toBe(true)
  })

  it.each(LEGACY_FIXTURES.map((f) => [f.name, f] as const))(
    'verifies legacy hash: %s',
    async (_name, fixture) => {
      expect(await hasher.verify(fixture.password, fixture.phc)).toBe(true)
      expect(hasher.needsRehash(fixture.phc)).toBe(true)
    },
  )

  it.each(CHEAP_REFERENCE_VECTORS.map((f) => [f.name, f] as const))(
    'rejects a wrong password for %s',
    async (_name, fixture) => {
      expect(await hasher.verify('passwore', fixture.phc)).toBe(false)
    },
  )

  it('verifyDummy resolves false, even for the right-looking password', async () => {
    await expect(hasher.verifyDummy('correct horse battery staple')).resolves.toBe(false)
    await expect(hasher.verifyDummy('')).resolves.toBe(false)
    await expect(hasher.verifyDummy(undefined as unknown as string)).resolves.toBe(false)
  })

  it('rejects non-string passwords without throwing, and refuses to hash them', async () => {
    const phc = await hasher.hash('x')
    expect(await hasher.verify(undefined as unknown as string, phc)).toBe(false)
    expect(await hasher.verify(null as unknown as string, phc)).toBe(false)
    await expect(hasher.hash(42 as unknown as string)).rejects.toThrow(TypeError)
  })
})

describe('RFC 9106 test vector (5.3: Argon2id with a secret and associated data)', () => {
  it('every engine here that can take them computes the RFC tag (node:crypto on Node >= 24.7, noble)', async () => {
    const engines = nodeHasArgon2() && !('Bun' in globalThis) ? ['node', 'noble'] : ['noble']
    const tags = await rfc9106Tags()
    expect(tags).toEqual(engines.map((engine) => ({ engine, tag: RFC9106_ARGON2ID.tag })))
  })

  it(`wasm is not covered: ${NOT_COVERED.wasm}`, async () => {
    const module = loadArgon2WasmModule()
    if (module === null) throw new Error('the wasm module did not load from the package file')
    const names = WebAssembly.Module.exports(module).map((entry) => entry.name)
    expect(names).toEqual(expect.arrayContaining(['argon2_hash', 'argon2_verify']))
    expect(names.filter((name) => name.startsWith('argon2_ctx'))).toEqual([])
    // argon2.h's argon2_hash: t, m, p, pwd, pwdlen, salt, saltlen, hash, hashlen, encoded,
    // encodedlen, type, version; no secret, no associated data.
    const { exports } = await WebAssembly.instantiate(module, {})
    expect((exports.argon2_hash as (...args: number[]) => number).length).toBe(13)
  })
})

describe('wasm engine memory', () => {
  const module = loadArgon2WasmModule()

  it('twenty concurrent logins share one bounded memory, released after a large legacy hash', async () => {
    if (module === null) throw new Error('the wasm module did not load from the package file')
    const engine = createWasmEngine(module)
    const password = new TextEncoder().encode('twenty at once')
    const salt = new Uint8Array(16).fill(1)
    const input: DeriveInput = {
      ...DEFAULT_ARGON2_PARAMS,
      variant: 'argon2id',
      password,
      salt,
      tagLength: 32,
    }
    const tags = await Promise.all(Array.from({ length: 20 }, () => engine.derive({ ...input })))
    expect(new Set(tags.map((t) => t.join())).size).toBe(1)
    const defaultBytes = DEFAULT_ARGON2_PARAMS.memoryKiB * 1024
    expect(engine.memoryBytes()).toBeGreaterThanOrEqual(defaultBytes)
    expect(engine.memoryBytes()).toBeLessThan(defaultBytes + (8 << 20))

    const legacy = parseArgon2Hash(PASSLIB_ARGON2ID.phc)
    if (legacy === null) throw new Error('fixture does not parse')
    const utf8 = new TextEncoder().encode(PASSLIB_ARGON2ID.password)
    expect(await engine.verify(utf8, legacy)).toBe(true)
    expect(engine.memoryBytes()).toBe(0)
    expect(await engine.derive({ ...input })).toEqual(tags[0])
    expect(engine.memoryBytes()).toBeLessThan(defaultBytes + (8 << 20))
  })
})

describe('wasm engine memory with large legacy hashes', () => {
  const module = loadArgon2WasmModule()

  it("a hash above 48 MiB runs on an instance of its own size, not on top of the held instance's memory", async () => {
    if (module === null) throw new Error('the wasm module did not load from the package file')
    const memories: WebAssembly.Memory[] = []
    const instantiate = WebAssembly.instantiate.bind(WebAssembly)
    const spy = vi
      .spyOn(WebAssembly, 'instantiate')
      .mockImplementation(async (...args: Parameters<typeof WebAssembly.instantiate>) => {
        const made = (await instantiate(...args)) as unknown as WebAssembly.Instance
        memories.push(made.exports.memory as WebAssembly.Memory)
        return made as never
      })
    try {
      const engine = createWasmEngine(module)
      const utf8 = (text: string) => new TextEncoder().encode(text)
      const warm: DeriveInput = {
        ...DEFAULT_ARGON2_PARAMS,
        variant: 'argon2id',
        password: utf8('warm'),
        salt: new Uint8Array(16),
        tagLength: 32,
      }
      await engine.derive(warm)
      const legacy = [ARGON2_CFFI_DOCS, PASSLIB_ARGON2ID].map(
        (f) => [f, parseOrThrow(f.phc)] as const,
      )
      for (const [fixture, parsed] of legacy) {
        expect(await engine.verify(utf8(fixture.password), parsed)).toBe(true)
        expect(engine.memoryBytes()).toBe(0)
      }
      await engine.derive(warm)
      const mib = memories.map((m) => Math.round(m.buffer.byteLength / (1 << 20)))
      // The held instance (default cost), one per legacy hash (m=65536 and 102400 KiB), the held one again.
      expect(mib).toEqual([19, 64, 100, 19])
    } finally {
      spy.mockRestore()
    }
  })
})

describe('cross-engine compatibility (in process)', () => {
  const pairs = IN_PROCESS_ENGINES.flatMap((from) => IN_PROCESS_ENGINES.map((to) => [from, to]))

  it.each(pairs)('%s hashes verify with %s', async (from, to) => {
    const maker = createPasswordHasher({ params: FAST_LANES, engine: from })
    const checker = createPasswordHasher({ params: FAST_LANES, engine: to })
    for (const password of SAMPLE_PASSWORDS) {
      const phc = await maker.hash(password)
      expect(await checker.verify(password, phc)).toBe(true)
      expect(await checker.verify(`${password}!`, phc)).toBe(false)
    }
  })
})

function bunAvailability(): { ok: true } | { ok: false; reason: string } {
  const probe = spawnSync('bun', ['--version'], { encoding: 'utf8', timeout: 10_000 })
  if (probe.error) return { ok: false, reason: `bun not runnable: ${probe.error.message}` }
  if (probe.status !== 0) return { ok: false, reason: `bun --version exited ${probe.status}` }
  return { ok: true }
}

const BUN = bunAvailability()
const MUST_RUN_BUN = process.env.CI === 'true'
if (!BUN.ok && !MUST_RUN_BUN) console.warn(`Skipping Bun cross-engine tests: ${BUN.reason}`)

function runBunCheck(request: BunCheckRequest): Promise<BunCheckReport> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'bun',
      [BUN_SCRIPT],
      { cwd: REPO_ROOT, timeout: 60_000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`bun check failed: ${err.message}\n${stderr}`))
        else resolve(JSON.parse(stdout) as BunCheckReport)
      },
    )
    child.stdin?.end(JSON.stringify(request))
  })
}

interface BunCase extends HashFixture {
  expected: boolean
}

async function bunCases(): Promise<BunCase[]> {
  const cases: BunCase[] = []
  for (const fixture of LEGACY_FIXTURES) {
    cases.push({ ...fixture, expected: true })
    cases.push({ ...fixture, name: `${fixture.name} (wrong)`, password: 'nope', expected: false })
  }
  for (const engine of IN_PROCESS_ENGINES) {
    const maker = createPasswordHasher({ params: FAST_LANES, engine })
    for (const password of SAMPLE_PASSWORDS) {
      const phc = await maker.hash(password)
      cases.push({ name: `${engine}: ${JSON.stringify(password)}`, password, phc, expected: true })
      cases.push({ name: `${engine} wrong`, password: `${password}!`, phc, expected: false })
    }
  }
  cases.push({
    name: 'malformed',
    password: 'x',
    phc: '$argon2d$v=19$m=8,t=1,p=1$',
    expected: false,
  })
  return cases
}

describe.skipIf(!BUN.ok && !MUST_RUN_BUN)('cross-engine compatibility with a Bun process', () => {
  let cases: BunCase[] = []
  let report: BunCheckReport | undefined

  beforeAll(async () => {
    if (!BUN.ok) throw new Error(`CI requires bun on PATH: ${BUN.reason}`)
    cases = await bunCases()
    const verify = cases.map(({ password, phc }) => ({ password, phc }))
    report = await runBunCheck({ params: FAST_LANES, verify, hash: [...SAMPLE_PASSWORDS] })
  })

  function engineReport(engine: PasswordEngineName) {
    const found = report?.reports.find((r) => r.engine === engine)
    if (!found) throw new Error(`no report for ${engine}`)
    return found
  }

  it('auto selects Bun.password on Bun', () => {
    expect(report?.autoEngine).toBe('bun')
  })

  it.each(['bun', 'node', 'wasm'] as const)(
    '%s engine on Bun verifies legacy fixtures and every in-process engine',
    (engine) => {
      const { verified } = engineReport(engine)
      const outcome = cases.map((c, i) => [c.name, verified[i]])
      expect(outcome).toEqual(cases.map((c) => [c.name, c.expected]))
    },
  )

  it('RFC 9106 (5.3) on Bun: node:crypto argon2 under the node and bun engines, and noble, compute the RFC tag', () => {
    const engines = ['node', 'bun', 'noble']
    expect(report?.rfc9106).toEqual(
      engines.map((engine) => ({ engine, tag: RFC9106_ARGON2ID.tag })),
    )
  })

  it(`Bun.password is not covered by RFC 9106 (5.3): ${NOT_COVERED['Bun.password']}`, () => {
    // It verifies the tag of the same password, salt and cost without them, not the RFC's.
    expect(report?.bunPasswordOnRfc9106).toEqual({ keyedTag: false, unkeyedTag: true })
  })

  it.each(
    (['bun', 'node', 'wasm'] as const).flatMap((from) =>
      IN_PROCESS_ENGINES.map((to) => [from, to]),
    ),
  )('hashes from %s engine on Bun verify with %s here', async (from, to) => {
    const { hashes } = engineReport(from)
    const checker = createPasswordHasher({ params: FAST_LANES, engine: to })
    expect(hashes).toHaveLength(SAMPLE_PASSWORDS.length)
    for (const [i, password] of SAMPLE_PASSWORDS.entries()) {
      const phc = hashes[i] ?? ''
      expect(shapeOf(phc)).toMatchObject({ saltBytes: 16, tagBytes: 32, ...FAST_LANES })
      expect(await checker.verify(password, phc)).toBe(true)
      expect(await checker.verify(`${password}!`, phc)).toBe(false)
    }
  })
})

describe('needsRehash', () => {
  const hasher = createPasswordHasher({ params: FAST, engine: 'noble' })
  const current = encodeArgon2Hash({
    variant: 'argon2id',
    version: 19,
    ...FAST,
    salt: new Uint8Array(16).fill(7),
    tag: new Uint8Array(32).fill(9),
  })

  it('is false for a hash with the current parameters', () => {
    expect(hasher.needsRehash(current)).toBe(false)
  })

  it.each([
    ['passlib m=102400,t=2,p=8, 16-byte tag', PASSLIB_ARGON2ID.phc],
    ['argon2-cffi m=65536,t=3,p=4', ARGON2_CFFI_DOCS.phc],
    ['argon2i variant', current.replace('$argon2id$', '$argon2i$')],
    ['other m', current.replace('m=256', 'm=512')],
    ['other t', current.replace('t=1', 't=2')],
    ['other p', current.replace('p=1', 'p=2')],
    ['16-byte tag', encodeArgon2Hash({ ...parseOrThrow(current), tag: new Uint8Array(16) })],
    ['8-byte salt', encodeArgon2Hash({ ...parseOrThrow(current), salt: new Uint8Array(8) })],
    ['malformed', 'garbage'],
  ])('is true for %s', (_name, phc) => {
    expect(hasher.needsRehash(phc)).toBe(true)
  })
})

function parseOrThrow(phc: string): ParsedArgon2Hash {
  const parsed = parseArgon2Hash(phc)
  if (parsed === null) throw new Error(`unparseable: ${phc}`)
  return parsed
}

describe('parseArgon2Hash / encodeArgon2Hash', () => {
  it.each(LEGACY_FIXTURES.map((f) => [f.name, f.phc]))('round-trips %s exactly', (_name, phc) => {
    expect(encodeArgon2Hash(parseOrThrow(phc))).toBe(phc)
  })

  it('decodes the reference salt', () => {
    const parsed = parseOrThrow(REFERENCE_VECTORS[0]?.phc ?? '')
    expect(new TextDecoder().decode(parsed.salt)).toBe('somesalt')
    expect(parsed).toMatchObject({ variant: 'argon2id', version: 19, memoryKiB: 65536 })
  })

  it('encodes like Buffer base64 without padding and parses its own output (property)', () => {
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
    const L = ARGON2_LIMITS
    fc.assert(
      fc.property(
        bytes(L.minSaltBytes, L.maxSaltBytes),
        bytes(L.minTagBytes, L.maxTagBytes),
        (salt, tag) => {
          const h: ParsedArgon2Hash = { variant: 'argon2id', version: 19, ...FAST, salt, tag }
          const phc = encodeArgon2Hash(h)
          const unpadded = (u: Uint8Array) => Buffer.from(u).toString('base64').replace(/=+$/, '')
          expect(phc).toBe(`$argon2id$v=19$m=256,t=1,p=1$${unpadded(salt)}$${unpadded(tag)}`)
          expect(parseArgon2Hash(phc)).toEqual(h)
        },
      ),
    )
  })

  it('never throws on arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        parseArgon2Hash(text)
        parseArgon2Hash(`$argon2id$v=19$${text}`)
      }),
    )
  })

  it('accepts the boundary parameters', () => {
    const [salt, tag] = ['AAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAA']
    for (const cost of ['m=8,t=1,p=1', 'm=128,t=10,p=16', 'm=262144,t=4,p=16']) {
      expect(parseArgon2Hash(`$argon2id$v=19$${cost}$${salt}$${tag}`)).not.toBeNull()
    }
  })
})

const SALT = 'c29tZXNhbHRzb21lc2FsdA' // 16 bytes
const TAG = 'CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc' // 32 bytes
const OK_COST = 'm=256,t=1,p=1'
const phcOf = (cost = OK_COST, salt = SALT, tag = TAG, head = '$argon2id$v=19') =>
  `${head}$${cost}$${salt}$${tag}`

const MALFORMED: readonly (readonly [string, unknown])[] = [
  ['argon2d', phcOf(OK_COST, SALT, TAG, '$argon2d$v=19')],
  ['argon2ds', phcOf(OK_COST, SALT, TAG, '$argon2ds$v=19')],
  ['upper-case variant', phcOf(OK_COST, SALT, TAG, '$ARGON2ID$v=19')],
  ['v=16', phcOf(OK_COST, SALT, TAG, '$argon2id$v=16')],
  ['v=019', phcOf(OK_COST, SALT, TAG, '$argon2id$v=019')],
  ['v=20', phcOf(OK_COST, SALT, TAG, '$argon2id$v=20')],
  ['missing v= (libargon2 0x10 form)', `$argon2id$${OK_COST}$${SALT}$${TAG}`],
  ['missing tag', `$argon2id$v=19$${OK_COST}$${SALT}`],
  ['missing salt and tag', `$argon2id$v=19$${OK_COST}`],
  ['missing cost', `$argon2id$v=19$${SALT}$${TAG}`],
  ['missing p', phcOf('m=256,t=1')],
  ['m=0', phcOf('m=0,t=1,p=1')],
  ['t=0', phcOf('m=256,t=0,p=1')],
  ['p=0', phcOf('m=256,t=1,p=0')],
  ['p=255', phcOf('m=4096,t=1,p=255')],
  ['p=17', phcOf('m=4096,t=1,p=17')],
  ['m < 8*p', phcOf('m=15,t=1,p=2')],
  ['m=4294967295', phcOf('m=4294967295,t=1,p=1')],
  ['m above 256 MiB', phcOf('m=262145,t=1,p=1')],
  ['m*t above the work bound', phcOf('m=262144,t=5,p=1')],
  ['t=11', phcOf('m=256,t=11,p=1')],
  ['20-digit m', phcOf('m=00000000000000000256,t=1,p=1')],
  ['leading zero', phcOf('m=0256,t=1,p=1')],
  ['plus sign', phcOf('m=+256,t=1,p=1')],
  ['negative', phcOf('m=-256,t=1,p=1')],
  ['empty number', phcOf('m=,t=1,p=1')],
  ['hex number', phcOf('m=0x100,t=1,p=1')],
  ['exponent', phcOf('m=2e2,t=1,p=1')],
  ['space in cost', phcOf('m=256, t=1,p=1')],
  ['reordered cost', phcOf('t=1,m=256,p=1')],
  ['duplicate key', phcOf('m=256,m=256,t=1,p=1')],
  ['extra cost field', phcOf('m=256,t=1,p=1,keyid=AAAA')],
  ['trailing comma', phcOf('m=256,t=1,p=1,')],
  ['url-safe base64', phcOf(OK_COST, 'c29tZXNhbHRzb21lc2F-dA')],
  ['bad base64 char', phcOf(OK_COST, 'c29tZXNhbHRzb21lc2F*dA')],
  ['non-ASCII in salt', phcOf(OK_COST, 'c29tZXNhbHRzb21lc2Fé')],
  ['padded salt', phcOf(OK_COST, `${SALT}==`)],
  ['padded tag', phcOf(OK_COST, SALT, `${TAG}=`)],
  ['non-canonical trailing bits', phcOf(OK_COST, withLastChar(SALT, 'B'))],
  ['impossible base64 length', phcOf(OK_COST, `${SALT}AAA`)],
  ['empty salt', phcOf(OK_COST, '')],
  ['salt too short (7 bytes)', phcOf(OK_COST, 'AAAAAAAAAA')],
  ['salt too long (65 bytes)', phcOf(OK_COST, 'A'.repeat(87))],
  ['empty tag', phcOf(OK_COST, SALT, '')],
  ['tag too short (15 bytes)', phcOf(OK_COST, SALT, 'A'.repeat(20))],
  ['tag too long (65 bytes)', phcOf(OK_COST, SALT, 'A'.repeat(87))],
  ['trailing $', `${phcOf()}$`],
  ['extra segment', `${phcOf()}$AAAA`],
  ['missing leading $', phcOf().slice(1)],
  ['leading space', ` ${phcOf()}`],
  ['trailing newline', `${phcOf()}\n`],
  ['NUL inside', phcOf().replace('t=1', 't=1\u0000')],
  ['bcrypt', '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ012'],
  ['empty string', ''],
  ['just dollars', '$$$$$'],
  ['1 MB string', `$argon2id$v=19$${OK_COST}$${'A'.repeat(1 << 20)}$${TAG}`],
  ['1 MB of $', '$'.repeat(1 << 20)],
  ['undefined', undefined],
  ['null', null],
  ['number', 42],
  ['object', { toString: () => phcOf() }],
  ['array', [phcOf()]],
]

describe('malformed hashes', () => {
  const hasher = createPasswordHasher({ params: FAST })

  it('the well-formed baseline parses and would be accepted', () => {
    expect(parseArgon2Hash(phcOf())).not.toBeNull()
    expect(parseArgon2Hash(phcOf(OK_COST, SALT, TAG, '$argon2i$v=19'))).not.toBeNull()
  })

  it.each(MALFORMED)(
    '%s: parse → null, verify → false quickly, needsRehash → true',
    async (_, phc) => {
      const asString = phc as string
      expect(parseArgon2Hash(asString)).toBeNull()
      const started = performance.now()
      await expect(hasher.verify('password', asString)).resolves.toBe(false)
      expect(performance.now() - started).toBeLessThan(100)
      expect(hasher.needsRehash(asString)).toBe(true)
    },
  )
})

/** A Node without `node:crypto` argon2 (< 24.7) on this machine, if there is one (Debian's). */
function findOldNode(): string | null {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8', timeout: 10_000 })
    const [major = 0, minor = 0] = (probe.stdout ?? '').replace(/^v/, '').split('.').map(Number)
    const hasTsxSupport = major > 20 || (major === 20 && minor >= 6)
    if (probe.status === 0 && hasTsxSupport && (major < 24 || (major === 24 && minor < 7))) {
      return candidate
    }
  }
  return null
}

const OLD_NODE = findOldNode()
if (OLD_NODE === null) console.warn('Skipping the Node < 24.7 check: no such Node on this machine')

describe.skipIf(OLD_NODE === null)('on a Node without node:crypto argon2 (< 24.7)', () => {
  it('picks the WebAssembly engine, verifies every legacy hash, and its hashes verify here', async () => {
    const script = fileURLToPath(new URL('./support/old-node-password-check.ts', import.meta.url))
    const request: OldNodeCheckRequest = {
      params: FAST_LANES,
      verify: [
        ...LEGACY_FIXTURES.map(({ password, phc }) => ({ password, phc })),
        { password: 'wrong', phc: PASSLIB_ARGON2ID.phc },
      ],
      hash: [...SAMPLE_PASSWORDS],
    }
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        OLD_NODE ?? 'node',
        ['--import', 'tsx', script],
        { cwd: REPO_ROOT, timeout: 90_000, maxBuffer: 4 << 20 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      )
      child.stdin?.end(JSON.stringify(request))
    })
    const report = JSON.parse(stdout) as OldNodeCheckReport
    expect(report.engine).toBe('wasm')
    expect(report.verified).toEqual([...LEGACY_FIXTURES.map(() => true), false])
    for (const engine of IN_PROCESS_ENGINES) {
      const checker = createPasswordHasher({ params: FAST_LANES, engine })
      for (const [i, password] of SAMPLE_PASSWORDS.entries()) {
        expect(await checker.verify(password, report.hashes[i] ?? '')).toBe(true)
      }
    }
  })
})
