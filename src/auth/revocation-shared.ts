import type { TokenHolder } from '../db/users'

/**
 * A revocation cache shared by the instances of one place: on Workers, the Cache API of the data
 * center (`caches.default`), which every isolate there reads, so an isolate that starts cold
 * need not ask the database about an account another isolate read a moment ago. The per-process
 * cache of revocation.ts stays in front of it and decides how long an entry may be trusted.
 */
export interface SharedHolderCache {
  /** What was stored about an account and when it was read from the database; undefined if nothing. */
  get(key: string): Promise<SharedHolderEntry | undefined>
  /** Stores what the database said about an account at `readAt` (ms), for `ttlSeconds`. */
  put(key: string, entry: SharedHolderEntry, ttlSeconds: number): Promise<void>
  /** Drops what is stored about an account (after this instance changed it). */
  delete(key: string): Promise<void>
}

/** An account as the database showed it at `readAt` (undefined: there was none). */
export interface SharedHolderEntry {
  holder: TokenHolder | undefined
  /** When the database was read, in milliseconds (the age limit counts from here). */
  readAt: number
}

/** The body stored in the Cache API: a version, the read time and the account (null: none). */
interface StoredEntry {
  v: 1
  readAt: number
  holder: { id: number; username: string; tokensValidAfter: number | null } | null
}

/** Not a real origin: the Cache API only needs a URL per key, and nothing ever fetches it. */
const KEY_ORIGIN = 'https://revocation.edge-auth.invalid/'

const urlOf = (key: string) => `${KEY_ORIGIN}${encodeURIComponent(key)}`

function decode(stored: StoredEntry): SharedHolderEntry | undefined {
  if (stored?.v !== 1 || typeof stored.readAt !== 'number') return undefined
  const h = stored.holder
  if (h === null) return { holder: undefined, readAt: stored.readAt }
  const tokensValidAfter = h.tokensValidAfter === null ? null : new Date(h.tokensValidAfter)
  return { holder: { id: h.id, username: h.username, tokensValidAfter }, readAt: stored.readAt }
}

/**
 * The Cache API as a {@link SharedHolderCache} (Workers: `caches.default`, one per data center).
 * Entries expire through `Cache-Control: max-age`; readers also check `readAt` themselves. An entry
 * that cannot be read counts as absent. Note: on `*.workers.dev` hostnames Cloudflare's Cache API
 * stores nothing, so there every isolate asks the database (as without this layer).
 */
export function cacheApiHolderCache(cache: Cache): SharedHolderCache {
  return {
    async get(key) {
      const found = await cache.match(urlOf(key))
      if (found === undefined) return undefined
      try {
        return decode((await found.json()) as StoredEntry)
      } catch {
        return undefined
      }
    },
    async put(key, entry, ttlSeconds) {
      const h = entry.holder
      const stored: StoredEntry = {
        v: 1,
        readAt: entry.readAt,
        holder:
          h === undefined
            ? null
            : {
                id: h.id,
                username: h.username,
                tokensValidAfter: h.tokensValidAfter?.getTime() ?? null,
              },
      }
      const headers = {
        'Content-Type': 'application/json',
        'Cache-Control': `max-age=${Math.ceil(ttlSeconds)}`,
      }
      await cache.put(urlOf(key), new Response(JSON.stringify(stored), { headers }))
    },
    async delete(key) {
      await cache.delete(urlOf(key))
    },
  }
}
