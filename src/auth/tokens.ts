import { verify } from 'hono/jwt'
import { encodeBase64Url } from 'hono/utils/encode'
import { signing } from 'hono/utils/jwt/jws'
import { decodeHeader, isTokenHeader } from 'hono/utils/jwt/jwt'
import type { JWTPayload } from 'hono/utils/jwt/types'
import { builtinCrypto, type NodeCrypto } from './builtin-crypto'
import {
  type ConfiguredKey,
  generatePrivateKey,
  importPrivateKey,
  importPublicKey,
  type PrivateKeyPair,
  type PublicJwk,
  type SigningAlgorithm,
} from './keys'

/**
 * The claims of an access token this service accepts. `uid`, `iat`, `auth_ms` and `jti` are absent
 * from tokens made by the Python service. `auth_ms` (a private claim) is when the session the token
 * belongs to began, in milliseconds: the password login, kept through refreshes. The account's
 * `tokens_valid_after` is compared with it (see `auth/revocation.ts`).
 */
export interface AccessClaims {
  sub: string
  exp: number
  uid?: number
  iat?: number
  auth_ms?: number
  nbf?: number
  jti?: string
  iss?: string
  aud?: string | string[]
  /** How the session's login was authenticated (RFC 8176): `["pwd"]`, or `["pwd", "otp"]` after a second factor. */
  amr?: string[]
}

/** Why a token was refused. The reason is for logs only; clients always get the same answer. */
export type TokenFailure =
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  | 'issuer'
  | 'audience'
  | 'key'

/** Thrown by {@link TokenService.verifyAccessToken}. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError'
  constructor(readonly reason: TokenFailure) {
    super(`invalid token: ${reason}`)
  }
}

/** Options of {@link createTokenService}. */
export interface TokenServiceOptions {
  /** What signs new tokens (`ALGORITHM`). Default `HS256`, signed with `secret`. */
  algorithm?: SigningAlgorithm
  /**
   * The HS256 secret: signs new tokens and verifies with `HS256`; only verifies (tokens made before
   * the move to a key pair) with `EdDSA` or `ES256`.
   */
  secret?: string | undefined
  /**
   * Signs new tokens with `EdDSA` or `ES256`; undefined there makes a key pair for this process
   * only (development). Its public key is published.
   */
  privateKey?: ConfiguredKey | undefined
  /** Public keys that verify and are published but never sign: the next key, previous keys. */
  publicKeys?: readonly ConfiguredKey[] | undefined
  /** Retired secrets that still verify tokens made with them (key rotation); never used to sign. */
  previousSecrets?: readonly string[] | undefined
  /**
   * The Python service's secret, which may be weak: it verifies only tokens of that service's
   * shape (see {@link isPythonShaped}), never ours, and never signs.
   */
  legacySecret?: string | undefined
  accessTokenTtlSeconds: number
  issuer?: string | undefined
  audience?: string | undefined
  /** Clock skew tolerated on `nbf` and `iat`, in seconds. Default 30. */
  leewaySeconds?: number
  /** Current time in milliseconds. Default `Date.now`. */
  now?: () => number
  /**
   * Signs new tokens with this `node:crypto` (default: the runtime's own, see
   * `builtin-crypto.ts`); `null` signs with `crypto.subtle`, as on Workers. Same tokens either way.
   */
  nodeCrypto?: NodeCrypto | null
}

/** An access token as handed to a client. */
export interface IssuedAccessToken {
  token: string
  expiresIn: number
  claims: AccessClaims
}

/** Whom a token is for, and when their session began (`auth_ms`; default: now). */
export interface TokenSubject {
  id: number
  username: string
  sessionStartedAt?: Date
  /** The `amr` claim (RFC 8176); none when not given. */
  amr?: string[]
}

/** Signs and verifies access tokens. */
export interface TokenService {
  issueAccessToken(user: TokenSubject): Promise<IssuedAccessToken>
  /** @throws {InvalidTokenError} */
  verifyAccessToken(token: string): Promise<AccessClaims>
  /**
   * The claims of a token verified before and still trusted (a cache hit), at once; undefined when
   * it must go through {@link verifyAccessToken}. Only a caching service has it.
   */
  verifiedBefore?(token: string): AccessClaims | undefined
  /** The public keys to publish (JWKS): the signing key's first; none with HS256 alone. */
  publicKeys(): Promise<readonly PublicJwk[]>
  /**
   * Imports every key now (they are otherwise imported on first use).
   * @throws {ConfigError} naming the setting of a key that cannot be used.
   */
  ready(): Promise<void>
}

/** Tokens longer than this are refused before any decoding. */
export const MAX_TOKEN_LENGTH = 8192

const HMAC = { name: 'HMAC', hash: 'SHA-256' } as const
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** Header parameters that point at or carry a key (RFC 7515 §4.1); a token never chooses its own key. */
const KEY_BEARING_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256']
const KID_CONTEXT = new TextEncoder().encode('edge-auth/jwt-kid/v1:')

/** A key that verifies: an HMAC secret (no `kid` needed) or a public key. */
interface VerifyingKey {
  kid: string
  alg: SigningAlgorithm
  key: CryptoKey
  hmac: boolean
  /** The HMAC secret as `node:crypto` takes it, where the runtime has `node:crypto`. */
  nodeSecret?: import('node:crypto').KeyObject
  /** True for the legacy secret: it verifies only the Python service's tokens. */
  legacyOnly: boolean
}

/** The key that signs new tokens. */
interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  key: CryptoKey
  /** The HMAC secret, or the private JWK, for `node:crypto`. */
  secret?: string
  privateJwk?: JsonWebKey
}

interface KeyRing {
  signing: SigningKey
  verifying: VerifyingKey[]
  published: PublicJwk[]
  /** Headers seen on tokens whose signature verified, by their encoded form (see {@link verifySignature}). */
  verifiedHeaders: Map<string, KnownHeader>
}

/** A token header that a signature has proven, decoded, with the keys it may name. */
interface KnownHeader {
  header: object
  candidates: VerifyingKey[]
}

/**
 * Distinct headers remembered per key ring. Every token one key signs has the same header, so a
 * handful covers every key a ring holds; only headers of verified tokens are held, so nobody
 * without a key can add one.
 */
const MAX_VERIFIED_HEADERS = 16

/** The largest `uid`: ids are Postgres `integer` (serial) values, which start at 1. */
const MAX_UID = 2 ** 31 - 1
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * The `kid` of a secret: the first 12 bytes of SHA-256 over a fixed context and the secret,
 * base64url. Stable across processes and instances; reveals nothing a token's signature does not.
 */
export async function keyIdOf(secret: string): Promise<string> {
  const bytes = new TextEncoder().encode(secret)
  const input = new Uint8Array(KID_CONTEXT.length + bytes.length)
  input.set(KID_CONTEXT)
  input.set(bytes, KID_CONTEXT.length)
  const digest = await crypto.subtle.digest('SHA-256', input)
  return encodeBase64Url(digest.slice(0, 12))
}

async function importHmac(secret: string, legacyOnly: boolean, node: NodeCrypto | undefined) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), HMAC, false, [
    'sign',
    'verify',
  ])
  const nodeSecret = node?.createSecretKey(new TextEncoder().encode(secret))
  return {
    kid: await keyIdOf(secret),
    alg: 'HS256' as const,
    key,
    secret,
    hmac: true,
    legacyOnly,
    ...(nodeSecret === undefined ? {} : { nodeSecret }),
  }
}

/**
 * Imports every configured key once: the HMAC secrets (signing first with HS256), the private key
 * (or a fresh one) and the published public keys. A public key also given as the private key's
 * is listed once.
 */
async function loadKeyRing(
  options: TokenServiceOptions,
  node: NodeCrypto | undefined,
): Promise<KeyRing> {
  const algorithm = options.algorithm ?? 'HS256'
  const secrets = [
    ...new Set([
      ...(options.secret === undefined ? [] : [options.secret]),
      ...(options.previousSecrets ?? []),
    ]),
  ]
  const legacy = options.legacySecret
  const legacySecrets = legacy === undefined || secrets.includes(legacy) ? [] : [legacy]
  const hmac = await Promise.all([
    ...secrets.map((secret) => importHmac(secret, false, node)),
    ...legacySecrets.map((secret) => importHmac(secret, true, node)),
  ])
  let pair: PrivateKeyPair | undefined
  if (algorithm !== 'HS256') {
    pair =
      options.privateKey === undefined
        ? await generatePrivateKey(algorithm)
        : await importPrivateKey(options.privateKey)
  }
  const others = await Promise.all((options.publicKeys ?? []).map(importPublicKey))
  const publicKeys = [
    ...(pair === undefined ? [] : [pair]),
    ...others.filter((k) => k.kid !== pair?.kid),
  ]
  const verifying: VerifyingKey[] = [
    ...publicKeys.map(({ kid, alg, publicKey }) => ({
      kid,
      alg,
      key: publicKey,
      hmac: false,
      legacyOnly: false,
    })),
    ...hmac,
  ]
  let signing: SigningKey
  if (pair !== undefined) {
    signing = { kid: pair.kid, alg: pair.alg, key: pair.privateKey, privateJwk: pair.privateJwk }
  } else {
    const first = hmac[0]
    if (first === undefined || first.legacyOnly) throw new RangeError('HS256 needs a secret')
    signing = first
  }
  return {
    signing,
    verifying,
    published: publicKeys.map((k) => k.jwk),
    verifiedHeaders: new Map(),
  }
}

/**
 * Whether a base64url segment (no padding) is the one canonical spelling of its bytes: a length
 * that whole bytes can have, and the unused low bits of the last character zero. Otherwise up to
 * four spellings of one signature (or header, or payload) would be accepted.
 */
export function isCanonicalBase64Url(segment: string): boolean {
  const rest = segment.length % 4
  if (rest === 1) return false
  if (rest === 0) return true
  const last = BASE64URL.indexOf(segment.charAt(segment.length - 1))
  // Two characters carry one byte (4 bits unused); three carry two bytes (2 bits unused).
  return last >= 0 && last % (rest === 2 ? 16 : 4) === 0
}

/**
 * Whether a token has the Python service's shape: a header of `alg` and `typ` only (no `kid`), and
 * claims `sub` and `exp` only (PyJWT's `{"sub": username, "exp": ...}`). Such a token carries no
 * `uid`, `iat` or `auth_ms`, so the revocation rule honours it only for accounts adopted from that
 * service whose sessions were never ended (see `auth/revocation.ts`).
 */
export function isPythonShaped(header: object, payload: object): boolean {
  const only = (value: object, allowed: string[], required: string[]) =>
    Object.keys(value).every((k) => allowed.includes(k)) &&
    required.every((k) => Object.hasOwn(value, k))
  return only(header, ['alg', 'typ'], ['alg']) && only(payload, ['sub', 'exp'], ['sub', 'exp'])
}

const encodePart = (value: unknown) =>
  encodeBase64Url(new TextEncoder().encode(JSON.stringify(value)).buffer).replace(/=+$/, '')

/**
 * Builds the token service. Every key (the signing one, then the published public keys, the HMAC
 * secrets and the legacy one) is imported once, on first use or {@link TokenService.ready}, and
 * reused. New tokens carry the signing key's `kid` (for a key pair, its RFC 7638 thumbprint).
 * Verification refuses a segment not in canonical base64url, key-bearing headers (`jku`, `jwk`,
 * `x5u`, `x5c`, ...) and a `kid` outside the configured keys; a token without `kid` (the Python
 * service's) is tried against each HMAC secret, the legacy one last and only for that service's
 * shape. It then demands the algorithm of the key it picked, a valid signature, claims that are a
 * JSON object, a numeric `exp` in the future and a non-empty `sub`; `uid`, when present, must be a
 * possible account id (1 to 2^31-1); `nbf`/`iat` may be at most `leewaySeconds` in the future;
 * `iss`/`aud` are required when configured (`iss` may be absent from a token an HMAC secret
 * verifies when a key pair signs: such tokens predate the move).
 */
export function createTokenService(options: TokenServiceOptions): TokenService {
  if (options.accessTokenTtlSeconds <= 0)
    throw new RangeError('accessTokenTtlSeconds must be positive')
  if ((options.algorithm ?? 'HS256') === 'HS256' && options.secret === undefined) {
    throw new RangeError('HS256 needs a secret')
  }
  const leeway = options.leewaySeconds ?? 30
  const now = options.now ?? Date.now
  const node = options.nodeCrypto === undefined ? builtinCrypto : (options.nodeCrypto ?? undefined)
  let ring: Promise<KeyRing> | undefined
  let loaded: KeyRing | undefined
  const getRing = () => {
    ring ??= loadKeyRing(options, node).then((keys) => {
      loaded = keys
      return keys
    })
    return ring
  }
  const sign = nodeSigner(node)

  return {
    async issueAccessToken(user) {
      const nowMs = now()
      const iat = Math.floor(nowMs / 1000)
      const claims: AccessClaims = {
        sub: user.username,
        uid: user.id,
        iat,
        auth_ms: user.sessionStartedAt?.getTime() ?? nowMs,
        exp: iat + options.accessTokenTtlSeconds,
        jti: crypto.randomUUID(),
        ...(user.amr === undefined ? {} : { amr: user.amr }),
        ...(options.issuer === undefined ? {} : { iss: options.issuer }),
        ...(options.audience === undefined ? {} : { aud: options.audience }),
      }
      const key = (await getRing()).signing
      const unsigned = `${encodePart({ alg: key.alg, typ: 'JWT', kid: key.kid })}.${encodePart(claims)}`
      const token = `${unsigned}.${await sign(key, unsigned)}`
      return { token, expiresIn: options.accessTokenTtlSeconds, claims }
    },

    async verifyAccessToken(token) {
      if (
        token.length > MAX_TOKEN_LENGTH ||
        !JWT_SHAPE.test(token) ||
        !token.split('.').every(isCanonicalBase64Url)
      ) {
        throw new InvalidTokenError('malformed')
      }
      const { payload, key } = await verifySignature(token, loaded ?? (await getRing()), node)
      // A token an HMAC secret verifies next to a key pair was made before the move to it, when
      // JWT_ISSUER may not have been set: its `iss` is checked only when it carries one.
      const issuerOptional = key.hmac && (options.algorithm ?? 'HS256') !== 'HS256'
      return checkClaims(payload, Math.floor(now() / 1000), leeway, options, issuerOptional)
    },

    publicKeys: async () => (await getRing()).published,

    async ready() {
      await getRing()
    },
  }
}

/**
 * Signs with `node:crypto` where the runtime has it (HMAC, Ed25519 and ECDSA computed at once on
 * the calling thread, see `builtin-crypto.ts`), else with `crypto.subtle`. ECDSA signatures are
 * the fixed-size r || s of JWS (RFC 7518 §3.4) either way.
 */
function nodeSigner(node: NodeCrypto | undefined) {
  const subtle = async ({ key, alg }: SigningKey, unsigned: string) =>
    encodeBase64Url(await signing(key, alg, new TextEncoder().encode(unsigned))).replace(/=+$/, '')
  if (node === undefined) return subtle
  const nodeKeys = new WeakMap<SigningKey, import('node:crypto').KeyObject>()
  return async (key: SigningKey, unsigned: string) => {
    if (key.secret !== undefined) {
      return node.createHmac('sha256', key.secret).update(unsigned, 'utf8').digest('base64url')
    }
    if (key.privateJwk === undefined) return subtle(key, unsigned)
    let nodeKey = nodeKeys.get(key)
    if (nodeKey === undefined) {
      nodeKey = node.createPrivateKey({
        key: key.privateJwk as import('node:crypto').JsonWebKey,
        format: 'jwk',
      })
      nodeKeys.set(key, nodeKey)
    }
    const data = new TextEncoder().encode(unsigned)
    const signature =
      key.alg === 'EdDSA'
        ? node.sign(null, data, nodeKey)
        : node.sign('sha256', data, { key: nodeKey, dsaEncoding: 'ieee-p1363' })
    return signature.toString('base64url')
  }
}

/**
 * Checks the header (decoded, no key-bearing parameters, a `kid` naming one of `ring`'s keys, or
 * none for an HMAC one) and the signature, and returns the payload with the key that verified it.
 * A header that has been on a verified token before is not decoded again.
 */
async function verifySignature(
  token: string,
  ring: KeyRing,
  node: NodeCrypto | undefined,
): Promise<{ payload: JWTPayload; key: VerifyingKey }> {
  const encodedHeader = token.slice(0, token.indexOf('.'))
  const known = ring.verifiedHeaders.get(encodedHeader)
  const { header, candidates } = known ?? readHeader(token, ring.verifying)
  let failure: TokenFailure = 'signature'
  for (const candidate of candidates) {
    const { key, alg, legacyOnly } = candidate
    let payload: unknown
    try {
      payload =
        candidate.nodeSecret === undefined || node === undefined
          ? await verify(token, key, { alg, exp: false, nbf: false, iat: false })
          : verifyHs256(token, known === undefined ? header : null, candidate.nodeSecret, node)
    } catch (error) {
      failure = failureOf(error)
      if (failure !== 'signature') break
      continue
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new InvalidTokenError('claims')
    }
    if (legacyOnly && !isPythonShaped(header, payload)) throw new InvalidTokenError('key')
    if (known === undefined && ring.verifiedHeaders.size < MAX_VERIFIED_HEADERS) {
      ring.verifiedHeaders.set(encodedHeader, { header, candidates })
    }
    return { payload: payload as JWTPayload, key: candidate }
  }
  throw new InvalidTokenError(failure)
}

/** Decodes a token's header and picks the keys that may have signed it. */
function readHeader(token: string, keys: VerifyingKey[]): KnownHeader {
  let header: unknown
  try {
    header = decodeHeader(token)
  } catch {
    throw new InvalidTokenError('malformed')
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new InvalidTokenError('malformed')
  }
  if (KEY_BEARING_HEADERS.some((name) => Object.hasOwn(header, name))) {
    throw new InvalidTokenError('key')
  }
  const kid = (header as { kid?: unknown }).kid
  // The legacy key is never named by a kid: the Python service's tokens carry none. A token without
  // a kid can only be an HMAC one (ours always name their key).
  const candidates =
    kid === undefined
      ? keys.filter((k) => k.hmac)
      : keys.filter((k) => !k.legacyOnly && k.kid === kid)
  if (candidates.length === 0) throw new InvalidTokenError('key')
  return { header, candidates }
}

/** Thrown by {@link verifyHs256}, by the names `hono/jwt`'s `verify` gives the same failures. */
class HmacVerifyError extends Error {
  constructor(
    override readonly name:
      | 'JwtTokenInvalid'
      | 'JwtHeaderInvalid'
      | 'JwtAlgorithmMismatch'
      | 'JwtTokenSignatureMismatched',
  ) {
    super(name)
  }
}

/**
 * What `hono/jwt`'s `verify(token, key, { alg: 'HS256' })` does with the claim checks off, with
 * `node:crypto` computing the HMAC at once on this thread (`crypto.subtle` is asynchronous, and on
 * Bun queues behind Argon2 on the thread pool): the same header rules (`isTokenHeader`: a known
 * `alg`, `typ` JWT if any, no `crit`), then the algorithm, then the signature in constant time.
 * Decoding failures throw `hono/jwt`'s own errors. Returns the payload. `header` is null when
 * it is one that has already passed these rules on a verified token.
 */
function verifyHs256(
  token: string,
  header: object | null,
  secret: import('node:crypto').KeyObject,
  node: NodeCrypto,
): unknown {
  const [, encodedPayload = '', signature = ''] = token.split('.')
  let payload: unknown
  try {
    // As hono/jwt decodes it: UTF-8 with replacement characters, then JSON.
    payload = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString('utf8'))
  } catch {
    throw new HmacVerifyError('JwtTokenInvalid')
  }
  if (header !== null) {
    if (!isTokenHeader(header, undefined)) throw new HmacVerifyError('JwtHeaderInvalid')
    if (header.alg !== 'HS256') throw new HmacVerifyError('JwtAlgorithmMismatch')
  }
  const signed = token.slice(0, token.length - signature.length - 1)
  const expected = node.createHmac('sha256', secret).update(signed, 'utf8').digest('base64url')
  // The segments are canonical base64url (checked first), so equal text is equal bytes.
  if (!sameText(signature, expected)) throw new HmacVerifyError('JwtTokenSignatureMismatched')
  return payload
}

/** Whether two strings are equal, in a time that depends on their lengths only. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

function failureOf(error: unknown): TokenFailure {
  const name = error instanceof Error ? error.name : ''
  if (name === 'JwtAlgorithmMismatch' || name === 'JwtHeaderInvalid') return 'algorithm'
  if (name === 'JwtTokenSignatureMismatched') return 'signature'
  return 'malformed'
}

function checkClaims(
  payload: JWTPayload,
  nowSeconds: number,
  leeway: number,
  options: TokenServiceOptions,
  issuerOptional: boolean,
): AccessClaims {
  const { sub, exp, nbf, iat, uid, iss, aud } = payload as Record<string, unknown>
  const authMs = (payload as Record<string, unknown>).auth_ms
  if (typeof sub !== 'string' || sub.length === 0) throw new InvalidTokenError('claims')
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new InvalidTokenError('claims')
  if (exp <= nowSeconds) throw new InvalidTokenError('expired')
  for (const moment of [nbf, iat]) {
    if (moment === undefined) continue
    if (typeof moment !== 'number' || !Number.isFinite(moment))
      throw new InvalidTokenError('claims')
    if (moment > nowSeconds + leeway) throw new InvalidTokenError('not_yet_valid')
  }
  if (
    uid !== undefined &&
    !(Number.isInteger(uid) && (uid as number) >= 1 && (uid as number) <= MAX_UID)
  ) {
    throw new InvalidTokenError('claims')
  }
  if (authMs !== undefined && !(Number.isSafeInteger(authMs) && (authMs as number) >= 0)) {
    throw new InvalidTokenError('claims')
  }
  if (
    options.issuer !== undefined &&
    iss !== options.issuer &&
    !(issuerOptional && iss === undefined)
  ) {
    throw new InvalidTokenError('issuer')
  }
  if (options.audience !== undefined && !audienceMatches(aud, options.audience)) {
    throw new InvalidTokenError('audience')
  }
  return payload as unknown as AccessClaims
}

function audienceMatches(aud: unknown, expected: string): boolean {
  if (typeof aud === 'string') return aud === expected
  return Array.isArray(aud) && aud.includes(expected)
}
