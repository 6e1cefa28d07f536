import type { Context } from 'hono'
import {
  convertIPv4BinaryToString,
  convertIPv4MappedIPv6ToIPv4,
  convertIPv4ToBinary,
  convertIPv6BinaryToString,
  convertIPv6ToBinary,
  isIPv4MappedIPv6,
} from 'hono/utils/ipaddr'

/**
 * Tells where a request comes from as the runtime sees it (the socket's peer, or the platform's
 * own header on Workers); undefined when it cannot tell. Provided by the entry point.
 */
export type ClientAddressFn = (c: Context) => string | undefined

/** The address Cloudflare puts in `CF-Connecting-IP` (Workers). */
export const cloudflareClientAddress: ClientAddressFn = (c) => c.req.header('cf-connecting-ip')

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
/** An IPv4 address already in canonical form (no leading zeros): returned as it is. */
const CANONICAL_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)
const IPV4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i

/**
 * Puts an IP address in one canonical spelling (IPv4 dotted, IPv6 compressed lower case,
 * IPv4-mapped IPv6 as IPv4). Returns undefined for anything that is not an IP address.
 */
export function normalizeAddress(raw: string | undefined): string | undefined {
  const value = raw?.trim()
  if (!value) return undefined
  if (CANONICAL_IPV4.test(value)) return value
  try {
    if (!value.includes(':')) return convertIPv4BinaryToString(convertIPv4ToBinary(value))
    // Node reports an IPv4 peer of a dual-stack socket as ::ffff:a.b.c.d: skip the 128-bit parse.
    const mapped = IPV4_MAPPED.exec(value)?.[1]
    if (mapped !== undefined) {
      return CANONICAL_IPV4.test(mapped)
        ? mapped
        : convertIPv4BinaryToString(convertIPv4ToBinary(mapped))
    }
    const binary = convertIPv6ToBinary(value.replace(/^\[(.*)\]$/, '$1'))
    return isIPv4MappedIPv6(binary)
      ? convertIPv4BinaryToString(convertIPv4MappedIPv6ToIPv4(binary))
      : convertIPv6BinaryToString(binary)
  } catch {
    return undefined
  }
}

/**
 * The client's address. `X-Forwarded-For` is read only when `trustedHops` proxies are declared
 * (TRUST_PROXY): each appends the address it saw, so the client is the entry `trustedHops` from
 * the right; entries further left were written by the client and are ignored. Without trusted
 * proxies, or when that entry is not an address, the runtime's own address is used (undefined if
 * the runtime cannot tell, rather than an error).
 */
export function resolveClientAddress(
  c: Context,
  runtimeAddress: ClientAddressFn,
  trustedHops: number,
): string | undefined {
  if (trustedHops > 0) {
    const chain = (c.req.header('x-forwarded-for') ?? '').split(',').filter((s) => s.trim())
    if (chain.length > 0) {
      const forwarded = normalizeAddress(chain[Math.max(chain.length - trustedHops, 0)])
      if (forwarded !== undefined) return forwarded
    }
  }
  try {
    return normalizeAddress(runtimeAddress(c))
  } catch {
    return undefined
  }
}

/** The headers by which a proxy tells who its client was. */
const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const

/**
 * True for an address no client on the internet connects from: loopback, private (RFC 1918,
 * RFC 4193), shared (RFC 6598) and link-local. Expects the canonical spelling of
 * {@link normalizeAddress}.
 */
export function isInternalAddress(address: string): boolean {
  if (!address.includes(':')) {
    const [a = 0, b = 0] = address.split('.').map(Number)
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    )
  }
  if (address === '::1') return true
  const first = address.split(':')[0] ?? ''
  // fc00::/7 and fe80::/10; a first group of fewer than four digits has leading zeros.
  return first.length === 4 && /^(f[cd]|fe[89ab])/.test(first)
}

/** Options of {@link createLimitAddress}. */
export interface LimitAddressOptions {
  /** TRUST_PROXY: with trusted proxies the resolved address is the client's already. */
  trustedHops: number
  /**
   * True when the runtime's address is the platform's word for the client (CF-Connecting-IP on
   * Workers), whose own proxies add forwarding headers: nothing to detect then.
   */
  platformAddress: boolean
  /** Called once, for the first request seen with a forwarding header while none is trusted. */
  onUntrustedProxy(header: string): void
}

/**
 * The address that per-address limits count, for the requests that count attempts (logins,
 * password checks, registrations); other requests, `/validate` among them, never pay for it.
 *
 * A request bearing a forwarding header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`) while
 * TRUST_PROXY is off came through a proxy the service was not told about: that is reported once.
 * If moreover the connection comes from an internal address, it is most likely that proxy's, shared
 * by every client: counting it would let one client's failures block everyone's logins and
 * registrations, so such a request counts against no address (the per-account limit still holds).
 * A client connecting from the internet is counted whatever headers it writes.
 */
export function createLimitAddress(
  options: LimitAddressOptions,
): (c: Context, address: string | undefined) => string | undefined {
  if (options.trustedHops > 0 || options.platformAddress) return (_c, address) => address
  let reported = false
  return (c, address) => {
    const header = FORWARDING_HEADERS.find((name) => c.req.header(name) !== undefined)
    if (header === undefined) return address
    if (!reported) {
      reported = true
      options.onUntrustedProxy(header)
    }
    return address !== undefined && isInternalAddress(address) ? undefined : address
  }
}
