import { gatewayError } from '../errors.js'
import { open, seal } from './crypto.js'
import { sessionKeys, sessionTag, type SessionKeys } from './keys.js'
import type { SessionIndex, SessionOrigin } from './session-index.js'
import type { SessionStore } from './store.js'
import { newTicket, type Ticket } from './ticket.js'
import type { SessionRecord } from '../domain/types.js'

/**
 * The session repository: session records in, opaque bytes in the store out. Each record is
 * sealed (AES-256-GCM) with the key from its ticket, which only the user's cookie carries, and
 * bound by the AAD to its own store key, so a record copied under another session's key does not
 * open. A dump of the store therefore yields neither tokens nor emails nor session ids.
 */
export interface Sessions {
  /**
   * Stores a new session under a brand-new ticket (never an existing id: no fixation), and files
   * it in the session indexes (with `origin`, what the listing shows of the sign-in).
   */
  create (record: SessionRecord, ttlMs: number, origin?: SessionOrigin): Promise<Ticket>
  /** The record, or null when missing, undecryptable, malformed or past its absolute lifetime. */
  load (ticket: Ticket): Promise<SessionRecord | null>
  /**
   * Like `load`, with the session's remaining time to live in the store, read in the same round
   * trip (the session cache never keeps a record longer than the store would).
   */
  loadEntry (ticket: Ticket): Promise<{ readonly record: SessionRecord, readonly ttlMs: number } | null>
  /** Overwrites the record. */
  save (ticket: Ticket, record: SessionRecord, ttlMs: number): Promise<void>
  /**
   * Overwrites the record only while `lockToken` still holds the session's lock (see the store's
   * `setIfLockHeld`). Returns false, having written nothing, when the lock was lost.
   */
  saveFenced (ticket: Ticket, record: SessionRecord, ttlMs: number, lockToken: number): Promise<boolean>
  /** Deletes the session and its index entries; a missing one is not an error. */
  destroy (ticket: Ticket): Promise<void>
  /** Extends the time to live (idle timeout). Returns false when the session no longer exists. */
  touch (ticket: Ticket, ttlMs: number): Promise<boolean>
  /** The store keys of the session (record and refresh lock). */
  keys (ticket: Ticket): SessionKeys
}

export interface SessionsOptions {
  readonly store: SessionStore
  readonly keyPrefix: string
  /** The session indexes (listing, revocation, back-channel logout); none in some unit tests. */
  readonly index?: SessionIndex
  /** Clock in epoch ms, for the absolute-lifetime check on load. */
  readonly now?: () => number
}

/** How often `create` draws a new id if the first one is taken (2^-128 odds: it never is). */
const CREATE_ATTEMPTS = 3

/** Creates the {@link Sessions} repository over a store. */
export function createSessions (options: SessionsOptions): Sessions {
  const { store, keyPrefix, index } = options
  const now = options.now ?? Date.now

  function keys (ticket: Ticket): SessionKeys {
    return sessionKeys(keyPrefix, ticket.sid)
  }

  function sealRecord (ticket: Ticket, key: string, record: SessionRecord): Buffer {
    return seal(ticket.key, key, Buffer.from(JSON.stringify(record), 'utf8'))
  }

  function openRecord (ticket: Ticket, key: string, sealed: Buffer): SessionRecord | null {
    const plain = open(ticket.key, key, sealed)
    if (plain === null) return null
    let record: unknown
    try {
      record = JSON.parse(plain.toString('utf8'))
    } catch {
      return null
    }
    return isRecord(record) && record.expiresAt > now() ? record : null
  }

  return {
    async create (record, ttlMs, origin = {}) {
      for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        const ticket = newTicket(record.expiresAt)
        const key = keys(ticket).session
        // setIfAbsent, not set: even a colliding id must never take over someone's session.
        if (!await store.setIfAbsent(key, sealRecord(ticket, key, record), ttlMs)) continue
        try {
          await index?.add(sessionTag(ticket.sid), {
            v: 1,
            email: record.identity.email,
            sub: record.identity.sub,
            providerSid: origin.providerSid ?? null,
            createdAt: record.createdAt,
            expiresAt: record.expiresAt,
            client: origin.client ?? null,
            userAgent: origin.userAgent?.slice(0, 256) ?? null
          })
        } catch (err) {
          // A session no revocation could find must not exist.
          await store.delete(key).catch(() => {})
          throw err
        }
        return ticket
      }
      throw gatewayError('PCS_INTERNAL', { message: 'could not draw an unused session id' })
    },
    async load (ticket) {
      const key = keys(ticket).session
      const sealed = await store.get(key)
      return sealed === null ? null : openRecord(ticket, key, sealed)
    },
    async loadEntry (ticket) {
      const key = keys(ticket).session
      const entry = await store.getWithTtl(key)
      const record = entry === null ? null : openRecord(ticket, key, entry.value)
      return record === null ? null : { record, ttlMs: entry!.ttlMs }
    },
    async save (ticket, record, ttlMs) {
      const key = keys(ticket).session
      await store.set(key, sealRecord(ticket, key, record), ttlMs)
    },
    async saveFenced (ticket, record, ttlMs, lockToken) {
      const { session, lock } = keys(ticket)
      return await store.setIfLockHeld(session, sealRecord(ticket, session, record), ttlMs, lock, lockToken)
    },
    async destroy (ticket) {
      await store.delete(keys(ticket).session)
      await index?.remove(sessionTag(ticket.sid))
    },
    async touch (ticket, ttlMs) {
      return await store.expire(keys(ticket).session, ttlMs)
    },
    keys
  }
}

/** A structural check of what was decrypted: a record written by an older format is refused. */
function isRecord (value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  const identity = r.identity as Record<string, unknown> | null | undefined
  const tokens = r.tokens as Record<string, unknown> | null | undefined
  return r.v === 1 &&
    typeof identity === 'object' && identity !== null &&
    typeof identity.sub === 'string' && typeof identity.email === 'string' && Array.isArray(identity.groups) &&
    typeof tokens === 'object' && tokens !== null && typeof tokens.accessToken === 'string' &&
    Number.isFinite(r.createdAt) && Number.isFinite(r.expiresAt) &&
    Number.isFinite(r.generation) && Number.isFinite(r.refreshedAt)
}
