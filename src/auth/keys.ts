import { encodeBase64Url } from 'hono/utils/encode'
import { settingError } from '../config-error'

/** The signing algorithms of access tokens (`ALGORITHM`). */
export type SigningAlgorithm = 'HS256' | AsymmetricAlgorithm

/** The public-key algorithms: Ed25519 (`EdDSA`, RFC 8037) and ECDSA P-256 with SHA-256 (`ES256`). */
export type AsymmetricAlgorithm = 'EdDSA' | 'ES256'

/**
 * A key read from a setting but not yet imported: a JWK, or the DER inside a PEM block (PKCS#8 for
 * a private key, SPKI for a public one). `setting` names where it came from, for error messages.
 */
export interface ConfiguredKey {
  setting: string
  alg: AsymmetricAlgorithm
  material:
    | { format: 'jwk'; jwk: JsonWebKey }
    | { format: 'pkcs8' | 'spki'; der: Uint8Array<ArrayBuffer> }
}

/** A public key as published at `/.well-known/jwks.json`. */
export interface PublicJwk {
  kty: 'OKP' | 'EC'
  crv: 'Ed25519' | 'P-256'
  x: string
  y?: string
  kid: string
  alg: AsymmetricAlgorithm
  use: 'sig'
}

/** An imported private key with what is published for it. */
export interface PrivateKeyPair {
  alg: AsymmetricAlgorithm
  kid: string
  privateKey: CryptoKey
  publicKey: CryptoKey
  jwk: PublicJwk
  /** The whole private JWK, for `node:crypto` signing (never published, never logged). */
  privateJwk: JsonWebKey
}

/** An imported public key that verifies (and is published) but never signs. */
export interface PublicKey {
  alg: AsymmetricAlgorithm
  kid: string
  publicKey: CryptoKey
  jwk: PublicJwk
}

const PARAMS: Record<AsymmetricAlgorithm, EcKeyImportParams | Algorithm> = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
}

/** The parameters of `crypto.subtle.sign`/`verify` for an algorithm. */
export const SIGN_PARAMS: Record<AsymmetricAlgorithm, Algorithm | EcdsaParams> = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
}

// DER encodings of the algorithm OIDs in a PKCS#8 or SPKI AlgorithmIdentifier.
const OID_ED25519 = [0x06, 0x03, 0x2b, 0x65, 0x70]
const OID_EC_PUBLIC_KEY = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
const OID_P256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g

/**
 * Reads one private key (`JWT_PRIVATE_KEY`): a JWK (JSON) or a PKCS#8 PEM block. Checks its type
 * and that it is a private key of `alg`; the key itself is checked when imported.
 * @throws {ConfigError} naming the setting, never echoing the key.
 */
export function parsePrivateKey(
  text: string,
  setting: string,
  alg: AsymmetricAlgorithm,
): ConfiguredKey {
  const keys = parseKeys(text, setting)
  if (keys.length !== 1) throw settingError(setting, 'expected exactly one key')
  const key = keys[0] as ConfiguredKey
  const isPrivate =
    key.material.format === 'jwk'
      ? key.material.jwk.d !== undefined
      : key.material.format === 'pkcs8'
  if (!isPrivate) {
    throw settingError(
      setting,
      'is a public key; a private key (JWK with "d", or PKCS#8 PEM) is needed',
    )
  }
  if (key.alg !== alg) throw settingError(setting, `is an ${key.alg} key but ALGORITHM is ${alg}`)
  return key
}

/**
 * Reads published-but-not-signing keys (`JWT_PUBLIC_KEYS`): a JWK, a JSON array of JWKs, a JWK Set
 * (`{"keys": [...]}`) or one or more SPKI PEM blocks. Every key must be public.
 * @throws {ConfigError} naming the setting.
 */
export function parsePublicKeys(text: string, setting: string): ConfiguredKey[] {
  const keys = parseKeys(text, setting)
  keys.forEach((key, i) => {
    const isPublic =
      key.material.format === 'jwk'
        ? key.material.jwk.d === undefined
        : key.material.format === 'spki'
    if (!isPublic) {
      throw settingError(setting, `key ${i + 1} is a private key; list public keys only`)
    }
  })
  return keys
}

function parseKeys(text: string, setting: string): ConfiguredKey[] {
  const trimmed = text.trim()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      throw settingError(setting, 'starts like JSON but is not valid JSON')
    }
    const list = Array.isArray(parsed)
      ? parsed
      : isObject(parsed) && Array.isArray(parsed.keys)
        ? parsed.keys
        : [parsed]
    return list.map((jwk, i) => jwkKey(jwk, setting, i + 1))
  }
  const blocks = [...trimmed.matchAll(PEM_BLOCK)]
  if (blocks.length === 0) {
    throw settingError(
      setting,
      'expected a JWK (JSON) or a PEM block (-----BEGIN PRIVATE KEY-----)',
    )
  }
  return blocks.map(([, label, body], i) => pemKey(label ?? '', body ?? '', setting, i + 1))
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

function jwkKey(jwk: unknown, setting: string, n: number): ConfiguredKey {
  if (!isObject(jwk)) throw settingError(setting, `key ${n} is not a JSON object`)
  let alg: AsymmetricAlgorithm
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') alg = 'EdDSA'
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256'
  else {
    throw settingError(
      setting,
      `key ${n} is not an Ed25519 (kty OKP, crv Ed25519) or P-256 (kty EC, crv P-256) key`,
    )
  }
  // Web Crypto exports Ed25519 keys with the fully-specified `alg` of RFC 9864.
  const algs = alg === 'EdDSA' ? ['EdDSA', 'Ed25519'] : ['ES256']
  if (jwk.alg !== undefined && !algs.includes(jwk.alg as string)) {
    throw settingError(setting, `key ${n} says alg ${String(jwk.alg)} but is an ${alg} key`)
  }
  return { setting, alg, material: { format: 'jwk', jwk: jwk as JsonWebKey } }
}

function pemKey(label: string, body: string, setting: string, n: number): ConfiguredKey {
  let format: 'pkcs8' | 'spki'
  if (label === 'PRIVATE KEY') format = 'pkcs8'
  else if (label === 'PUBLIC KEY') format = 'spki'
  else if (label === 'EC PRIVATE KEY') {
    throw settingError(
      setting,
      `key ${n} is a SEC1 EC key; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)`,
    )
  } else throw settingError(setting, `key ${n} is a PEM "${label}", not a PRIVATE or PUBLIC KEY`)
  let der: Uint8Array<ArrayBuffer>
  try {
    der = Uint8Array.from(atob(body.replace(/\s+/g, '')), (ch) => ch.charCodeAt(0))
  } catch {
    throw settingError(setting, `key ${n} is not valid base64 inside its PEM block`)
  }
  // The AlgorithmIdentifier sits in the first few dozen bytes of both structures.
  const head = der.subarray(0, 40)
  let alg: AsymmetricAlgorithm
  if (contains(head, OID_ED25519)) alg = 'EdDSA'
  else if (contains(head, OID_EC_PUBLIC_KEY) && contains(head, OID_P256)) alg = 'ES256'
  else throw settingError(setting, `key ${n} is neither an Ed25519 nor a P-256 key`)
  return { setting, alg, material: { format, der } }
}

function contains(bytes: Uint8Array, part: number[]): boolean {
  outer: for (let i = 0; i + part.length <= bytes.length; i++) {
    for (let j = 0; j < part.length; j++) if (bytes[i + j] !== part[j]) continue outer
    return true
  }
  return false
}

/**
 * The public JWK of a key with its RFC 7638 thumbprint as `kid`: SHA-256 over the required members
 * in lexicographic order, base64url. Any verifier can recompute it from the published key.
 */
export async function publicJwkOf(jwk: JsonWebKey, alg: AsymmetricAlgorithm): Promise<PublicJwk> {
  const required =
    alg === 'EdDSA'
      ? { crv: 'Ed25519', kty: 'OKP', x: jwk.x }
      : { crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y }
  const digest = await crypto.subtle.digest(
    'SHA-256',
    new TextEncoder().encode(JSON.stringify(required)),
  )
  const kid = encodeBase64Url(digest).replace(/=+$/, '')
  return { ...(required as Omit<PublicJwk, 'kid' | 'alg' | 'use'>), kid, alg, use: 'sig' }
}

const PROBE = new TextEncoder().encode('edge-auth/key-probe')

/**
 * Imports a private key, derives its public key and `kid`, and signs and verifies a probe with the
 * pair, so a JWK whose `x`/`y` do not belong to its `d` is refused at start rather than publishing
 * a key that verifies nothing.
 * @throws {ConfigError} naming the key's setting.
 */
export async function importPrivateKey(key: ConfiguredKey): Promise<PrivateKeyPair> {
  const params = PARAMS[key.alg]
  let exportable: CryptoKey
  try {
    exportable =
      key.material.format === 'jwk'
        ? await crypto.subtle.importKey('jwk', stripUsage(key.material.jwk), params, true, ['sign'])
        : await crypto.subtle.importKey('pkcs8', key.material.der, params, true, ['sign'])
  } catch {
    throw settingError(key.setting, `is not a valid ${key.alg} private key`)
  }
  return pairOf(exportable, key.alg, key.setting)
}

/** A fresh key pair for a development run without `JWT_PRIVATE_KEY` (gone when the process ends). */
export async function generatePrivateKey(alg: AsymmetricAlgorithm): Promise<PrivateKeyPair> {
  const pair = (await crypto.subtle.generateKey(PARAMS[alg], true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  return pairOf(pair.privateKey, alg, 'JWT_PRIVATE_KEY')
}

async function pairOf(
  exportable: CryptoKey,
  alg: AsymmetricAlgorithm,
  setting: string,
): Promise<PrivateKeyPair> {
  const params = PARAMS[alg]
  const full = await crypto.subtle.exportKey('jwk', exportable)
  const jwk = await publicJwkOf(full, alg)
  const publicKey = await crypto.subtle.importKey('jwk', bare(jwk), params, false, ['verify'])
  // The signing copy cannot be exported again.
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', exportable)
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, params, false, ['sign'])
  const signature = await crypto.subtle.sign(SIGN_PARAMS[alg], privateKey, PROBE)
  if (!(await crypto.subtle.verify(SIGN_PARAMS[alg], publicKey, signature, PROBE))) {
    throw settingError(setting, 'its public part does not match its private part')
  }
  return { alg, kid: jwk.kid, privateKey, publicKey, jwk, privateJwk: full }
}

/**
 * Imports a public key.
 * @throws {ConfigError} naming the key's setting.
 */
export async function importPublicKey(key: ConfiguredKey): Promise<PublicKey> {
  const params = PARAMS[key.alg]
  let exportable: CryptoKey
  try {
    exportable =
      key.material.format === 'jwk'
        ? await crypto.subtle.importKey('jwk', stripUsage(key.material.jwk), params, true, [
            'verify',
          ])
        : await crypto.subtle.importKey('spki', key.material.der, params, true, ['verify'])
  } catch {
    throw settingError(key.setting, `holds a key that is not a valid ${key.alg} public key`)
  }
  const jwk = await publicJwkOf(await crypto.subtle.exportKey('jwk', exportable), key.alg)
  const publicKey = await crypto.subtle.importKey('jwk', bare(jwk), params, false, ['verify'])
  return { alg: key.alg, kid: jwk.kid, publicKey, jwk }
}

/** The members Web Crypto needs to import a public JWK. */
const bare = ({ kty, crv, x, y }: PublicJwk): JsonWebKey =>
  y === undefined ? { kty, crv, x } : { kty, crv, x, y }

/** A configured JWK without the members that would restrict (or clash with) the usage asked for. */
function stripUsage(jwk: JsonWebKey): JsonWebKey {
  const {
    key_ops: _ops,
    use: _use,
    ext: _ext,
    alg: _alg,
    ...rest
  } = jwk as JsonWebKey & {
    use?: string
  }
  return rest
}
