/**
 * What the sessions leave in the database: only hashes, families, cascades, single statements.
 * Companion of the HTTP contract suite (test/contract/sessions.ts, account.ts); these cases read the
 * tables directly.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestApp, type TestApp } from './support/app'

const password = 'correct horse battery staple'
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

let t: TestApp
beforeAll(async () => {
  t = await makeTestApp()
})
afterAll(() => t.close())

let counter = 0
async function session() {
  const username = `db${++counter}_${Math.random().toString(36).slice(2, 8)}`
  const { id } = await (await t.register({ name: 'Db', username, password })).json()
  const body = await (await t.login({ username, password })).json()
  return { id: id as number, username, access: body.access_token, refresh: body.refresh_token }
}

const rowsOf = (userId: number) =>
  t.query('select * from refresh_tokens where user_id = $1 order by created_at, consumed_at', [
    userId,
  ])

describe('refresh_tokens', () => {
  it('stores only the SHA-256 of the token, never the token', async () => {
    const s = await session()
    const rows = await t.query(
      'select *, r::text as whole from refresh_tokens r where user_id = $1',
      [s.id],
    )
    expect(rows).toHaveLength(1)
    expect(rows[0]?.token_hash).toBe(sha256(s.refresh))
    expect(String(rows[0]?.whole)).not.toContain(s.refresh)
  })

  it('a token carries 256 random bits', async () => {
    const s = await session()
    expect(Buffer.from(s.refresh, 'base64url')).toHaveLength(32)
  })

  it('a rotation marks the token consumed and adds its successor to the same family', async () => {
    const s = await session()
    const next = await (await t.refresh(s.refresh)).json()
    const rows = await rowsOf(s.id)
    expect(rows).toHaveLength(2)
    const [old, successor] = rows
    expect(old?.token_hash).toBe(sha256(s.refresh))
    expect(old?.consumed_at).toBeInstanceOf(Date)
    expect(successor?.token_hash).toBe(sha256(next.refresh_token))
    expect(successor?.consumed_at).toBeNull()
    expect(successor?.family_id).toBe(old?.family_id)
    expect(successor?.session_started_at).toEqual(old?.session_started_at)
    expect(successor?.session_expires_at).toEqual(old?.session_expires_at)
  })

  it('each login starts a new family', async () => {
    const s = await session()
    await t.login({ username: s.username, password })
    const families = new Set((await rowsOf(s.id)).map((r) => r.family_id))
    expect(families.size).toBe(2)
  })

  it('concurrent rotations of one token write exactly one successor', async () => {
    const s = await session()
    await Promise.all(Array.from({ length: 8 }, () => t.refresh(s.refresh)))
    const rows = await rowsOf(s.id)
    expect(rows).toHaveLength(2)
    expect(rows.filter((r) => r.consumed_at === null)).toHaveLength(1)
  })

  it('a refused rotation writes nothing', async () => {
    const s = await session()
    const before = await t.query('select count(*)::int as n from refresh_tokens')
    await t.refresh('A'.repeat(43))
    await t.revoke({ token: s.refresh })
    await t.refresh(s.refresh)
    const after = await t.query('select count(*)::int as n from refresh_tokens')
    expect(after[0]?.n).toBe(before[0]?.n)
  })

  it('refuses a token whose session started before tokens_valid_after, even if its row is not revoked (a logout racing a refresh)', async () => {
    const cutAt = (userId: number, offsetMs: number) =>
      t.query(
        `update users set tokens_valid_after = (select min(session_started_at) from refresh_tokens where user_id = $1) + $2 * interval '1 millisecond' where id = $1`,
        [userId, offsetMs],
      )
    const beforeCut = await session()
    await cutAt(beforeCut.id, -1)
    expect((await t.refresh(beforeCut.refresh)).status).toBe(200)
    const afterCut = await session()
    t.clock.advance(5)
    const successor = await (await t.refresh(afterCut.refresh)).json()
    await cutAt(afterCut.id, 0)
    expect((await t.refresh(successor.refresh_token)).status).toBe(400)
    const rows = await rowsOf(afterCut.id)
    expect(rows.map((r) => r.revoked_at)).toEqual([null, null])
    expect(rows[1]?.consumed_at).toBeNull()
    expect((rows[1]?.created_at as Date) > (rows[1]?.session_started_at as Date)).toBe(true)
  })

  it('logout revokes every row of the user and moves tokens_valid_after', async () => {
    const s = await session()
    await t.login({ username: s.username, password })
    await t.bearer('POST', '/logout', s.access)
    const rows = await rowsOf(s.id)
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(row.revoked_at).toBeInstanceOf(Date)
    const [user] = await t.query('select tokens_valid_after from users where id = $1', [s.id])
    expect(user?.tokens_valid_after).toEqual(new Date(t.clock.now()))
  })

  it('a login deletes the user’s revoked and expired rows', async () => {
    const s = await session()
    await t.revoke({ token: s.refresh })
    expect(await rowsOf(s.id)).toHaveLength(1)
    await t.login({ username: s.username, password })
    const rows = await rowsOf(s.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]?.revoked_at).toBeNull()
  })

  it('deleting the account deletes its rows (ON DELETE CASCADE)', async () => {
    const s = await session()
    await t.refresh(s.refresh)
    const res = await t.bearer('DELETE', '/me', s.access, { current_password: password })
    expect(res.status).toBe(204)
    expect(await rowsOf(s.id)).toHaveLength(0)
    expect(await t.query('select id from users where id = $1', [s.id])).toHaveLength(0)
  })
})

describe('users.tokens_valid_after', () => {
  it('is the epoch for accounts registered here', async () => {
    const s = await session()
    const [user] = await t.query('select tokens_valid_after from users where id = $1', [s.id])
    expect(user?.tokens_valid_after).toEqual(new Date(0))
  })

  it('never moves backwards: a logout moves it at least a millisecond past the old value', async () => {
    const s = await session()
    const later = new Date(t.clock.now() + 10_000)
    await t.query('update users set tokens_valid_after = $2 where id = $1', [s.id, later])
    const fresh = await (await t.login({ username: s.username, password })).json()
    expect((await t.bearer('POST', '/logout', fresh.access_token)).status).toBe(204)
    const [user] = await t.query('select tokens_valid_after from users where id = $1', [s.id])
    expect(user?.tokens_valid_after).toEqual(new Date(later.getTime() + 1))
  })
})
