import { decodeBase64Url, encodeBase64Url } from 'hono/utils/encode'

/**
 * Encrypts the TOTP secrets stored in the database with AES-256-GCM (Web Crypto), under the key of
 * `MFA_ENCRYPTION_KEY`, so that a dump of the database alone does not yield anyone's second factor.
 * Each value gets a fresh random 96-bit nonce, and is bound to its account by the additional data
 * (`edge-auth/totp:<user id>`): a ciphertext copied onto another account's row does not decrypt.
 * Stored as `v1.<nonce>.<ciphertext and tag>`, both base64url.
 */
export interface SecretBox {
  seal(plaintext: string, userId: number): Promise<string>
  /** @throws {Error} when the value was not sealed with this key for this user. */
  open(sealed: string, userId: number): Promise<string>
}

const VERSION = 'v1'
const NONCE_BYTES = 12

const b64url = (bytes: ArrayBuffer | Uint8Array) =>
  encodeBase64Url(bytes instanceof Uint8Array ? (bytes.buffer as ArrayBuffer) : bytes).replace(
    /=+$/,
    '',
  )

const context = (userId: number) => new TextEncoder().encode(`edge-auth/totp:${userId}`)

/** A {@link SecretBox} over a 32-byte key. */
export function createSecretBox(keyBytes: Uint8Array): SecretBox {
  if (keyBytes.length !== 32) throw new RangeError('the TOTP encryption key must be 32 bytes')
  const key = crypto.subtle.importKey(
    'raw',
    keyBytes as Uint8Array<ArrayBuffer>,
    { name: 'AES-GCM' },
    false,
    ['encrypt', 'decrypt'],
  )
  return {
    async seal(plaintext, userId) {
      const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
      const sealed = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: nonce, additionalData: context(userId) },
        await key,
        new TextEncoder().encode(plaintext),
      )
      return `${VERSION}.${b64url(nonce)}.${b64url(sealed)}`
    },
    async open(sealed, userId) {
      const [version, nonce, body] = sealed.split('.')
      if (version !== VERSION || nonce === undefined || body === undefined) {
        throw new Error('not a sealed value')
      }
      const plain = await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: decodeBase64Url(nonce) as Uint8Array<ArrayBuffer>,
          additionalData: context(userId),
        },
        await key,
        decodeBase64Url(body) as Uint8Array<ArrayBuffer>,
      )
      return new TextDecoder().decode(plain)
    },
  }
}
