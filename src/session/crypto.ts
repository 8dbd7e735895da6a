import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/*
 * Authenticated encryption for everything the gateway puts in the store.
 *
 * Layout of a sealed value: 1 version byte | 12-byte IV | 16-byte GCM tag | ciphertext.
 * The version byte lets a later format be introduced without guessing; the additional
 * authenticated data (AAD) binds a value to where it is stored, so a value copied under another
 * key does not open.
 */

const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES

/**
 * Encrypts `plaintext` with AES-256-GCM under `key` (32 bytes), binding it to `aad`. A fresh random
 * IV is drawn for every call, so sealing the same plaintext twice gives different bytes.
 */
export function seal (key: Buffer, aad: string, plaintext: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError(`seal: key must be ${KEY_BYTES} bytes`)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body])
}

/**
 * Decrypts a value made by {@link seal}. Returns null, never throws, when the value was altered,
 * was sealed under another key or AAD, has an unknown version, or is too short: to a caller every
 * such value is simply "not a session".
 */
export function open (key: Buffer, aad: string, sealed: Buffer): Buffer | null {
  if (key.length !== KEY_BYTES || sealed.length < HEADER_BYTES || sealed[0] !== VERSION) return null
  try {
    const iv = sealed.subarray(1, 1 + IV_BYTES)
    const tag = sealed.subarray(1 + IV_BYTES, HEADER_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()])
  } catch {
    return null
  }
}
