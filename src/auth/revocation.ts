import type { AccountKey } from '../db/sessions'
import type { TokenHolder, UserRef } from '../db/users'
import { usernameKey } from './credentials'
import type { SharedHolderCache, SharedHolderEntry } from './revocation-shared'
import type { AccessClaims } from './tokens'

/** Which account a token names: by id (our tokens' `uid`) or by username (the Python service's tokens). */
export type HolderKey = { id: number } | { username: string }

/** The database's key of the account `key` names: a username is looked up by its key (`usernameKey`). */
export function accountKeyOf(key: HolderKey): AccountKey {
  return 'id' in key ? key : { usernameKey: usernameKey(key.username) }
}

/**
 * The revocation rule for access tokens, and a per-process cache of what it needs to know.
 * Access tokens stay stateless JWTs; an account's `tokens_valid_after` cuts off every token issued
 * at or before it. No HTTP here; the database is reached only through the injected `load`.
 */

/**
 * Which account claims name: our tokens carry `uid`; the Python service's only `sub`. Undefined
 * when `sub` cannot be a stored username (NUL, lone surrogates), so no query is sent for it.
 */
export function holderKeyOf(claims: AccessClaims): HolderKey | undefined {
  if (claims.uid !== undefined) return { id: claims.uid }
  if (claims.sub.includes('\0') || !claims.sub.isWellFormed()) return undefined
  return { username: claims.sub }
}

/**
 * Whether claims are cut off, given the account they name (undefined: there is none any more).
 * - Our tokens carry `uid`: the account must still exist under that id and name.
 * - A token is cut off when its session began at or before `tokens_valid_after`: at `auth_ms`, or
 *   at the start of its `iat` second when it has no `auth_ms` (tokens not made by this service).
 *   Comparing the session's start, not the token's issue, also cuts off a token that a refresh
 *   issued while a logout ran.
 * - A token without `iat` was made by the Python service before the takeover: it is accepted only
 *   while `tokens_valid_after` is NULL (an adopted account whose sessions were never ended).
 */
export function isCutOff(claims: AccessClaims, holder: TokenHolder | undefined): boolean {
  if (holder === undefined) return true
  if (claims.uid !== undefined && (claims.uid !== holder.id || claims.sub !== holder.username)) {
    return true
  }
  const cut = holder.tokensValidAfter
  if (claims.iat === undefined && claims.auth_ms === undefined) return cut !== null
  const began = claims.auth_ms ?? (claims.iat as number) * 1000
  return cut !== null && began <= cut.getTime()
}

/** Thrown by {@link RevocationCheck.isRevoked} when the account could not be read. */
export class RevocationUnavailableError extends Error {
  override name = 'RevocationUnavailableError'
  constructor(options?: ErrorOptions) {
    super('revocation status unavailable', options)
  }
}

/**
 * Accounts the revocation cache holds by default (TOKEN_REVOCATION_CACHE_ENTRIES): 100,000 users
 * validating within the cache time, a few hundred bytes each.
 */
export const DEFAULT_REVOCATION_CACHE_ENTRIES = 100_000

/** Options of {@link createRevocationCheck}. */
export interface RevocationCheckOptions {
  /** Reads an account from the database. */
  load(key: HolderKey): Promise<TokenHolder | undefined>
  /** How long a loaded account is trusted, in seconds; 0 loads it on every check. */
  cacheSeconds: number
  /** Most accounts remembered at once; the least recently used go first. Default {@link DEFAULT_REVOCATION_CACHE_ENTRIES}. */
  maxEntries?: number
  /** Current time in milliseconds. Default `Date.now`. */
  now?: () => number
  /**
   * A cache shared with the other instances of this place (Workers: the Cache API), asked before
   * `load`. An entry counts only while it is younger than `cacheSeconds` since its database read,
   * and this instance's own copy expires at that same moment, so a change is still seen within
   * `cacheSeconds` everywhere. Read failures count as misses: `load` decides, and fails closed.
   */
  shared?: SharedHolderCache
}

/** The revocation check of one process or isolate. */
export interface RevocationCheck {
  /**
   * Whether verified claims are cut off, from the cache when fresh enough, otherwise from `load`
   * (concurrent checks of one account share one load).
   * @throws {RevocationUnavailableError} when the account had to be loaded and could not be.
   */
  isRevoked(claims: AccessClaims): Promise<boolean>
  /**
   * {@link isRevoked} at once when the account is cached, loaded and fresh; undefined when it must
   * be asked (and may have to load the account).
   */
  cachedVerdict(claims: AccessClaims): boolean | undefined
  /** Drops what is cached about an account, after this process changed it. */
  forget(holder: UserRef): void
}

interface Entry {
  /** Until when the entry is trusted: `cacheSeconds` after its database read. */
  expires: number
  holder: Promise<TokenHolder | undefined>
  /** The account once `holder` has resolved (`null` until then; undefined: there is none). */
  loaded: TokenHolder | undefined | null
}

/** An account's cache key: its id for our tokens (a number), its name for the Python service's. */
const keyOf = (key: HolderKey): number | string =>
  'id' in key ? key.id : `name:${usernameKey(key.username)}`
/** An account's key in the shared cache (a string: it becomes part of a URL). */
const sharedKeyOf = (id: number | string): string => (typeof id === 'number' ? `id:${id}` : id)
/** The cache key of the account claims name, without building a {@link HolderKey} for our tokens. */
const claimsKeyOf = (claims: AccessClaims): number | string | undefined => {
  if (claims.uid !== undefined) return claims.uid
  const key = holderKeyOf(claims)
  return key === undefined ? undefined : keyOf(key)
}

/**
 * Builds a revocation check with an in-memory LRU cache (a Map in insertion order).
 * @throws RangeError for a negative cache time or a non-positive size.
 */
export function createRevocationCheck(options: RevocationCheckOptions): RevocationCheck {
  const ttlMs = options.cacheSeconds * 1000
  const maxEntries = options.maxEntries ?? DEFAULT_REVOCATION_CACHE_ENTRIES
  if (!(ttlMs >= 0) || !(maxEntries >= 1)) throw new RangeError('invalid revocation cache options')
  const now = options.now ?? Date.now
  const cache = new Map<number | string, Entry>()
  const shared = options.shared
  /** When this instance last changed an account: shared entries read before then are stale. */
  const forgotten = new Map<string, number>()

  /** From the shared cache when it holds a fresh enough entry, else from the database (then shared). */
  const readThrough = async (
    key: HolderKey,
    sharedId: string,
    at: number,
  ): Promise<SharedHolderEntry> => {
    if (shared !== undefined) {
      const hit = await shared.get(sharedId).catch(() => undefined)
      const notBefore = Math.max(at - ttlMs, forgotten.get(sharedId) ?? Number.NEGATIVE_INFINITY)
      if (hit !== undefined && hit.readAt > notBefore && hit.readAt <= at) return hit
    }
    const holder = await options.load(key)
    await shared?.put(sharedId, { holder, readAt: at }, options.cacheSeconds).catch(() => {})
    return { holder, readAt: at }
  }

  const loadEntry = (key: HolderKey, id: number | string, at: number): Entry => {
    if (shared === undefined)
      return { expires: at + ttlMs, holder: options.load(key), loaded: null }
    const entry: Entry = { expires: at + ttlMs, holder: Promise.resolve(undefined), loaded: null }
    entry.holder = readThrough(key, sharedKeyOf(id), at).then((read) => {
      entry.expires = read.readAt + ttlMs
      return read.holder
    })
    return entry
  }

  const lookUp = (key: HolderKey): Promise<TokenHolder | undefined> => {
    if (ttlMs === 0) return options.load(key)
    const id = keyOf(key)
    const at = now()
    const cached = cache.get(id)
    cache.delete(id)
    if (cached !== undefined && cached.expires > at) {
      cache.set(id, cached)
      return cached.holder
    }
    const entry = loadEntry(key, id, at)
    const holder = entry.holder
    cache.set(id, entry)
    holder.then(
      (account) => {
        entry.loaded = account
      },
      () => {
        if (cache.get(id) === entry) cache.delete(id)
      },
    )
    if (cache.size > maxEntries) {
      const oldest = cache.keys().next().value
      if (oldest !== undefined) cache.delete(oldest)
    }
    return holder
  }

  return {
    async isRevoked(claims) {
      const key = holderKeyOf(claims)
      if (key === undefined) return true
      let holder: TokenHolder | undefined
      try {
        holder = await lookUp(key)
      } catch (cause) {
        throw new RevocationUnavailableError({ cause })
      }
      return isCutOff(claims, holder)
    },
    cachedVerdict(claims) {
      if (ttlMs === 0) return undefined
      const id = claimsKeyOf(claims)
      if (id === undefined) return true
      const entry = cache.get(id)
      if (entry === undefined || entry.loaded === null || !(entry.expires > now())) return undefined
      cache.delete(id)
      cache.set(id, entry)
      return isCutOff(claims, entry.loaded)
    },
    forget(holder) {
      for (const id of [keyOf({ id: holder.id }), keyOf({ username: holder.username })]) {
        cache.delete(id)
        if (shared === undefined) continue
        const sharedId = sharedKeyOf(id)
        forgotten.delete(sharedId)
        forgotten.set(sharedId, now())
        if (forgotten.size > maxEntries) forgotten.delete(forgotten.keys().next().value ?? sharedId)
        shared.delete(sharedId).catch(() => {})
      }
    },
  }
}
