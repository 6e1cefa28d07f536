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

/**
 * Puts an IP address in one canonical spelling (IPv4 dotted, IPv6 compressed lower case,
 * IPv4-mapped IPv6 as IPv4). Returns undefined for anything that is not an IP address.
 */
export function normalizeAddress(raw: string | undefined): string | undefined {
  const value = raw?.trim()
  if (!value) return undefined
  try {
    if (!value.includes(':')) return convertIPv4BinaryToString(convertIPv4ToBinary(value))
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
