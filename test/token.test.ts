/**
 * Login behaviour only visible from inside (spies on the password hasher). The HTTP behaviour of
 * POST /token is in test/contract/token.ts, run on every runtime.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestApp, type TestApp } from './support/app'

let t: TestApp
const password = 'correct horse battery staple'
let username: string

beforeAll(async () => {
  t = await makeTestApp()
  username = `Bob_${Math.random().toString(36).slice(2, 8)}`
  const res = await t.register({ name: 'Bob', username, password })
  expect(res.status).toBe(201)
})
afterAll(() => t.close())

describe('POST /token, inside', () => {
  it('an unknown user costs a verification against a dummy hash (timing)', async () => {
    let calls = 0
    const original = t.passwords.verifyDummy
    t.passwords.verifyDummy = async (p) => {
      calls++
      return original.call(t.passwords, p)
    }
    try {
      expect((await t.login({ username: 'nobody_at_all', password })).status).toBe(401)
    } finally {
      t.passwords.verifyDummy = original
    }
    expect(calls).toBe(1)
  })

  it('an overlong password is refused without hashing it', async () => {
    let calls = 0
    const original = t.passwords.verify
    t.passwords.verify = async (p, h) => {
      calls++
      return original.call(t.passwords, p, h)
    }
    try {
      expect((await t.login({ username, password: 'p'.repeat(5000) })).status).toBe(400)
      expect(calls).toBe(0)
      expect((await t.login({ username, password })).status).toBe(200)
      expect(calls).toBe(1)
    } finally {
      t.passwords.verify = original
    }
  })
})
