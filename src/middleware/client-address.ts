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
