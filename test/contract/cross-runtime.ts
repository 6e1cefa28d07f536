import { describe, expect, it } from 'vitest'
import {
  CONTRACT_ADMIN_KEY,
  type ContractTarget,
  CROSS_RUNTIME_CACHE_SECONDS,
  client,
  expect429,
  expectInvalidGrant,
  expectInvalidToken,
  logIn,
  loginToken,
  PASSWORD,
  registerUser,
  rotate,
  sleep,
  uniqueName,
} from './target'

/**
 * Runtimes sharing one database and one secret agree with each other: a password hashed on one
 * logs in on every other, a token minted by one validates on every other, a username taken on
 * one is a 409 on every other, a session started on one refreshes on the others and ends
 * everywhere with a logout on any (on another's `/validate` within its revocation cache time), a
 * ban on one locks the account out on all, and failed logins on all of them count towards one limit.
 */
export function crossRuntimeContract(targets: () => ContractTarget[]): void {
  const pairs = () =>
    targets().flatMap((from) =>
      targets()
        .filter((to) => to !== from)
        .map((to) => [from, to] as const),
    )

  describe('across runtimes on one database', () => {
    it('a password hashed on one runtime logs in on every other', async () => {
      for (const [from, to] of pairs()) {
        const { username } = await registerUser(() => from, 'xrt')
        const res = await client(() => to).login({ username, password: PASSWORD })
        expect(res.status, `registered on ${from.name}, logged in on ${to.name}`).toBe(200)
      }
    })

    it('a token minted by one runtime validates on every other', async () => {
      for (const [from, to] of pairs()) {
        const { username } = await registerUser(() => from, 'xtk')
        const token = await loginToken(() => from, username)
        const res = await client(() => to).validate(`Bearer ${token}`)
        expect(res.status, `minted on ${from.name}, validated on ${to.name}`).toBe(200)
        expect(await res.json()).toEqual({ username, valid: true })
      }
    })

    it('a session started on one runtime refreshes on every other; a used token is refused on any', async () => {
      for (const [from, to] of pairs()) {
        const { username } = await registerUser(() => from, 'xsess')
        const first = await logIn(() => from, username)
        const next = await rotate(() => to, first.refresh)
        const again = await rotate(() => from, next.refresh)
        const res = await client(() => to).refresh(first.refresh)
        await expectInvalidGrant(res)
        expect((await client(() => to).validate(`Bearer ${again.access}`)).status).toBe(200)
      }
    })

    it('a logout on one runtime ends the session on every other: /me and refresh at once, /validate within the cache time', async () => {
      await Promise.all(
        pairs().map(async ([from, to]) => {
          const where = `logged out on ${from.name}, checked on ${to.name}`
          const { username } = await registerUser(() => from, 'xout')
          const s = await logIn(() => from, username)
          // `to` reads the account once and caches it: the logout reaches it only when that expires.
          expect((await client(() => to).validate(`Bearer ${s.access}`)).status, where).toBe(200)
          expect((await client(() => from).bearer('POST', '/logout', s.access)).status).toBe(204)
          const loggedOutAt = Date.now()
          await expectInvalidToken(await client(() => to).bearer('GET', '/me', s.access))
          await expectInvalidGrant(await client(() => to).refresh(s.refresh))
          let status = 200
          while (
            status === 200 &&
            Date.now() - loggedOutAt < CROSS_RUNTIME_CACHE_SECONDS * 1000 + 3000
          ) {
            await sleep(200)
            status = (await client(() => to).validate(`Bearer ${s.access}`)).status
          }
          expect(status, where).toBe(401)
        }),
      )
    })

    it('a ban on one runtime locks the account out on every other: /token and /me at once, /validate within the cache time', async () => {
      await Promise.all(
        pairs().map(async ([from, to]) => {
          const where = `banned on ${from.name}, checked on ${to.name}`
          const { id, username } = await registerUser(() => from, 'xban')
          const s = await logIn(() => from, username)
          expect((await client(() => to).validate(`Bearer ${s.access}`)).status, where).toBe(200)
          const banned = await from.fetch(`/admin/users/${id}/ban`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${CONTRACT_ADMIN_KEY}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ reason: 'cross-runtime' }),
          })
          expect(banned.status, where).toBe(200)
          const bannedAt = Date.now()
          await expectInvalidToken(await client(() => to).bearer('GET', '/me', s.access))
          expect((await client(() => to).refresh(s.refresh)).status, where).toBe(403)
          const login = await client(() => to).login({ username, password: PASSWORD })
          expect(login.status, where).toBe(403)
          let status = 200
          while (
            status === 200 &&
            Date.now() - bannedAt < CROSS_RUNTIME_CACHE_SECONDS * 1000 + 3000
          ) {
            await sleep(200)
            status = (await client(() => to).validate(`Bearer ${s.access}`)).status
          }
          expect(status, where).toBe(401)
        }),
      )
    })

    it('failed logins on every runtime count towards one limit per account', async () => {
      const all = targets()
      const { username } = await registerUser(() => all[0] as ContractTarget, 'xthr')
      for (let i = 0; i < 5; i++) {
        const on = all[i % all.length] as ContractTarget
        const res = await client(() => on).login({ username, password: `wrong-${i}` })
        expect(res.status, `failure ${i + 1} on ${on.name}`).toBe(401)
      }
      for (const on of all) {
        await expect429(await client(() => on).login({ username, password: PASSWORD }))
      }
    })

    it('a username taken on one runtime is a 409 on every other, in any case', async () => {
      for (const [from, to] of pairs()) {
        const username = uniqueName('xdup')
        const body = { name: 'First', username, password: PASSWORD }
        expect((await client(() => from).register(body)).status).toBe(201)
        const res = await client(() => to).register({ ...body, username: username.toUpperCase() })
        expect(res.status, `taken on ${from.name}, registered on ${to.name}`).toBe(409)
        expect(await res.json()).toEqual({ detail: 'User already exists' })
      }
    })
  })
}
