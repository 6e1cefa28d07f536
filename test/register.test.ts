/**
 * What registration does to the database, seen from inside. The HTTP behaviour of POST /register
 * (statuses, bodies, every bad input) is in test/contract/register.ts, run on every runtime.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestApp, type TestApp } from './support/app'

let t: TestApp
beforeAll(async () => {
  t = await makeTestApp()
})
afterAll(() => t.close())

const uniqueName = (prefix = 'user') => `${prefix}_${Math.random().toString(36).slice(2, 10)}`
const valid = (overrides: Record<string, unknown> = {}) => ({
  name: 'Alice Liddell',
  username: uniqueName(),
  password: 'correct horse battery staple',
  ...overrides,
})
const countUsers = async () => Number((await t.query('select count(*)::int as n from users'))[0]?.n)

describe('POST /register, in the database', () => {
  it('stores an argon2id PHC hash with the configured cost, never the password', async () => {
    const input = valid()
    const res = await t.register(input)
    expect(res.status).toBe(201)
    const { id } = await res.json()
    const [row] = await t.query('select hashed_password from users where id = $1', [id])
    expect(row?.hashed_password).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$[A-Za-z0-9+/]{22}\$/)
    expect(row?.hashed_password).not.toContain(input.password)
  })

  it('keeps one row for Alice, alice and ALICE', async () => {
    const base = uniqueName('Case')
    for (const username of [base, base.toLowerCase(), base.toUpperCase()]) {
      await t.register(valid({ username }))
    }
    const rows = await t.query('select id from users where lower(username) = lower($1)', [base])
    expect(rows).toHaveLength(1)
  })

  it('keeps one row out of 100 concurrent registrations of one username', async () => {
    const username = uniqueName('race')
    const results = await Promise.all(
      Array.from({ length: 100 }, () => t.register(valid({ username }))),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 409)).toHaveLength(99)
    expect(await t.query('select id from users where username = $1', [username])).toHaveLength(1)
  })

  it('writes no row for a refused registration', async () => {
    const before = await countUsers()
    const refused = [
      '{"name": "a", ',
      JSON.stringify({ name: 'A', username: uniqueName() }),
      JSON.stringify(valid({ name: 'Ali\u0000ce' })),
      JSON.stringify(valid({ username: 'ab' })),
      JSON.stringify(valid({ password: 'short' })),
      JSON.stringify(valid({ password: 'p'.repeat(129) })),
    ]
    for (const body of refused) expect((await t.register(body)).status).toBe(422)
    expect(await countUsers()).toBe(before)
  })

  it('__proto__ in the body does not pollute Object.prototype', async () => {
    const body = `{"__proto__": {"isAdmin": true}, "name": "Mallory", "username": "${uniqueName()}", "password": "correct horse battery"}`
    expect((await t.register(body)).status).toBe(201)
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })
})
