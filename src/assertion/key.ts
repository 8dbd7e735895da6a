import { createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, type JsonWebKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { gatewayError } from '../errors.js'
import { open, seal } from '../session/crypto.js'

/*
 * Assertion signing keys: EC P-256 (ES256), named by their RFC 7638 thumbprint so every process
 * that holds the same key gives it the same `kid` without asking anyone. A private key is only
 * ever written to the store sealed (AES-256-GCM) under a key derived from the cookie secrets,
 * which the store never sees: a dump of the store is not enough to forge assertions.
 */

/** A key the gateway can sign with. */
export interface SigningKey {
  readonly kid: string
  readonly privateKey: KeyObject
  /** The public half as published in the JWKS (`kid`, `alg`, `use` included). */
  readonly publicJwk: JWK
}

const ALG = 'ES256'

/** Whether a key object is an EC key on P-256 (the only curve ES256 allows). */
function isP256 (key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
}

/** The public JWK of `privateKey` with its thumbprint as `kid`. */
async function describe (privateKey: KeyObject): Promise<SigningKey> {
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' })
  const base = { kty, crv, x, y } as JWK
  const kid = await calculateJwkThumbprint(base, 'sha256')
  return { kid, privateKey, publicJwk: Object.freeze({ ...base, kid, alg: ALG, use: 'sig' }) }
}

/**
 * Loads the signing key from `identity.assertion.key_file`: a PEM EC P-256 private key, either
 * PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`). Anything else (unreadable,
 * not PEM, encrypted, RSA, another curve, a public key) is a start-up error naming the key, so a
 * gateway never starts with a key it cannot sign with.
 */
export async function loadKeyFile (path: string): Promise<SigningKey> {
  const problem = (why: string, cause?: unknown): Error => gatewayError('PCS_CONFIG_INVALID', {
    message: `identity.assertion.key_file: ${path} ${why}`,
    ...(cause === undefined ? {} : { cause })
  })
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw problem(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err)
  }
  let key: KeyObject
  try {
    key = createPrivateKey({ key: text, format: 'pem' })
  } catch (err) {
    throw problem('is not a PEM private key (expected an unencrypted EC P-256 key)', err)
  }
  if (!isP256(key)) throw problem('is not an EC P-256 private key (ES256 needs the P-256 curve)')
  return await describe(key)
}

/** A fresh random P-256 key. */
export async function generateSigningKey (): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return await describe(privateKey)
}

/**
 * Seals and opens private keys for the store. The sealing key is derived (HKDF-SHA256) from the
 * cookie secrets every replica shares: the first one seals, every one opens, following the
 * cookie secrets' own rotation. The `kid` is bound as additional data, so a sealed key cannot be
 * passed off under another key's name.
 */
export interface KeySealer {
  seal (key: SigningKey): string
  /** The key, or null when no secret opens it or it does not match its `kid`. */
  open (kid: string, sealed: string): Promise<SigningKey | null>
}

/** Creates the {@link KeySealer} for the configured cookie secrets. */
export function createKeySealer (secrets: readonly string[]): KeySealer {
  const keys = secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, 'portcullis', 'assertion-signing-key', 32)))
  if (keys.length === 0) throw new RangeError('createKeySealer: at least one secret is required')
  const aad = (kid: string): string => `portcullis-assertion-key\0${kid}`
  return {
    seal (key) {
      const jwk = key.privateKey.export({ format: 'jwk' })
      return seal(keys[0]!, aad(key.kid), Buffer.from(JSON.stringify(jwk), 'utf8')).toString('base64url')
    },
    async open (kid, sealed) {
      const bytes = Buffer.from(sealed, 'base64url')
      for (const k of keys) {
        const plain = open(k, aad(kid), bytes)
        if (plain === null) continue
        try {
          const privateKey = createPrivateKey({ key: JSON.parse(plain.toString('utf8')) as JsonWebKey, format: 'jwk' })
          if (!isP256(privateKey)) return null
          const key = await describe(privateKey)
          return key.kid === kid ? key : null
        } catch {
          return null
        }
      }
      return null
    }
  }
}
