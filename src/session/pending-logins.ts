/**
 * Pending sign-ins in the store: one record per started sign-in, keyed by its `state`, single use,
 * with the login timeout as TTL. The landing path is kept in clear (a callback that cannot be
 * used restarts the sign-in for it); the rest of the {@link PendingLogin} (nonce, PKCE verifier)
 * is sealed with a key derived from the browser's binding value, so a callback replayed from
 * another browser cannot open it.
 */
import { createHash } from 'node:crypto'
import type { PendingLogin } from '../oidc/flows.js'
import { open, seal } from './crypto.js'
import { loginKey } from './keys.js'
import type { SessionStore } from './store.js'

/** What the store holds per pending sign-in. */
export interface StoredLogin {
  readonly rd: string
  readonly retried: boolean
  /** When this sign-in started (ms): a session created since then was made by another tab. */
  readonly startedAt?: number
  /** The {@link PendingLogin}, sealed with a key derived from the browser's binding value. */
  readonly sealed: string
}

export interface PendingLogins {
  /** Stores a started sign-in bound to `binding`; returns its store key. */
  save (login: PendingLogin, binding: string, startedAt: number, ttlMs: number): Promise<string>
  /**
   * Takes (single use) the pending sign-in of `state`: null when unknown (expired, used, or
   * unreadable), `login: null` when `binding` does not open it.
   */
  take (state: string, binding: string | null): Promise<{ readonly key: string, readonly stored: StoredLogin, readonly login: PendingLogin | null } | { readonly key: string, readonly stored: null, readonly login: null }>
}

function bindingKey (binding: string): Buffer {
  return createHash('sha256').update('portcullis login binding\0').update(binding).digest()
}

export function createPendingLogins (options: { readonly store: SessionStore, readonly keyPrefix: string }): PendingLogins {
  const { store, keyPrefix } = options
  return {
    async save (login, binding, startedAt, ttlMs) {
      const key = loginKey(keyPrefix, login.state)
      const stored: StoredLogin = {
        rd: login.rd,
        retried: login.retried === true,
        startedAt,
        sealed: seal(bindingKey(binding), key, Buffer.from(JSON.stringify(login))).toString('base64url')
      }
      await store.set(key, Buffer.from(JSON.stringify(stored)), ttlMs)
      return key
    },
    async take (state, binding) {
      const key = loginKey(keyPrefix, state)
      // take(): single use, so a replayed callback finds nothing.
      const raw = await store.take(key)
      const none = { key, stored: null, login: null } as const
      if (raw === null) return none
      let stored: StoredLogin
      try {
        stored = JSON.parse(raw.toString('utf8')) as StoredLogin
      } catch {
        return none
      }
      if (typeof stored.rd !== 'string' || typeof stored.sealed !== 'string') return none
      const plain = binding === null ? null : open(bindingKey(binding), key, Buffer.from(stored.sealed, 'base64url'))
      return { key, stored, login: plain === null ? null : JSON.parse(plain.toString('utf8')) as PendingLogin }
    }
  }
}
