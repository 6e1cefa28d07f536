import { type AsymmetricAlgorithm, publicJwkOf } from '../../src/auth/keys'

/** A key pair made for a test: the private key as PKCS#8 PEM and as a JWK, the public JWK and kid. */
export interface TestKey {
  alg: AsymmetricAlgorithm
  pem: string
  privateJwk: JsonWebKey
  publicJwk: JsonWebKey
  publicPem: string
  kid: string
}

const pem = (label: string, der: ArrayBuffer) =>
  [
    `-----BEGIN ${label}-----`,
    ...(Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? []),
    `-----END ${label}-----`,
  ].join('\n')

/** Makes a fresh key pair (what `bun run keygen` prints). */
export async function makeTestKey(alg: AsymmetricAlgorithm = 'EdDSA'): Promise<TestKey> {
  const params = alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' }
  const pair = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
  const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
  const published = await publicJwkOf(privateJwk, alg)
  return {
    alg,
    pem: pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', pair.privateKey)),
    privateJwk,
    publicJwk: {
      kty: published.kty,
      crv: published.crv,
      x: published.x,
      ...(published.y ? { y: published.y } : {}),
    },
    publicPem: pem('PUBLIC KEY', await crypto.subtle.exportKey('spki', pair.publicKey)),
    kid: published.kid,
  }
}
