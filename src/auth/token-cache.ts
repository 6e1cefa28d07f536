import type { AccessClaims, TokenService } from './tokens'

/**
 * Tokens the verified-token cache holds by default (TOKEN_CACHE_ENTRIES): the tokens of 100,000
 * users each presenting one within a minute (an entry's longest life), in about 100 MB (see
 * docs/benchmarks.md, "Memory").
 */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 100_000

/** Options of {@link createVerifiedTokenCache}. */
export interface VerifiedTokenCacheOptions {
  /** Most tokens held at once; the oldest entry is evicted first. Default {@link DEFAULT_TOKEN_CACHE_ENTRIES}. */
  maxEntries?: number
  /** Longest time an entry is trusted without verifying the token again, in seconds. Default 60. */
  maxAgeSeconds?: number
  /** Tokens longer than this are verified every time and never held. Default 1024 characters. */
  maxTokenLength?: number
  /** Current time in milliseconds: pass the token service's clock. Default `Date.now`. */
  now?: () => number
}

/** A {@link TokenService} that remembers the tokens it has verified. */
export interface VerifiedTokenCache extends TokenService {
  /** How many tokens are held now. */
  readonly size: number
  /** Forgets every token, e.g. after a signing key was withdrawn. */
  clear(): void
}

interface Entry {
  claims: AccessClaims
  /** When the token was verified, in milliseconds; a clock set back before it distrusts the entry. */
  from: number
  /** When the entry stops being trusted, in milliseconds: the token's `exp` or the maximum age, whichever is first. */
  until: number
  /** Its place in the eviction ring. */
  slot: number
}

/**
 * Wraps a token service with a bounded cache of verified access tokens, so that a token presented
 * again (the gateway validates the same token on every request) costs a map lookup instead of an
 * HMAC verification.
 *
 * Only successful verifications are held, keyed by the exact token string, with the verified
 * claims (shallowly) frozen. An entry is trusted until the token's `exp` or `maxAgeSeconds` after
 * it was verified, whichever is first, measured with `now` (the token service's clock); after that
 * the token is verified again in full. When full, the oldest entry is evicted. Failures are never
 * held: an invalid token is checked by the wrapped service every time it is presented. Checks that
 * must see every request (revocation) belong after this layer, not inside the wrapped service.
 * Issuing is passed through.
 */
export function createVerifiedTokenCache(
  inner: TokenService,
  options: VerifiedTokenCacheOptions = {},
): VerifiedTokenCache {
  const maxEntries = options.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES
  const maxAgeMs = (options.maxAgeSeconds ?? 60) * 1000
  const maxTokenLength = options.maxTokenLength ?? 1024
  const now = options.now ?? Date.now
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError('maxEntries must be a positive integer')
  }
  if (!(maxAgeMs > 0)) throw new RangeError('maxAgeSeconds must be positive')
  const entries = new Map<string, Entry>()
  // The tokens in the order they were held, as a ring: the next slot holds the oldest. A Map's
  // own first key is no queue: engines skip the deleted entries at its front one by one.
  const ring: (string | undefined)[] = []
  let nextSlot = 0

  const remember = (token: string, verified: AccessClaims): AccessClaims => {
    const claims = Object.freeze({ ...verified })
    const from = now()
    const until = Math.min(claims.exp * 1000, from + maxAgeMs)
    if (token.length > maxTokenLength || until <= from) return claims
    const slot = nextSlot
    nextSlot = (nextSlot + 1) % maxEntries
    const oldest = ring[slot]
    if (oldest !== undefined && entries.get(oldest)?.slot === slot) entries.delete(oldest)
    ring[slot] = token
    entries.set(token, { claims, from, until, slot })
    return claims
  }

  const verifiedBefore = (token: string): AccessClaims | undefined => {
    const entry = entries.get(token)
    if (entry === undefined) return undefined
    const at = now()
    if (entry.from <= at && at < entry.until) return entry.claims
    entries.delete(token)
    return undefined
  }

  return {
    get size() {
      return entries.size
    },
    clear: () => {
      entries.clear()
      ring.length = 0
      nextSlot = 0
    },
    issueAccessToken: (user) => inner.issueAccessToken(user),
    publicKeys: () => inner.publicKeys(),
    ready: () => inner.ready(),
    verifiedBefore,
    async verifyAccessToken(token) {
      return verifiedBefore(token) ?? remember(token, await inner.verifyAccessToken(token))
    },
  }
}
