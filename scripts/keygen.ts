/**
 * `bun run keygen [EdDSA|ES256] [--jwk]`: makes a signing key pair with Web Crypto and prints the
 * private key for JWT_PRIVATE_KEY on stdout (PKCS#8 PEM, or a JWK with --jwk), and on stderr its
 * `kid` and public JWK (what JWT_PUBLIC_KEYS takes while the key is the next or a previous one).
 */
import { type AsymmetricAlgorithm, publicJwkOf } from '../src/auth/keys'

const args = process.argv.slice(2)
const alg = (args.find((a) => !a.startsWith('--')) ?? 'EdDSA') as AsymmetricAlgorithm
if (alg !== 'EdDSA' && alg !== 'ES256') {
  console.error('usage: bun run keygen [EdDSA|ES256] [--jwk]')
  process.exit(2)
}
const params = alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' }
const pair = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
const publicJwk = await publicJwkOf(privateJwk, alg)
if (args.includes('--jwk')) {
  const { kty, crv, x, y, d } = privateJwk
  console.log(JSON.stringify({ kty, crv, x, ...(y === undefined ? {} : { y }), d }))
} else {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey)).toString(
    'base64',
  )
  const lines = der.match(/.{1,64}/g) ?? []
  console.log(['-----BEGIN PRIVATE KEY-----', ...lines, '-----END PRIVATE KEY-----'].join('\n'))
}
console.error(`kid: ${publicJwk.kid}`)
console.error(`public JWK: ${JSON.stringify(publicJwk)}`)
