import { describe, expect, it } from 'vitest'
import { client, PASSWORD, type TargetRef, uniqueName } from './target'

const valid = (overrides: Record<string, unknown> = {}) => ({
  name: 'Alice Liddell',
  username: uniqueName(),
  password: PASSWORD,
  ...overrides,
})

/** ASCII letters, digits and `_` in their fullwidth forms, which NFKC maps back. */
const fullwidth = (ascii: string) =>
  Array.from(ascii, (c) => String.fromCodePoint((c.codePointAt(0) ?? 0) - 0x21 + 0xff01)).join('')

async function expect422(res: Response, field?: string) {
  expect(res.status).toBe(422)
  const body = await res.json()
  expect(Array.isArray(body.detail)).toBe(true)
  for (const item of body.detail) {
    expect(item).toEqual({
      loc: expect.any(Array),
      msg: expect.any(String),
      type: expect.any(String),
    })
  }
  if (field !== undefined) {
    expect(body.detail.map((d: { loc: string[] }) => d.loc.join('.'))).toContain(`body.${field}`)
  }
  return body
}

/** `POST /register`: accounts, the registration rules, and bad input. */
export function registerContract(target: TargetRef): void {
  const { register, login } = client(target)

  /** The username is still free: nothing was written by the refused request. */
  const expectStillFree = async (username: string) => {
    expect((await register(valid({ username }))).status).toBe(201)
  }

  describe('POST /register', () => {
    it('creates a user: 201 with id, name and username, never the password or its hash', async () => {
      const input = valid()
      const res = await register(input)
      expect(res.status).toBe(201)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const body = await res.json()
      expect(body).toEqual({ id: expect.any(Number), name: input.name, username: input.username })
      const raw = JSON.stringify(body)
      expect(raw).not.toContain(input.password)
      expect(raw).not.toContain('argon2')
    })

    it('answers 409 with a detail for a taken username', async () => {
      const input = valid()
      expect((await register(input)).status).toBe(201)
      const res = await register({ ...input, name: 'Someone Else' })
      expect(res.status).toBe(409)
      expect(await res.json()).toEqual({ detail: 'User already exists' })
    })

    it('treats usernames case-insensitively: Alice then alice is a 409', async () => {
      const base = uniqueName('Case')
      expect((await register(valid({ username: base }))).status).toBe(201)
      expect((await register(valid({ username: base.toLowerCase() }))).status).toBe(409)
      expect((await register(valid({ username: base.toUpperCase() }))).status).toBe(409)
    })

    it('trims and NFKC-normalises the username', async () => {
      const plain = uniqueName('wide')
      const res = await register(valid({ username: `  ${fullwidth(plain)}  ` }))
      expect(res.status).toBe(201)
      expect((await res.json()).username).toBe(plain)
      expect((await register(valid({ username: plain.toUpperCase() }))).status).toBe(409)
    })

    it('20 concurrent registrations of one username: one 201, nineteen 409s, and it logs in', async () => {
      const username = uniqueName('race')
      const results = await Promise.all(
        Array.from({ length: 20 }, () => register(valid({ username }))),
      )
      const statuses = results.map((r) => r.status)
      expect(statuses.filter((s) => s === 201)).toHaveLength(1)
      expect(statuses.filter((s) => s === 409)).toHaveLength(19)
      expect((await login({ username, password: PASSWORD })).status).toBe(200)
    })

    it('accepts any Unicode password of 8 to 128 characters, and it logs in', async () => {
      for (const password of ['🔑'.repeat(128), 'пароль-密码-🔑']) {
        const username = uniqueName('uni')
        expect((await register(valid({ username, password }))).status).toBe(201)
        expect((await login({ username, password })).status).toBe(200)
      }
    })

    it('accepts Unicode letters in usernames', async () => {
      const username = `zoë_${uniqueName('u').slice(-8)}`
      const res = await register(valid({ username }))
      expect(res.status).toBe(201)
      expect((await res.json()).username).toBe(username)
    })

    describe('look-alike names', () => {
      const lookAlikeLetters = { a: 'а', c: 'с', e: 'е', o: 'о', p: 'р', x: 'х', y: 'у' } as const
      /** A random name of Latin letters that all have a Cyrillic twin, and that twin. */
      const twins = () => {
        const letters = Object.keys(lookAlikeLetters) as (keyof typeof lookAlikeLetters)[]
        const latin = Array.from(
          crypto.getRandomValues(new Uint8Array(14)),
          (b) => letters[b % letters.length],
        ).join('')
        const cyrillic = Array.from(latin, (c) => lookAlikeLetters[c as 'a']).join('')
        return { latin, cyrillic }
      }

      it('a name that looks like a taken one is a 409, in any script or case', async () => {
        const { latin, cyrillic } = twins()
        expect((await register(valid({ username: latin }))).status).toBe(201)
        for (const username of [cyrillic, cyrillic.toUpperCase()]) {
          const res = await register(valid({ username }))
          expect(res.status).toBe(409)
          expect(await res.json()).toEqual({
            detail: 'User already exists: a username that looks the same is taken',
          })
        }
        const digits = uniqueName('look')
          .replace(/[^0-9]/g, '')
          .padEnd(4, '7')
        expect((await register(valid({ username: `kuserl${digits}` }))).status).toBe(201)
        expect((await register(valid({ username: `kuser1${digits}` }))).status).toBe(409)
      })

      it.each([
        ['U+FE0F (variation selector 16)', '\ufe0f'],
        ['U+034F (combining grapheme joiner)', '\u034f'],
        ['U+180B (Mongolian free variation selector)', '\u180b'],
        ['U+E0100 (variation selector 17)', '\u{e0100}'],
        ['U+200D (zero-width joiner)', '\u200d'],
      ])('a taken name followed by %s -> 422, not a second account', async (_case, mark) => {
        const username = uniqueName('kuser2')
        expect((await register(valid({ username }))).status).toBe(201)
        await expect422(await register(valid({ username: `${username}${mark}` })), 'username')
      })

      it.each([
        ['a Cyrillic к among Latin letters', 'к'],
        ['a Greek α among Latin letters', 'α'],
      ])('%s -> 422, and the Latin name stays free', async (_case, letter) => {
        const username = uniqueName('kuser1')
        const body = await expect422(
          await register(valid({ username: `${letter}${username.slice(1)}` })),
          'username',
        )
        expect(JSON.stringify(body)).toContain('one script')
        await expectStillFree(username)
      })

      it('accepts names in one script: Greek, Cyrillic, Japanese (Han + kana), Latin with Han', async () => {
        const digits = () => String(crypto.getRandomValues(new Uint32Array(1))[0])
        for (const username of [
          `νίκος_${digits()}`,
          `иван_${digits()}`,
          `山田たろうカナ${digits()}`,
          `Tokyo東京${digits()}`,
        ]) {
          const res = await register(valid({ username }))
          expect(res.status, username).toBe(201)
        }
      })

      it('logs in with the name typed in another case, also where case folding differs from lower-casing', async () => {
        const digits = String(crypto.getRandomValues(new Uint32Array(1))[0])
        for (const [registered, typed] of [
          [`Straße_${digits}`, `STRASSE_${digits}`],
          [`νίκοσ_${digits}`, `ΝΊΚΟΣ_${digits}`],
          [uniqueName('Cross'), undefined],
        ] as const) {
          expect((await register(valid({ username: registered }))).status).toBe(201)
          const other = typed ?? registered.toUpperCase()
          expect((await login({ username: other, password: PASSWORD })).status).toBe(200)
        }
      })
    })

    describe('bad input is a 4xx with a JSON body, and writes nothing', () => {
      it.each([
        ['malformed JSON', '{"name": "a", '],
        ['an empty body', ''],
        ['JSON null', 'null'],
        ['a JSON array', '[]'],
        ['a JSON number', '42'],
        ['a JSON string', '"alice"'],
      ])('%s -> 422', async (_case, body) => {
        await expect422(await register(body))
      })

      // Every leg runs this, so the Worker (whose bundle ships zod with English as its only
      // locale) words a zod check's failure exactly as Bun and Node do.
      it("a zod check's failure is worded by zod's English messages, on every runtime", async () => {
        const input = valid({ name: 'x'.repeat(4097) })
        expect(await expect422(await register(input), 'name')).toEqual({
          detail: [
            {
              loc: ['body', 'name'],
              msg: 'Too big: expected string to have <=4096 characters',
              type: 'string_too_long',
            },
            {
              loc: ['body', 'name'],
              msg: 'Name must be 1 to 100 characters long',
              type: 'value_error',
            },
          ],
        })
        await expectStillFree(input.username)
      })

      it('malformed JSON is reported as json_invalid', async () => {
        const body = await expect422(await register('{"name": '))
        expect(body.detail[0].type).toBe('json_invalid')
      })

      it.each(['name', 'username', 'password'])('a missing %s -> 422 "missing"', async (field) => {
        const input: Record<string, unknown> = valid()
        delete input[field]
        const body = await expect422(await register(input), field)
        expect(body.detail.find((d: { loc: string[] }) => d.loc[1] === field).type).toBe('missing')
        if (field !== 'username') await expectStillFree(input.username as string)
      })

      it.each([
        ['name', null],
        ['username', null],
        ['password', null],
        ['name', 42],
        ['username', ['alice']],
        ['password', { value: 'x' }],
        ['username', true],
      ])('%s = %j -> 422', async (field, value) => {
        const input = valid({ [field]: value })
        await expect422(await register(input), field)
        if (field !== 'username') await expectStillFree(input.username as string)
      })

      it.each([
        ['an empty name', { name: '' }, 'name'],
        ['a blank name', { name: '   ' }, 'name'],
        ['a name with NUL', { name: 'Ali\u0000ce' }, 'name'],
        ['a name with a newline', { name: 'Alice\nAdmin' }, 'name'],
        ['a name with an escape', { name: 'Alice\u001b[31m' }, 'name'],
        ['a name with a right-to-left override', { name: 'Alice\u202eecilA' }, 'name'],
        ['an overlong name', { name: 'x'.repeat(101) }, 'name'],
        ['a 1000-character name', { name: 'x'.repeat(1000) }, 'name'],
        ['an empty username', { username: '' }, 'username'],
        ['a two-letter username', { username: 'ab' }, 'username'],
        ['an overlong username', { username: 'a'.repeat(33) }, 'username'],
        ['a username with a space', { username: 'alice smith' }, 'username'],
        ['a username with NUL', { username: 'ali\u0000ce' }, 'username'],
        ['a username with a slash', { username: 'alice/bob' }, 'username'],
        ['a username starting with a dot', { username: '.alice' }, 'username'],
        ['a username with a lone surrogate', { username: 'ali\ud800ce' }, 'username'],
        ['a short password', { password: 'short' }, 'password'],
        ['an empty password', { password: '' }, 'password'],
        ['a 129-character password', { password: 'p'.repeat(129) }, 'password'],
        ['a password with a lone surrogate', { password: 'password\udc00' }, 'password'],
      ])('%s -> 422', async (_case, overrides, field) => {
        const input = valid(overrides)
        await expect422(await register(input), field)
        if (field !== 'username') await expectStillFree(input.username)
      })

      it('a password equal to the username -> 422', async () => {
        const username = uniqueName('same')
        await expect422(
          await register(valid({ username, password: username.toUpperCase() })),
          'password',
        )
        await expectStillFree(username)
      })

      it('a form where JSON is expected -> 415 with a JSON body', async () => {
        const input = valid()
        const res = await target().fetch('/register', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(input).toString(),
        })
        expect(res.status).toBe(415)
        expect(await res.json()).toEqual({ detail: expect.any(String) })
        await expectStillFree(input.username)
      })

      it('a JSON body sent as text/plain -> 415', async () => {
        const res = await target().fetch('/register', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify(valid()),
        })
        expect(res.status).toBe(415)
        expect(await res.json()).toEqual({ detail: expect.any(String) })
      })

      it('__proto__ keys neither pollute nor stand in for fields', async () => {
        const sneaky = `{"__proto__": {"username": "${uniqueName()}", "isAdmin": true}, "name": "Mallory", "password": "${PASSWORD}"}`
        const body = await expect422(await register(sneaky), 'username')
        expect(body.detail).toHaveLength(1)

        const withProto = `{"__proto__": {"isAdmin": true}, "name": "Mallory", "username": "${uniqueName()}", "password": "${PASSWORD}"}`
        const res = await register(withProto)
        expect(res.status).toBe(201)
        expect(Object.keys(await res.json()).sort()).toEqual(['id', 'name', 'username'])
      })

      it('never echoes the password in a validation error', async () => {
        const password = 'hunter2'
        const res = await register(valid({ password }))
        expect(res.status).toBe(422)
        expect(await res.text()).not.toContain(password)
      })
    })
  })
}
