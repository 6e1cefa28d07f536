/**
 * The revocation cache shared by the isolates of one place (Workers: the Cache API): a cold
 * isolate takes what another read from the database a moment ago, and the guarantees hold — a
 * change is seen within TOKEN_REVOCATION_CACHE_SECONDS of its database read everywhere, at once by
 * the instance that made it, and an unreadable database fails closed.
 */
import { describe, expect, it } from 'vitest'
import type { HolderKey } from '../src/auth/revocation'
import { createRevocationCheck, RevocationUnavailableError } from '../src/auth/revocation'
import { cacheApiHolderCache, type SharedHolderCache } from '../src/auth/revocation-shared'
import type { AccessClaims } from '../src/auth/tokens'
import type { TokenHolder } from '../src/db/users'

const TTL_SECONDS = 30

/** A data center's Cache API, reduced to what the layer uses; entries keep their bodies. */
class MemoryCache {
  readonly bodies = new Map<string, string>()
  async match(url: string): Promise<Response | undefined> {
    const body = this.bodies.get(url)
    return body === undefined ? undefined : new Response(body)
  }
  async put(url: string, response: Response): Promise<void> {
    expect(response.headers.get('cache-control')).toBe(`max-age=${TTL_SECONDS}`)
    this.bodies.set(url, await response.text())
  }
  async delete(url: string): Promise<boolean> {
    return this.bodies.delete(url)
  }
}

/** One account in a fake database, with a count of the reads that reached it. */
function database() {
  const state = {
    holder: { id: 7, username: 'ada', tokensValidAfter: null } as TokenHolder,
    reads: 0,
    down: false,
  }
  const load = async (key: HolderKey): Promise<TokenHolder | undefined> => {
    state.reads++
    if (state.down) throw new Error('database unreachable')
    return 'id' in key && key.id === state.holder.id ? { ...state.holder } : undefined
  }
  return { state, load }
}

/** Claims of a token whose session began at `authMs`. */
const claimsAt = (authMs: number): AccessClaims =>
  ({ sub: 'ada', uid: 7, iat: Math.floor(authMs / 1000), auth_ms: authMs, exp: 0 }) as AccessClaims

function place(shared: SharedHolderCache) {
  const db = database()
  const clock = { ms: 1_000_000 }
  const isolate = () =>
    createRevocationCheck({ load: db.load, cacheSeconds: TTL_SECONDS, now: () => clock.ms, shared })
  return { db, clock, isolate }
}

describe('the shared revocation cache (Cache API per place)', () => {
  it('lets a cold isolate answer from what another read: one database read for both', async () => {
    const { db, clock, isolate } = place(cacheApiHolderCache(new MemoryCache() as unknown as Cache))
    const claims = claimsAt(clock.ms - 1000)
    expect(await isolate().isRevoked(claims)).toBe(false)
    expect(await isolate().isRevoked(claims)).toBe(false)
    expect(await isolate().isRevoked(claims)).toBe(false)
    expect(db.state.reads).toBe(1)
  })

  it('sees a logout within TOKEN_REVOCATION_CACHE_SECONDS of the read, never later', async () => {
    const { db, clock, isolate } = place(cacheApiHolderCache(new MemoryCache() as unknown as Cache))
    const claims = claimsAt(clock.ms - 1000)
    expect(await isolate().isRevoked(claims)).toBe(false)
    db.state.holder.tokensValidAfter = new Date(clock.ms) // a logout on another place
    clock.ms += 20_000
    const late = isolate()
    expect(await late.isRevoked(claims)).toBe(false) // shared entry 20 s old: still trusted
    clock.ms += 10_001
    // 30 s after the read: the late isolate's own copy expires with the shared entry, not 30 s after it took it
    expect(await late.isRevoked(claims)).toBe(true)
    expect(await isolate().isRevoked(claims)).toBe(true)
  })

  it('the instance that handled a logout sees it at once, though the shared entry was fresh', async () => {
    const shared = cacheApiHolderCache(new MemoryCache() as unknown as Cache)
    const { db, clock, isolate } = place(shared)
    const claims = claimsAt(clock.ms - 1000)
    const here = isolate()
    expect(await here.isRevoked(claims)).toBe(false)
    db.state.holder.tokensValidAfter = new Date(clock.ms)
    here.forget({ id: 7, username: 'ada' })
    expect(await here.isRevoked(claims)).toBe(true)
  })

  it('ignores a stale shared entry for the instance that forgot it, even if its deletion was lost', async () => {
    const cache = new MemoryCache()
    const stored = new Map<string, string>()
    const lossy = cacheApiHolderCache({
      match: (url: string) => cache.match(url),
      put: (url: string, res: Response) => cache.put(url, res),
      delete: async (url: string) => {
        stored.set(url, 'lost')
        return false
      },
    } as unknown as Cache)
    const { db, clock, isolate } = place(lossy)
    const claims = claimsAt(clock.ms - 1000)
    const here = isolate()
    expect(await here.isRevoked(claims)).toBe(false)
    db.state.holder.tokensValidAfter = new Date(clock.ms)
    clock.ms += 5
    here.forget({ id: 7, username: 'ada' })
    expect(await here.isRevoked(claims)).toBe(true)
    expect(stored.size).toBe(2)
  })

  it('fails closed when the database is unreachable and no fresh entry is shared', async () => {
    const { db, clock, isolate } = place(cacheApiHolderCache(new MemoryCache() as unknown as Cache))
    const claims = claimsAt(clock.ms - 1000)
    expect(await isolate().isRevoked(claims)).toBe(false)
    db.state.down = true
    clock.ms += TTL_SECONDS * 1000 + 1
    await expect(isolate().isRevoked(claims)).rejects.toBeInstanceOf(RevocationUnavailableError)
  })

  it('falls back to the database when the shared cache fails', async () => {
    const broken = {
      get: () => Promise.reject(new Error('cache down')),
      put: () => Promise.reject(new Error('cache down')),
      delete: () => Promise.reject(new Error('cache down')),
    }
    const { db, clock, isolate } = place(broken)
    expect(await isolate().isRevoked(claimsAt(clock.ms - 1000))).toBe(false)
    expect(db.state.reads).toBe(1)
    db.state.down = true
    await expect(isolate().isRevoked(claimsAt(clock.ms - 1000))).rejects.toBeInstanceOf(
      RevocationUnavailableError,
    )
  })

  it('shares that an account is gone (a deleted account stays refused)', async () => {
    const { db, clock, isolate } = place(cacheApiHolderCache(new MemoryCache() as unknown as Cache))
    const stranger = { ...claimsAt(clock.ms - 1000), uid: 8 } as AccessClaims
    expect(await isolate().isRevoked(stranger)).toBe(true)
    expect(await isolate().isRevoked(stranger)).toBe(true)
    expect(db.state.reads).toBe(1)
  })
})
