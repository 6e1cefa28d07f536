import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_SECURITY, parseConfig } from '../src/config'
import { normalizeAddress, resolveClientAddress } from '../src/middleware/client-address'

const SECRET = 'x'.repeat(32)
const OLD = 'old-secret-0123456789abcdef0123456789abcdef'
const OLDER = 'older-secret-0123456789abcdef0123456789abcd'

/** The ConfigError message `parseConfig` throws for `record`, or '' when it does not throw. */
function refusal(record: Record<string, unknown>): string {
  try {
    parseConfig(record)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  return ''
}

describe('security settings', () => {
  it('defaults: no proxy trusted, CORS closed, 8 KiB bodies, 5/50 login failures per 15 min, 20 registrations per hour, 30 refreshes per session per minute', () => {
    const { security } = parseConfig({ JWT_SECRET: SECRET })
    expect(security).toEqual(DEFAULT_SECURITY)
    expect(security).toEqual({
      trustProxyHops: 0,
      corsOrigins: [],
      bodyLimitBytes: 8192,
      requestTimeoutMs: 8000,
      readyTimeoutMs: 2000,
      throttle: {
        loginAccount: { max: 5, windowSeconds: 900, lockoutSeconds: 900 },
        loginAddress: { max: 50, windowSeconds: 900, lockoutSeconds: 900 },
        registerAddress: { max: 20, windowSeconds: 3600, lockoutSeconds: 3600 },
        refreshFamily: { max: 30, windowSeconds: 60, lockoutSeconds: 60 },
      },
    })
  })

  it('reads every variable', () => {
    const { security } = parseConfig({
      JWT_SECRET: SECRET,
      TRUST_PROXY: '2',
      CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
      BODY_LIMIT_BYTES: '4096',
      REQUEST_TIMEOUT_MS: '3000',
      READY_TIMEOUT_MS: '500',
      THROTTLE_LOGIN_ACCOUNT_MAX: '3',
      THROTTLE_LOGIN_ADDRESS_MAX: '0',
      THROTTLE_LOGIN_WINDOW_SECONDS: '60',
      THROTTLE_LOGIN_LOCKOUT_SECONDS: '120',
      THROTTLE_REGISTER_ADDRESS_MAX: '5',
      THROTTLE_REGISTER_WINDOW_SECONDS: '600',
      THROTTLE_REFRESH_MAX: '10',
      THROTTLE_REFRESH_WINDOW_SECONDS: '30',
    })
    expect(security).toEqual({
      trustProxyHops: 2,
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
      bodyLimitBytes: 4096,
      requestTimeoutMs: 3000,
      readyTimeoutMs: 500,
      throttle: {
        loginAccount: { max: 3, windowSeconds: 60, lockoutSeconds: 120 },
        loginAddress: { max: 0, windowSeconds: 60, lockoutSeconds: 120 },
        registerAddress: { max: 5, windowSeconds: 600, lockoutSeconds: 600 },
        refreshFamily: { max: 10, windowSeconds: 30, lockoutSeconds: 30 },
      },
    })
  })

  it.each([
    ['true', 1],
    ['TRUE', 1],
    ['false', 0],
    ['', 0],
    ['0', 0],
    ['3', 3],
  ])('TRUST_PROXY=%s -> %i trusted proxies', (value, hops) => {
    expect(parseConfig({ JWT_SECRET: SECRET, TRUST_PROXY: value }).security.trustProxyHops).toBe(
      hops,
    )
  })

  it('CORS_ORIGINS=* allows any origin', () => {
    expect(parseConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: '*' }).security.corsOrigins).toEqual([
      '*',
    ])
  })

  it.each([
    ['TRUST_PROXY', 'yes'],
    ['TRUST_PROXY', '-1'],
    ['CORS_ORIGINS', 'web.example.org'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['CORS_ORIGINS', 'https://app.example.com/'],
    ['CORS_ORIGINS', 'javascript:alert(1)'],
    ['BODY_LIMIT_BYTES', '10'],
    ['THROTTLE_LOGIN_ACCOUNT_MAX', '-1'],
    ['THROTTLE_LOGIN_WINDOW_SECONDS', '0'],
    ['REQUEST_TIMEOUT_MS', 'soon'],
  ])('refuses %s=%s, naming the variable and not the value', (name, value) => {
    let message = ''
    try {
      parseConfig({ JWT_SECRET: SECRET, [name]: value })
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      message = (error as Error).message
    }
    expect(message).toContain(name)
    if (value.length > 3) expect(message).not.toContain(value)
  })
})

describe('client address', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    [' 192.0.2.1 ', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:10.0.0.255', '10.0.0.255'],
    ['255.255.255.255', '255.255.255.255'],
    ['256.1.1.1', undefined],
    ['::ffff:256.1.1.1', undefined],
    ['::ffff:01.2.3.4', undefined],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::1', '::1'],
    ['unknown', undefined],
    ['192.0.2.1:8080', undefined],
    ['01.2.3.4', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('normalizes %j to %j', (raw, expected) => {
    expect(normalizeAddress(raw)).toBe(expected)
  })

  async function resolved(hops: number, xff: string | undefined, socket: () => string | undefined) {
    const app = new Hono()
    app.get('/', (c) => c.text(String(resolveClientAddress(c, socket, hops))))
    const res = await app.request('/', {
      headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
    })
    return res.text()
  }

  it('uses the socket address and ignores X-Forwarded-For without trusted proxies', async () => {
    expect(await resolved(0, '203.0.113.5', () => '10.0.0.1')).toBe('10.0.0.1')
  })

  it('takes the entry the trusted proxies appended, counting from the right', async () => {
    const xff = '192.0.2.66, 203.0.113.5, 10.0.0.2'
    expect(await resolved(1, xff, () => '10.0.0.1')).toBe('10.0.0.2')
    expect(await resolved(2, xff, () => '10.0.0.1')).toBe('203.0.113.5')
    expect(await resolved(5, xff, () => '10.0.0.1')).toBe('192.0.2.66')
  })

  it('falls back to the socket when the header is missing or not an address', async () => {
    expect(await resolved(1, undefined, () => '10.0.0.1')).toBe('10.0.0.1')
    expect(await resolved(1, 'garbage', () => '10.0.0.1')).toBe('10.0.0.1')
  })

  it('is undefined, not an error, when the runtime cannot tell', async () => {
    const throwing = () => {
      throw new TypeError('no socket')
    }
    expect(await resolved(0, undefined, throwing)).toBe('undefined')
  })
})

describe('verifying keys: JWT_PREVIOUS_SECRETS and JWT_LEGACY_SECRET', () => {
  const production = { NODE_ENV: 'production', JWT_SECRET: SECRET }

  it('JWT_PREVIOUS_SECRETS is a comma-separated list, trimmed, empty entries ignored', () => {
    const config = parseConfig({ JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: ` ${OLD} ,, ${OLDER},` })
    expect(config.jwt.previousSecrets).toEqual([OLD, OLDER])
    expect(parseConfig({ JWT_SECRET: SECRET }).jwt.previousSecrets).toEqual([])
  })

  it('or a JSON array, for secrets that contain a comma', () => {
    const comma = `${OLD},${OLDER}`
    const value = JSON.stringify([comma, OLDER])
    expect(parseConfig({ ...production, JWT_PREVIOUS_SECRETS: value }).jwt.previousSecrets).toEqual(
      [comma, OLDER],
    )
  })

  it.each([
    ['[', 'not JSON'],
    ['["a", 1]', 'not all strings'],
    ['[""]', 'an empty string'],
    ['[ {"k": "v"} ]', 'an object'],
  ])('refuses %s as JSON (%s), naming the setting', (value) => {
    const message = refusal({ JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: value })
    expect(message).toContain('JWT_PREVIOUS_SECRETS')
    expect(message).toContain('JSON array')
  })

  it('refuses to start in production with a short previous secret, naming the setting and the entry, never the secret', () => {
    const message = refusal({ ...production, JWT_PREVIOUS_SECRETS: `${OLD},python-secret` })
    expect(message).toContain('JWT_PREVIOUS_SECRETS: entry 2 is shorter than 32 bytes')
    expect(message).toContain('JWT_LEGACY_SECRET')
    expect(message).not.toContain('python-secret')
    expect(message).not.toContain(OLD)
  })

  it('refuses a strong secret that the comma split cuts short, and says how to give it', () => {
    const withComma = 'k3y-with-a-comma,0123456789abcdef0123456789abcdef'
    const message = refusal({ ...production, JWT_PREVIOUS_SECRETS: withComma })
    expect(message).toContain('entry 1 is shorter')
    expect(message).toContain('JSON array')
    expect(message).not.toContain('k3y-with-a-comma')
    expect(message).not.toContain('0123456789abcdef')
    expect(
      parseConfig({ ...production, JWT_PREVIOUS_SECRETS: JSON.stringify([withComma]) }).jwt
        .previousSecrets,
    ).toEqual([withComma])
  })

  it('only warns about a short previous secret outside production, without naming it', () => {
    const config = parseConfig({ JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: 'python-secret' })
    expect(config.jwt.previousSecrets).toEqual(['python-secret'])
    expect(config.warnings.join('\n')).toContain('JWT_PREVIOUS_SECRETS')
    expect(config.warnings.join('\n')).not.toContain('python-secret')
  })

  it('takes JWT_LEGACY_SECRET whole, commas included, and lets it be short in production (a warning)', () => {
    const config = parseConfig({ ...production, JWT_LEGACY_SECRET: 'py,secret' })
    expect(config.jwt.legacySecret).toBe('py,secret')
    expect(config.jwt.previousSecrets).toEqual([])
    expect(config.warnings.join('\n')).toContain('JWT_LEGACY_SECRET')
    expect(config.warnings.join('\n')).not.toContain('py,secret')
    expect(parseConfig(production).jwt.legacySecret).toBeUndefined()
  })

  it('refuses JWT_LEGACY_SECRET with STATELESS_VALIDATION (only the database tells adopted accounts)', () => {
    const message = refusal({
      ...production,
      JWT_LEGACY_SECRET: 'python-secret',
      STATELESS_VALIDATION: 'true',
    })
    expect(message).toContain('JWT_LEGACY_SECRET')
    expect(message).toContain('STATELESS_VALIDATION')
    expect(message).not.toContain('python-secret')
  })
})
