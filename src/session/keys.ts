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
  /** What the session listing shows, sealed with the index key (session/session-index.ts). */
  readonly info: string
}

/** base64url of SHA-256, cut to 22 characters (132 bits): short, one-way, and `{`/`}`-free. */
function digest (value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22)
}

/** The keys of the session `sid`, sharing one hash slot and not revealing `sid`. */
export function sessionKeys (prefix: string, sid: string): SessionKeys {
  return keysOfTag(prefix, sessionTag(sid))
}

/**
 * The one-way name of a session in the store: SHA-256 of the id, base64url, 22 characters. The
 * session indexes list sessions by it, and every key of the session derives from it.
 */
export function sessionTag (sid: string): string {
  return digest(sid)
}

/** The keys of the session whose tag is `tag` (what the indexes hold). */
export function keysOfTag (prefix: string, tag: string): SessionKeys {
  const slot = `{${tag}}`
  return { session: `${prefix}${slot}:session`, lock: `${prefix}${slot}:lock`, info: `${prefix}${slot}:info` }
}

/**
 * The short reference of a session shown to operators and in audit lines: the first 16 hex
 * characters of SHA-256 of the session id (the first 8 bytes of its tag).
 */
export function sessionRef (tag: string): string {
  return Buffer.from(tag, 'base64url').subarray(0, 8).toString('hex')
}

/** The tag back from a store key made by {@link keysOfTag}, or null. */
export function tagOfKey (prefix: string, key: string): string | null {
  const m = /^\{([A-Za-z0-9_-]{22})\}:[a-z]+$/.exec(key.startsWith(prefix) ? key.slice(prefix.length) : '')
  return m === null ? null : m[1]!
}

/** The key of a pending sign-in, named by a hash of its `state` so a key listing cannot replay it. */
export function loginKey (prefix: string, state: string): string {
  return `${prefix}login:${digest(state)}`
}

/**
 * The index of every session (members: session tags, scores: absolute expiry). One key, so one
 * hash slot: listing everything is one read.
 */
export function allSessionsKey (prefix: string): string {
  return `${prefix}{sessions}:index`
}

/**
 * The index of the sessions of one person (`email`), one provider subject (`sub`) or one provider
 * session (`sid`). `hash` is a keyed hash of the value (session-index.ts), never the value.
 */
export function lookupIndexKey (prefix: string, kind: 'email' | 'sub' | 'sid', hash: string): string {
  return `${prefix}{${kind}:${hash}}:index`
}

/** The single-use marker of a back-channel logout token's `jti` (a hash of it). */
export function logoutTokenKey (prefix: string, jti: string): string {
  return `${prefix}logout-jti:${digest(jti)}`
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
