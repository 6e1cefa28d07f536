/**
 * The README's typed-client example, compiled by `bun run typecheck` (test/ is included) and run
 * against the app. The client is Hono's `hc` over `AppType`; here its fetch is `app.request`, so
 * the requests go through the whole app without a server.
 */
import { hc } from 'hono/client'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import type { AppType } from '../src/app'
import { adminKeyHash, newAdminKey } from '../src/auth/admin-keys'
import { makeTestApp, type TestApp } from './support/app'
import { secretOfUri, totpNow } from './support/totp'

let t: TestApp
beforeAll(async () => {
  t = await makeTestApp()
})
afterAll(() => t.close())

const password = 'correct horse battery staple'

describe('hc<AppType>', () => {
  it('registers, logs in and validates with full types', async () => {
    const auth = hc<AppType>('http://auth.internal', {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => t.app.request(input, init),
    })

    const registered = await auth.register.$post({
      json: { name: 'Grace', username: 'grace_typed', password },
    })
    expect(registered.status).toBe(201)
    if (registered.status === 201) {
      const user = await registered.json()
      expectTypeOf(user).toEqualTypeOf<{ id: number; name: string; username: string }>()
      expect(user).toMatchObject({ name: 'Grace', username: 'grace_typed' })
    }

    const login = await auth.token.$post({ form: { username: 'grace_typed', password } })
    if (login.status !== 200) throw new Error(`login failed: ${login.status}`)
    const { access_token } = await login.json()
    expectTypeOf(access_token).toEqualTypeOf<string>()

    const res = await auth.validate.$get(undefined, {
      headers: { authorization: `Bearer ${access_token}` },
    })
    expect(res.status).toBe(200)
    if (res.status === 200) {
      const body = await res.json()
      expectTypeOf(body).toEqualTypeOf<{ username: string; valid: true }>()
      expect(body).toEqual({ username: 'grace_typed', valid: true })
      expect(res.headers.get('x-auth-user')).toBe('grace_typed')
    }

    const denied = await auth.validate.$post()
    expect(denied.status).toBe(401)
    if (denied.status === 401) {
      expectTypeOf(await denied.json()).toEqualTypeOf<{ detail: string }>()
    }
  })

  it('reads the key set and introspects with full types', async () => {
    const auth = hc<AppType>('http://auth.internal', {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => t.app.request(input, init),
    })
    const jwks = await auth['.well-known']['jwks.json'].$get()
    if (jwks.status !== 200) throw new Error(`jwks failed: ${jwks.status}`)
    const { keys } = await jwks.json()
    expectTypeOf(keys[0]?.kid).toEqualTypeOf<string | undefined>()
    // The test app signs with HS256 alone: nothing to publish.
    expect(keys).toEqual([])

    const introspected = await auth.introspect.$post({ form: { token: 'x' } })
    // No INTROSPECTION_CLIENTS in the test app: the endpoint is off.
    expect(introspected.status).toBe(404)
    if (introspected.status === 200) {
      expectTypeOf((await introspected.json()).active).toEqualTypeOf<boolean>()
    }
  })

  it('enrols in TOTP and logs in with a second factor with full types', async () => {
    const auth = hc<AppType>('http://auth.internal', {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => t.app.request(input, init),
    })
    await auth.register.$post({ json: { name: 'Ada', username: 'ada_typed', password } })
    const first = await auth.token.$post({ form: { username: 'ada_typed', password } })
    if (first.status !== 200) throw new Error(`login failed: ${first.status}`)
    const headers = { authorization: `Bearer ${(await first.json()).access_token}` }

    const started = await auth.me.mfa.totp.$post(
      { json: { current_password: password } },
      { headers },
    )
    if (started.status !== 200) throw new Error(`enrolment failed: ${started.status}`)
    const { otpauth_uri } = await started.json()
    expectTypeOf(otpauth_uri).toEqualTypeOf<string>()
    const secret = secretOfUri(otpauth_uri)
    const confirmed = await auth.me.mfa.totp.confirm.$post(
      { json: { otp: totpNow(secret, t.clock.now()) } },
      { headers },
    )
    if (confirmed.status !== 200) throw new Error(`confirmation failed: ${confirmed.status}`)
    expectTypeOf((await confirmed.json()).recovery_codes).toEqualTypeOf<string[]>()

    const login = await auth.token.$post({ form: { username: 'ada_typed', password } })
    expect(login.status).toBe(403)
    if (login.status !== 403) return
    const challenge = await login.json()
    // /token's 403 is a ban ({ detail }) or mfa_required: the body tells which.
    if (!('mfa_token' in challenge)) throw new Error(`not mfa_required: ${challenge.detail}`)
    expectTypeOf(challenge.mfa_token).toEqualTypeOf<string>()
    expect(challenge.error).toBe('mfa_required')
    const done = await auth.token.$post({
      form: {
        grant_type: 'urn:edge-auth:params:oauth:grant-type:mfa-otp',
        mfa_token: challenge.mfa_token,
        otp: totpNow(secret, t.clock.now(), 1),
      },
    })
    expect(done.status).toBe(200)
    const me = await auth.me.$get(undefined, { headers })
    if (me.status === 200) expectTypeOf((await me.json()).totp_enabled).toEqualTypeOf<boolean>()
  })

  it('manages accounts through the admin API with full types', async () => {
    const key = newAdminKey()
    const admin = await makeTestApp({
      admin: { keys: [{ name: 'typed', sha256: await adminKeyHash(key) }] },
    })
    try {
      const auth = hc<AppType>('http://auth.internal', {
        fetch: (input: RequestInfo | URL, init?: RequestInit) => admin.app.request(input, init),
        headers: { authorization: `Bearer ${key}` },
      })
      await admin.register({ name: 'Mallory', username: 'mallory_typed', password })
      const found = await auth.admin.users.$get({ query: { username: 'MALLORY' } })
      if (found.status !== 200) throw new Error(`list failed: ${found.status}`)
      const page = await found.json()
      expectTypeOf(page.next_cursor).toEqualTypeOf<string | null>()
      const [mallory] = page.users
      expect(mallory?.username).toBe('mallory_typed')
      const id = String(mallory?.id)

      const banned = await auth.admin.users[':id'].ban.$post({
        param: { id },
        json: { reason: 'spam' },
      })
      if (banned.status !== 200) throw new Error(`ban failed: ${banned.status}`)
      const account = await banned.json()
      expectTypeOf(account.banned).toEqualTypeOf<boolean>()
      expect(account).toMatchObject({ banned: true, ban: { reason: 'spam', until: null } })
      expect((await admin.login({ username: 'mallory_typed', password })).status).toBe(403)

      const lifted = await auth.admin.users[':id'].ban.$delete({ param: { id } })
      expect(lifted.status).toBe(200)
      const reset = await auth.admin.users[':id'].mfa.$delete({ param: { id } })
      if (reset.status !== 200) throw new Error(`reset-mfa failed: ${reset.status}`)
      const withoutTotp = await reset.json()
      expectTypeOf(withoutTotp.totp_enabled).toEqualTypeOf<boolean>()
      expect(withoutTotp).toMatchObject({ username: 'mallory_typed', totp_enabled: false })
      const removed = await auth.admin.users[':id'].$delete({ param: { id } })
      expect(removed.status).toBe(204)
    } finally {
      await admin.close()
    }
  })

  it('rejects wrong requests at compile time', () => {
    const auth = hc<AppType>('http://auth.internal')
    expectTypeOf(auth.register.$post).toBeFunction()
    // @ts-expect-error: password is missing
    const missing = () => auth.register.$post({ json: { name: 'x', username: 'y' } })
    // @ts-expect-error: /token takes a form, not JSON
    const wrongBody = () => auth.token.$post({ json: { username: 'x', password: 'y' } })
    // @ts-expect-error: there is no such route
    const unknown = () => auth.nothing.$get()
    // @ts-expect-error: a ban needs a reason
    const noReason = () => auth.admin.users[':id'].ban.$post({ param: { id: '1' }, json: {} })
    // @ts-expect-error: starting a TOTP enrolment needs the current password, the first one too
    const noPassword = () => auth.me.mfa.totp.$post({ json: {} })
    expect(
      [missing, wrongBody, unknown, noReason, noPassword].every((f) => typeof f === 'function'),
    ).toBe(true)
  })
})
