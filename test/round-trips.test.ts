import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPasswordHasher } from '../src/auth/password'
import { makeTestApp, type TestApp } from './support/app'

/**
 * Database round trips per request: every statement the app sends goes through the PGlite
 * client's `query` (drizzle's PGlite session calls nothing else for these routes), so counting
 * calls there counts round trips, whatever SQL drizzle builds.
 */
let t: TestApp
let statements = 0
const password = 'correct horse battery staple'

beforeAll(async () => {
  t = await makeTestApp()
  const client = (t.handle.db as unknown as { $client: Record<string, unknown> }).$client
  for (const method of ['query', 'exec', 'transaction'] as const) {
    const original = client[method] as (...args: unknown[]) => Promise<unknown>
    client[method] = (...args: unknown[]) => {
      statements++
      return original.apply(client, args)
    }
  }
})
afterAll(() => t.close())

/** Runs `send` and returns how many statements reached the database meanwhile. */
async function roundTrips(
  send: () => Response | Promise<Response>,
  status: number,
): Promise<number> {
  statements = 0
  const res = await send()
  expect(res.status).toBe(status)
  return statements
}

describe('database round trips per request', () => {
  it('register: 1 (a single INSERT ... ON CONFLICT DO NOTHING RETURNING)', async () => {
    const register = () => t.register({ name: 'Rita', username: 'rita', password })
    expect(await roundTrips(register, 201)).toBe(1)
    expect(await roundTrips(register, 409)).toBe(1)
  })

  // Issue 7 asks for at most 2 on a login; throttling (counted in Postgres before hashing) and the
  // refresh-token session each add statements, so a login now takes 4. docs/benchmarks.md says so.
  it('login: 4 on success (user, attempt count, count reset, session), 2 on failure, +1 for a rehash', async () => {
    await t.register({ name: 'Lou', username: 'lou', password })
    const login =
      (username: string, pw = password) =>
      () =>
        t.login({ username, password: pw })
    await login('lou')()
    expect(await roundTrips(login('lou'), 200)).toBe(4)
    expect(await roundTrips(login('lou', 'wrong password'), 401)).toBe(2)
    expect(await roundTrips(login('nobody'), 401)).toBe(2)

    const legacy = createPasswordHasher({
      params: { memoryKiB: 128, iterations: 1, parallelism: 1 },
    })
    const phc = await legacy.hash(password)
    await t.query(`insert into users (name, username, hashed_password) values ('Old', 'old', $1)`, [
      phc,
    ])
    expect(await roundTrips(login('old'), 200)).toBe(5)
    expect(await roundTrips(login('old'), 200)).toBe(4)
  })

  it('validate: 0 for a token it has already seen, and 0 for a malformed one', async () => {
    await t.register({ name: 'Val', username: 'val', password })
    const token = (await (await t.login({ username: 'val', password })).json()).access_token
    const validate = () => t.validate(`Bearer ${token}`)
    await roundTrips(validate, 200)
    for (let i = 0; i < 5; i++) expect(await roundTrips(validate, 200)).toBe(0)
    expect(await roundTrips(() => t.validate('Bearer not.a.token'), 401)).toBe(0)
  })
})
