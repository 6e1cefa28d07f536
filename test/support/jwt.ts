import { createHmac } from 'node:crypto'

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url')

/**
 * Builds a JWT by hand, signed with HMAC-SHA256 over whatever header is given, so tests can
 * forge every kind of bad token independently of the code under test.
 */
export function forgeJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown> | string,
  secret: string,
): string {
  const body = `${b64url(JSON.stringify(header))}.${b64url(typeof payload === 'string' ? payload : JSON.stringify(payload))}`
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}

/** Seconds since the epoch. */
export const nowSeconds = () => Math.floor(Date.now() / 1000)
