import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * What the session cookie carries: the session id and the per-session encryption key. The key
 * never reaches the store, so a dump of the store alone cannot decrypt any session.
 */
export interface Ticket {
  /** 16 random bytes, base64url (22 characters). */
  readonly sid: string
  /** 32 random bytes: the AES-256-GCM key of this session's record. */
  readonly key: Buffer
}

export interface TicketCodec {
  /** The cookie value: `v1.<sid>.<key>.<mac>`, signed with the first secret. */
  encode (ticket: Ticket): string
  /** The ticket, or null for anything not signed by one of the secrets or not well formed. */
  decode (value: string | undefined): Ticket | null
}

const VERSION = 'v1'
const SID_BYTES = 16
const KEY_BYTES = 32
const MAX_LENGTH = 200
// The MAC input starts with a label so a signature made for another purpose with the same
// secret (the secrets may sign other cookies too) can never pass as a ticket signature.
const LABEL = 'portcullis-ticket\0'
const shape = /^v1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/

/** A fresh ticket: new random session id and new random key. Sign-in calls it every time. */
export function newTicket (): Ticket {
  return { sid: randomBytes(SID_BYTES).toString('base64url'), key: randomBytes(KEY_BYTES) }
}

/** Random bytes as base64url, for state, nonce, binding cookies and other single-use values. */
export function newOpaqueToken (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * The ticket cookie codec. `secrets[0]` signs; every secret verifies, so secrets rotate by
 * putting the new one first and dropping the old one once the cookies it signed have expired.
 * Decoding refuses, with null, anything oversized, of another version, with a field of the wrong
 * length or a non-canonical encoding, or with a MAC that no secret produced (compared in
 * constant time).
 */
export function createTicketCodec (secrets: readonly string[]): TicketCodec {
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) {
    throw new RangeError('createTicketCodec: at least one non-empty secret is required')
  }
  const keys = secrets.map((s) => Buffer.from(s, 'utf8'))

  function mac (key: Buffer, payload: string): Buffer {
    return createHmac('sha256', key).update(LABEL).update(payload).digest()
  }

  return {
    encode (ticket) {
      if (!isCanonical(ticket.sid, SID_BYTES) || ticket.key.length !== KEY_BYTES) {
        throw new RangeError('encode: not a ticket made by newTicket()')
      }
      const payload = `${VERSION}.${ticket.sid}.${ticket.key.toString('base64url')}`
      return `${payload}.${mac(keys[0]!, payload).toString('base64url')}`
    },
    decode (value) {
      if (typeof value !== 'string' || value.length > MAX_LENGTH) return null
      const m = shape.exec(value)
      if (m === null) return null
      const [, sid, key, sig] = m
      if (!isCanonical(sid, SID_BYTES) || !isCanonical(key, KEY_BYTES) || !isCanonical(sig, 32)) return null
      const given = Buffer.from(sig, 'base64url')
      const payload = value.slice(0, value.length - sig.length - 1)
      // Every secret is tried (no early exit) so timing does not tell which one matched.
      let ok = false
      for (const k of keys) ok = timingSafeEqual(mac(k, payload), given) || ok
      return ok ? { sid, key: Buffer.from(key, 'base64url') } : null
    }
  }
}

/** True when `text` is the one base64url spelling of exactly `bytes` bytes. */
function isCanonical (text: string, bytes: number): boolean {
  const decoded = Buffer.from(text, 'base64url')
  return decoded.length === bytes && decoded.toString('base64url') === text
}
