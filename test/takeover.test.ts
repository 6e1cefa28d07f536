import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { usernameKey, usernameSkeleton } from '../src/auth/credentials'
import { migrateDatabase } from '../src/db/migrate'
import legacy from './fixtures/legacy.json'
import { makeTestApp, type TestApp } from './support/app'
import { forgeJwt } from './support/jwt'
import { borrowEmptyPglite } from './support/pglite'

const pythonSchema = readFileSync(
  new URL('./fixtures/python-service-schema.sql', import.meta.url),
  'utf8',
)
const quote = (s: string) => `'${s.replaceAll("'", "''")}'`
const [passlibHash, passlibUnicode, cffiHash] = legacy.hashes as [
  (typeof legacy.hashes)[0],
  (typeof legacy.hashes)[0],
  (typeof legacy.hashes)[0],
]

/** The rows the Python service left behind: its own hashes, its own (un-normalised) usernames. */
const legacyRows = [
  { name: 'Legacy Alice', username: 'legacy_alice', hash: passlibHash.hash },
  { name: 'Ünïcode Üser', username: 'Legacy_Unicode', hash: passlibUnicode.hash },
  { name: 'Cffi Carl', username: 'carl', hash: cffiHash.hash },
  { name: 'Spacey', username: 'has space', hash: cffiHash.hash },
  { name: 'Rehash', username: 'rehash_me', hash: passlibHash.hash },
]
const insertLegacy = (rows: { name: string; username: string; hash: string }[]) =>
  `INSERT INTO users (name, username, hashed_password) VALUES ${rows
    .map((r) => `(${quote(r.name)}, ${quote(r.username)}, ${quote(r.hash)})`)
    .join(', ')};`

describe('taking over the Python service database', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({
      jwt: { secret: legacy.jwt.secret },
      // The legacy hashes are costly (m=102400, p=8): the deadline is not under test here.
      security: { requestTimeoutMs: 60_000 },
      seed: async (exec) => {
        await exec(pythonSchema)
        await exec(insertLegacy(legacyRows))
      },
    })
  })
  afterAll(() => t.close())

  it('keeps every row, id and hash through the migration', async () => {
    const rows = await t.query(
      'select id, name, username, hashed_password, created_at from users order by id',
    )
    expect(rows.map((r) => [r.id, r.name, r.username, r.hashed_password])).toEqual(
      legacyRows.map((r, i) => [i + 1, r.name, r.username, r.hash]),
    )
    for (const row of rows) expect(row.created_at).toBeInstanceOf(Date)
  })

  it('gives every adopted row its key and skeleton, computed in JS, with unique indexes on both', async () => {
    const rows = await t.query(
      'select username, username_key, username_skeleton from users where id <= $1 order by id',
      [legacyRows.length],
    )
    expect(rows).toEqual(
      legacyRows.map((r) => ({
        username: r.username,
        username_key: usernameKey(r.username),
        username_skeleton: usernameSkeleton(r.username),
      })),
    )
    const indexes = await t.query("select indexname from pg_indexes where tablename = 'users'")
    expect(indexes.map((i) => i.indexname)).toEqual(
      expect.arrayContaining(['users_username_key_key', 'users_username_skeleton_key']),
    )
    expect(await t.query("select to_regclass('username_key_backfill') as t")).toEqual([{ t: null }])
  })

  it('logs in an adopted user by the name typed in another case', async () => {
    const res = await t.login({ username: 'LEGACY_ALICE', password: passlibHash.password })
    expect(res.status).toBe(200)
  })

  it('is idempotent: migrating again changes nothing', async () => {
    await migrateDatabase(t.handle)
    expect(await t.query('select id from users')).toHaveLength(legacyRows.length)
  })

  it.each([
    ['passlib (m=102400, t=2, p=8, 16-byte tag)', 'legacy_alice', passlibHash.password],
    ['passlib with a Unicode password', 'Legacy_Unicode', passlibUnicode.password],
    ['argon2-cffi (m=65536, t=3, p=4)', 'carl', cffiHash.password],
    ['a username the new rules would refuse', 'has space', cffiHash.password],
  ])('logs in a user hashed by %s', async (_case, username, password) => {
    const res = await t.login({ username, password })
    expect(res.status).toBe(200)
  })

  it('rejects a wrong password for a legacy hash', async () => {
    expect((await t.login({ username: 'carl', password: 'wrong password' })).status).toBe(401)
  })

  it('replaces a legacy hash with one of the current parameters after login', async () => {
    const select = "select hashed_password from users where username = 'rehash_me'"
    const [before] = await t.query(select)
    expect(before?.hashed_password).toBe(passlibHash.hash)
    expect((await t.login({ username: 'rehash_me', password: passlibHash.password })).status).toBe(
      200,
    )
    const [after] = await t.query(select)
    const hash = String(after?.hashed_password)
    expect(hash).not.toBe(passlibHash.hash)
    expect(t.passwords.needsRehash(hash)).toBe(false)
    expect((await t.login({ username: 'rehash_me', password: passlibHash.password })).status).toBe(
      200,
    )
  })

  it('validates a token made by the Python service (PyJWT, same secret)', async () => {
    const res = await t.validate(`Bearer ${legacy.jwt.valid}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ username: 'legacy_alice', valid: true })
  })

  it('rejects an expired PyJWT token and one signed with another secret', async () => {
    expect((await t.validate(`Bearer ${legacy.jwt.expired}`)).status).toBe(401)
    expect((await t.validate(`Bearer ${legacy.jwt.other_secret}`)).status).toBe(401)
  })

  it('keeps tokens_valid_after NULL for adopted rows, so their Python tokens keep working', async () => {
    const rows = await t.query('select tokens_valid_after from users where id <= $1', [
      legacyRows.length,
    ])
    expect(rows.map((r) => r.tokens_valid_after)).toEqual(legacyRows.map(() => null))
  })

  it("refuses an adopted user's Python tokens once the user has logged out", async () => {
    const exp = Math.floor(t.clock.now() / 1000) + 600
    const python = forgeJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'carl', exp }, legacy.jwt.secret)
    expect((await t.validate(`Bearer ${python}`)).status).toBe(200)
    const login = await t.login({ username: 'carl', password: cffiHash.password })
    const { access_token } = await login.json()
    expect((await t.bearer('POST', '/logout', access_token)).status).toBe(204)
    expect((await t.validate(`Bearer ${python}`)).status).toBe(401)
  })

  it('continues the id sequence and refuses a case variant of a legacy name', async () => {
    const created = await t.register({
      name: 'New',
      username: 'newcomer',
      password: 'a fine password',
    })
    expect((await created.json()).id).toBe(legacyRows.length + 1)
    const clash = await t.register({
      name: 'X',
      username: 'LEGACY_ALICE',
      password: 'a fine password',
    })
    expect(clash.status).toBe(409)
  })
})

describe('adopted rows whose names look alike', () => {
  let t: TestApp
  const rows = [
    { name: 'Latin', username: 'paypal', hash: cffiHash.hash },
    { name: 'Cyrillic', username: 'раураl', hash: cffiHash.hash },
    { name: 'Mixed', username: 'pаypal', hash: cffiHash.hash },
  ]
  beforeAll(async () => {
    t = await makeTestApp({
      seed: async (exec) => {
        await exec(pythonSchema)
        await exec(insertLegacy(rows))
      },
    })
  })
  afterAll(() => t.close())

  it('all migrate; only the oldest keeps the shared skeleton', async () => {
    const stored = await t.query('select id, username_skeleton from users order by id')
    expect(stored).toEqual([
      { id: 1, username_skeleton: usernameSkeleton('paypal') },
      { id: 2, username_skeleton: null },
      { id: 3, username_skeleton: null },
    ])
  })

  it('all log in, though the rules would refuse two of them today', async () => {
    for (const { username } of rows) {
      expect((await t.login({ username, password: cffiHash.password })).status).toBe(200)
    }
  })

  it('a new look-alike of them is a 409', async () => {
    const res = await t.register({ name: 'X', username: 'PAYPAL', password: 'a fine password' })
    expect(res.status).toBe(409)
    const alike = await t.register({ name: 'X', username: 'paypa1', password: 'a fine password' })
    expect(alike.status).toBe(409)
    expect(await alike.json()).toEqual({
      detail: 'User already exists: a username that looks the same is taken',
    })
  })
})

describe('a short Python secret in JWT_LEGACY_SECRET', () => {
  const PYTHON_SECRET = 'py-secret'
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({
      jwt: { legacySecret: PYTHON_SECRET },
      seed: async (exec) => {
        await exec(pythonSchema)
        await exec(insertLegacy([legacyRows[2] as (typeof legacyRows)[0]]))
      },
    })
  })
  afterAll(() => t.close())
  const exp = () => Math.floor(t.clock.now() / 1000) + 600

  it("honours the Python service's tokens it signed for an adopted account", async () => {
    const python = forgeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'carl', exp: exp() },
      PYTHON_SECRET,
    )
    const res = await t.validate(`Bearer ${python}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ username: 'carl', valid: true })
    expect((await t.bearer('GET', '/me', python)).status).toBe(200)
  })

  it('never reaches an account registered here, whatever the claims a forger puts in', async () => {
    const password = 'a fine password'
    const created = await (await t.register({ name: 'N', username: 'newbie', password })).json()
    const iat = Math.floor(t.clock.now() / 1000)
    for (const claims of [
      { sub: 'newbie', exp: exp() },
      { sub: 'newbie', uid: created.id, iat, auth_ms: t.clock.now(), exp: exp() },
      { sub: 'newbie', iat, exp: exp() },
    ]) {
      const forged = forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims, PYTHON_SECRET)
      expect((await t.validate(`Bearer ${forged}`)).status).toBe(401)
      expect((await t.bearer('GET', '/me', forged)).status).toBe(401)
    }
    const { access_token } = await (await t.login({ username: 'newbie', password })).json()
    expect((await t.validate(`Bearer ${access_token}`)).status).toBe(200)
  })
})

describe('a Python database the migration cannot adopt as it is', () => {
  async function attempt(rows: string) {
    const { handle, release } = await borrowEmptyPglite()
    const client = (
      handle.db as unknown as {
        $client: {
          exec(s: string): Promise<unknown>
          query(s: string): Promise<{ rows: unknown[] }>
        }
      }
    ).$client
    await client.exec(pythonSchema)
    await client.exec(rows)
    const error = await migrateDatabase(handle).then(
      () => null,
      (e: unknown) => e as Error & { cause?: Error },
    )
    const columns = await client.query(
      "select column_name from information_schema.columns where table_name = 'users' order by column_name",
    )
    const count = await client.query('select count(*)::int as n from users')
    await release()
    return { error, columns: columns.rows, count: count.rows }
  }

  it('stops with a message naming usernames that differ only in case, and changes nothing', async () => {
    const { error, columns, count } = await attempt(
      insertLegacy([
        { name: 'A', username: 'Alice', hash: cffiHash.hash },
        { name: 'B', username: 'alice', hash: cffiHash.hash },
        { name: 'C', username: 'bob', hash: cffiHash.hash },
      ]),
    )
    expect(error).not.toBeNull()
    const message = `${error?.message} ${error?.cause?.message}`
    expect(message).toContain("'Alice', 'alice'")
    expect(message).toContain('differ only in case')
    expect(message).not.toContain("'bob'")
    expect(columns.map((c) => (c as { column_name: string }).column_name)).not.toContain(
      'created_at',
    )
    expect(count).toEqual([{ n: 3 }])
  })

  it('stops with a message naming usernames that are one under case folding, and changes nothing', async () => {
    const { error, columns, count } = await attempt(
      insertLegacy([
        { name: 'A', username: 'Straße', hash: cffiHash.hash },
        { name: 'B', username: 'bob', hash: cffiHash.hash },
        { name: 'C', username: 'STRASSE', hash: cffiHash.hash },
        { name: 'D', username: 'νίκος', hash: cffiHash.hash },
        { name: 'E', username: 'ΝΊΚΟΣ', hash: cffiHash.hash },
      ]),
    )
    const message = `${error?.message} ${error?.cause?.message}`
    expect(message).toContain("'Straße', 'STRASSE' (ids 1, 3)")
    expect(message).toContain("'νίκος', 'ΝΊΚΟΣ' (ids 4, 5)")
    expect(message).toContain('case folding')
    expect(message).not.toContain("'bob'")
    const names = columns.map((c) => (c as { column_name: string }).column_name)
    expect(names).not.toContain('username_key')
    expect(names).not.toContain('created_at')
    expect(count).toEqual([{ n: 5 }])
  })

  it('migrates once the colliding rows are fixed, from the state the failed run left', async () => {
    const { handle, release } = await borrowEmptyPglite()
    const client = (handle.db as unknown as { $client: { exec(s: string): Promise<unknown> } })
      .$client
    await client.exec(pythonSchema)
    await client.exec(
      insertLegacy([
        { name: 'A', username: 'Straße', hash: cffiHash.hash },
        { name: 'B', username: 'STRASSE', hash: cffiHash.hash },
      ]),
    )
    await expect(migrateDatabase(handle)).rejects.toThrow()
    await client.exec("UPDATE users SET username = 'strasse2' WHERE id = 2")
    await migrateDatabase(handle)
    await migrateDatabase(handle)
    const rows = (await client.exec('select username_key from users order by id')) as {
      rows: unknown[]
    }[]
    expect(rows[0]?.rows).toEqual([{ username_key: 'strasse' }, { username_key: 'strasse2' }])
    await release()
  })

  it('stops with a message naming rows whose username or hash is NULL', async () => {
    const { error, count } = await attempt(
      "INSERT INTO users (name, username, hashed_password) VALUES ('A', 'a1', NULL), ('B', NULL, 'x');",
    )
    expect(`${error?.message} ${error?.cause?.message}`).toContain(
      'NULL name, username or hashed_password: ids 1, 2',
    )
    expect(count).toEqual([{ n: 2 }])
  })
})
