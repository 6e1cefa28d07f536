/**
 * How revocation reaches /validate across instances: each process or isolate caches what it read
 * about an account for TOKEN_REVOCATION_CACHE_SECONDS. In-process only: it needs two app instances
 * on one database, the fake clock, and a database that stops answering.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { makeTestApp, type TestApp } from './support/app'

const password = 'correct horse battery staple'
let counter = 0

async function session(t: TestApp) {
  const username = `cache${++counter}_${Math.random().toString(36).slice(2, 8)}`
  expect((await t.register({ name: 'Cache', username, password })).status).toBe(201)
  const body = await (await t.login({ username, password })).json()
  return { username, access: body.access_token as string }
}

const validateOn = (app: TestApp['app'], access: string) =>
  app.request('/validate', { method: 'POST', headers: { authorization: `Bearer ${access}` } })

describe('a logout seen from another instance', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({ sessions: { revocationCacheSeconds: 30 } })
  })
  afterAll(() => t.close())

  it('reaches its /validate once its cache entry is older than TOKEN_REVOCATION_CACHE_SECONDS', async () => {
    const other = t.instance()
    const s = await session(t)
    expect((await validateOn(other, s.access)).status).toBe(200)
    expect((await t.bearer('POST', '/logout', s.access)).status).toBe(204)
    expect((await validateOn(t.app, s.access)).status).toBe(401)
    t.clock.advance(29)
    expect((await validateOn(other, s.access)).status).toBe(200)
    t.clock.advance(2)
    expect((await validateOn(other, s.access)).status).toBe(401)
  })

  it('reaches it at once with TOKEN_REVOCATION_CACHE_SECONDS=0', async () => {
    const other = t.instance({ revocationCacheSeconds: 0 })
    const s = await session(t)
    expect((await validateOn(other, s.access)).status).toBe(200)
    expect((await t.bearer('POST', '/logout', s.access)).status).toBe(204)
    expect((await validateOn(other, s.access)).status).toBe(401)
  })

  it('never reaches /validate with STATELESS_VALIDATION, but /me still refuses the token', async () => {
    const stateless = t.instance({ statelessValidation: true })
    const s = await session(t)
    expect((await t.bearer('POST', '/logout', s.access)).status).toBe(204)
    t.clock.advance(60)
    expect((await validateOn(stateless, s.access)).status).toBe(200)
    const me = await stateless.request('/me', { headers: { authorization: `Bearer ${s.access}` } })
    expect(me.status).toBe(401)
  })

  it('a deletion seen from another instance: refused once the cache entry expires', async () => {
    const other = t.instance()
    const s = await session(t)
    expect((await validateOn(other, s.access)).status).toBe(200)
    const res = await t.bearer('DELETE', '/me', s.access, { current_password: password })
    expect(res.status).toBe(204)
    t.clock.advance(31)
    expect((await validateOn(other, s.access)).status).toBe(401)
  })
})

describe('when the database cannot answer', () => {
  it('fails closed: 503 {"detail"} when the check is needed, never 200', async () => {
    const t = await makeTestApp({ sessions: { revocationCacheSeconds: 0 } })
    onTestFinished(() => t.close())
    const s = await session(t)
    await t.closeDatabase()
    const res = await t.validate(`Bearer ${s.access}`)
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ detail: expect.any(String) })
    expect(t.logs.some((line) => line.includes('revocation_check_unavailable'))).toBe(true)
  })

  it('answers from the cache without a query while the entry is fresh, then fails closed', async () => {
    const t = await makeTestApp({ sessions: { revocationCacheSeconds: 30 } })
    onTestFinished(() => t.close())
    const s = await session(t)
    expect((await t.validate(`Bearer ${s.access}`)).status).toBe(200)
    await t.closeDatabase()
    for (let i = 0; i < 5; i++) expect((await t.validate(`Bearer ${s.access}`)).status).toBe(200)
    t.clock.advance(31)
    expect((await t.validate(`Bearer ${s.access}`)).status).toBe(503)
  })

  it('stateless validation needs no database at all', async () => {
    const t = await makeTestApp({ sessions: { statelessValidation: true } })
    onTestFinished(() => t.close())
    const s = await session(t)
    await t.closeDatabase()
    expect((await t.validate(`Bearer ${s.access}`)).status).toBe(200)
  })

  it('a bad token is still a 401 (checked before the database)', async () => {
    const t = await makeTestApp({ sessions: { revocationCacheSeconds: 0 } })
    onTestFinished(() => t.close())
    await t.closeDatabase()
    expect((await t.validate('Bearer not.a.token')).status).toBe(401)
  })
})
