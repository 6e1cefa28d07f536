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

  it('a token carries its family (16 bytes), then 256 random bits', async () => {
    const s = await session()
    const [family, secret] = s.refresh.split('.') as [string, string]
    const [row] = await rowsOf(s.id)
    expect(Buffer.from(family, 'base64url').toString('hex')).toBe(
      String(row?.family_id).replaceAll('-', ''),
    )
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32)
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

describe('a family holds a bounded number of rows', () => {
  /** Rotates `times` times from `token`, moving the clock `step` seconds before each; returns every token. */
  async function chain(token: string, times: number, step: number): Promise<string[]> {
    const tokens = [token]
    for (let i = 0; i < times; i++) {
      t.clock.advance(step)
      const res = await t.refresh(tokens[tokens.length - 1] as string)
      expect(res.status).toBe(200)
      tokens.push((await res.json()).refresh_token)
    }
    return tokens
  }

  it('many rotations, each after the grace window: the current token and the one it replaced', async () => {
    const s = await session()
    const tokens = await chain(s.refresh, 40, 11)
    const rows = await rowsOf(s.id)
    expect(rows.map((r) => r.token_hash)).toEqual(tokens.slice(-2).map(sha256))
  })

  it('many rotations within the grace window: at most 4 rows (the current token and the 3 last consumed)', async () => {
    const s = await session()
    const tokens = await chain(s.refresh, 25, 0.2)
    const rows = await rowsOf(s.id)
    expect(rows).toHaveLength(4)
    expect(new Set(rows.map((r) => r.token_hash))).toEqual(new Set(tokens.slice(-4).map(sha256)))
  })

  it('the first token of a family rotated many times is still detected as reuse: every session of the user ends, access tokens included', async () => {
    const s = await session()
    const other = await (await t.login({ username: s.username, password })).json()
    const tokens = await chain(s.refresh, 40, 11)
    expect(
      await t.query('select 1 from refresh_tokens where token_hash = $1', [sha256(s.refresh)]),
    ).toHaveLength(0)
    const current = tokens[tokens.length - 1] as string
    // /validate caches the account now: the detection must reach it at once all the same.
    expect((await t.validate(`Bearer ${other.access_token}`)).status).toBe(200)
    const res = await t.refresh(s.refresh)
    expect(res.status).toBe(400)
    expect((await res.json()).error).toBe('invalid_grant')
    expect((await t.refresh(current)).status).toBe(400)
    expect((await t.refresh(other.refresh_token)).status).toBe(400)
    expect((await t.validate(`Bearer ${s.access}`)).status).toBe(401)
    expect((await t.validate(`Bearer ${other.access_token}`)).status).toBe(401)
    expect((await t.bearer('GET', '/me', s.access)).status).toBe(401)
    for (const row of await rowsOf(s.id)) expect(row.revoked_at).toBeInstanceOf(Date)
    expect(t.logs.some((l) => l.includes('"authn_refresh_reuse_detected"'))).toBe(true)
    // A fresh login works at once.
    const fresh = await (await t.login({ username: s.username, password })).json()
    expect((await t.validate(`Bearer ${fresh.access_token}`)).status).toBe(200)
  })

  it('a token with the family part of a live family but an unknown secret counts as reuse', async () => {
    const s = await session()
    const forged = `${s.refresh.split('.')[0]}.${'A'.repeat(43)}`
    expect((await t.refresh(forged)).status).toBe(400)
    expect((await t.refresh(s.refresh)).status).toBe(400)
  })

  it('a token of the earlier format (no family part) still rotates, into a token that names its family', async () => {
    const s = await session()
    const legacy = Buffer.alloc(32, 9).toString('base64url')
    await t.query('update refresh_tokens set token_hash = $2 where token_hash = $1', [
      sha256(s.refresh),
      sha256(legacy),
    ])
    const res = await t.refresh(legacy)
    expect(res.status).toBe(200)
    const next = (await res.json()).refresh_token as string
    const [family] = await t.query('select family_id from refresh_tokens where token_hash = $1', [
      sha256(next),
    ])
    expect(Buffer.from(next.split('.')[0] as string, 'base64url').toString('hex')).toBe(
      String(family?.family_id).replaceAll('-', ''),
    )
    t.clock.advance(11)
    expect((await t.refresh(legacy)).status).toBe(400)
    expect((await t.refresh(next)).status).toBe(400)
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
