/**
 * HS256 tokens are verified with `node:crypto` on Bun and Node and with `crypto.subtle` (through
 * `hono/jwt`) on Workers: both must accept and refuse the same tokens, for the same reasons.
 */
import { describe, expect, it } from 'vitest'
import { createTokenService, InvalidTokenError } from '../src/auth/tokens'
import { TEST_SECRET } from './support/app'
import { forgeJwt, nowSeconds } from './support/jwt'

const engines = {
  'node:crypto': createTokenService({ secret: TEST_SECRET, accessTokenTtlSeconds: 600 }),
  'crypto.subtle': createTokenService({
    secret: TEST_SECRET,
    accessTokenTtlSeconds: 600,
    nodeCrypto: null,
  }),
}

async function outcome(token: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {}
  for (const [name, service] of Object.entries(engines)) {
    try {
      const claims = await service.verifyAccessToken(token)
      result[name] = `ok ${claims.sub}`
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error
      result[name] = error.reason
    }
  }
  return result
}

describe('HS256 verification engines', () => {
  it('agree on a valid token and on every way of breaking one', async () => {
    const exp = nowSeconds() + 300
    const issued = (await engines['node:crypto'].issueAccessToken({ id: 7, username: 'eve' })).token
    const [head, body, signature] = issued.split('.') as [string, string, string]
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`
    const cases: Record<string, [string, string]> = {
      valid: [issued, 'ok eve'],
      'wrong signature': [`${head}.${body}.${flipped}`, 'signature'],
      'signed with another secret': [
        forgeJwt(
          { alg: 'HS256', typ: 'JWT' },
          { sub: 'eve', exp },
          'another-secret-of-enough-length-0123',
        ),
        'signature',
      ],
      'alg HS512': [forgeJwt({ alg: 'HS512' }, { sub: 'eve', exp }, TEST_SECRET), 'algorithm'],
      'typ other than JWT': [
        forgeJwt({ alg: 'HS256', typ: 'at+jwt+x' }, { sub: 'eve', exp }, TEST_SECRET),
        'algorithm',
      ],
      'crit header': [
        forgeJwt({ alg: 'HS256', crit: ['exp'] }, { sub: 'eve', exp }, TEST_SECRET),
        'algorithm',
      ],
      'payload not JSON': [
        `${head}.${Buffer.from('not json').toString('base64url')}.${signature}`,
        'malformed',
      ],
      expired: [
        forgeJwt({ alg: 'HS256' }, { sub: 'eve', exp: nowSeconds() - 5 }, TEST_SECRET),
        'expired',
      ],
    }
    // Twice: the second time, every header that was on a verified token is known to the
    // services (they skip decoding it again), and nothing may change for that.
    for (const pass of ['first', 'second']) {
      for (const [name, [token, expected]] of Object.entries(cases)) {
        expect(await outcome(token), `${name} (${pass} pass)`).toEqual({
          'node:crypto': expected,
          'crypto.subtle': expected,
        })
      }
    }
  })
})
