import { createHash } from 'node:crypto'

/*
 * Store key names. Every name starts with the configured prefix. A session's keys carry a Redis
 * Cluster hash tag (`{...}`) so they live in one hash slot, which the lock scripts need: they
 * read the lock and write the session in one atomic step. The tag is a hash of the session id,
 * so a key listing reveals nothing that would let anyone rebuild a cookie.
 */

/** The store keys of one session. */
export interface SessionKeys {
  /** The encrypted session record. */
  readonly session: string
  /** The refresh lock; its fencing counter is `${lock}:fence`, in the same hash slot. */
  readonly lock: string
}

/** base64url of SHA-256, cut to 22 characters (132 bits): short, one-way, and `{`/`}`-free. */
function digest (value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22)
}

/** The keys of the session `sid`, sharing one hash slot and not revealing `sid`. */
export function sessionKeys (prefix: string, sid: string): SessionKeys {
  const tag = `{${digest(sid)}}`
  return { session: `${prefix}${tag}:session`, lock: `${prefix}${tag}:lock` }
}

/** The key of a pending sign-in, named by a hash of its `state` so a key listing cannot replay it. */
export function loginKey (prefix: string, state: string): string {
  return `${prefix}login:${digest(state)}`
}

/** The pub/sub channel of session events (refreshed, ended, released). */
export function eventsChannel (prefix: string): string {
  return `${prefix}events`
}

/** The store keys of the assertion keyring, shared by every gateway process. */
export interface KeyringKeys {
  /** The keyring record: every published key, and the sealed private part of generated ones. */
  readonly ring: string
  /** The lock its updates take; in the ring's hash slot, as `setIfLockHeld` needs. */
  readonly lock: string
}

/** The keys of the assertion signing keyring. */
export function keyringKeys (prefix: string): KeyringKeys {
  return { ring: `${prefix}{signing-keys}:ring`, lock: `${prefix}{signing-keys}:lock` }
}
