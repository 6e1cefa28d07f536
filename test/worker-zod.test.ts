/**
 * The stand-in for `zod` in the Worker's bundle (src/entry/worker-zod, `[alias]` in
 * wrangler.toml) is zod itself minus the translations: every other member of `z` and `z.core`
 * is zod's own object, so schemas, checks and messages behave as on Bun and Node. A zod upgrade
 * that adds, renames or drops a member fails here until the stand-in follows.
 */
import { describe, expect, it } from 'vitest'
import { z as zod } from 'zod'
import en from 'zod/v4/locales/en.js'
import workerZod, { z } from '../src/entry/worker-zod'

describe('zod in the Worker (src/entry/worker-zod)', () => {
  it("z is zod's namespace with English as its only locale", () => {
    expect(workerZod).toBe(z)
    expect(
      Object.keys(z)
        .filter((key) => key !== 'z')
        .sort(),
    ).toEqual(Object.keys(zod).sort())
    const { core: _core, locales: _locales, ...rest } = zod
    for (const [key, value] of Object.entries(rest))
      expect(z[key as keyof typeof z], key).toBe(value)
    expect(z.z).toBeUndefined()
    expect(z.locales).toEqual({ en })
    expect(z.locales.en).toBe(zod.locales.en)
  })

  it("z.core is zod's core with English as its only locale", () => {
    expect(Object.keys(z.core).sort()).toEqual(Object.keys(zod.core).sort())
    const { locales: _locales, ...rest } = zod.core
    for (const [key, value] of Object.entries(rest))
      expect(z.core[key as keyof typeof z.core], key).toBe(value)
    expect(z.core.locales).toEqual({ en })
  })
})
