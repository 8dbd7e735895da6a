import { createHmac } from 'node:crypto'
import { open, seal } from './crypto.js'
import { allSessionsKey, keysOfTag, lookupIndexKey, sessionRef } from './keys.js'
import type { SessionStore } from './store.js'

/*
 * The session indexes: which sessions exist, and whose they are, without the store holding an
 * email, a session id or a token in plaintext.
 *
 * - Every session has a tag (SHA-256 of its id, keys.ts); every key of the session derives from
 *   it. An index is a sorted set of tags scored by the session's absolute expiry (epoch ms).
 * - One index lists every session (`{sessions}:index`); one per person (`{email:H}:index`), per
 *   provider subject (`{sub:H}:index`) and per provider session (`{sid:H}:index`), where H is
 *   HMAC-SHA-256 of the value under the index key. Without the key, a dump cannot tell whose an
 *   index is, nor test a guessed email against it.
 * - What the listing shows (email, created, expires, client address and user agent at sign-in,
 *   the provider's subject and session id) is one value per session (`{tag}:info`), sealed with
 *   the index key (AES-256-GCM, bound to its key name), living exactly as long as the session may.
 * - Entries are dropped by score at every write and read of an index, and an index expires just
 *   after its latest entry, so sessions that end by themselves leave nothing behind.
 *
 * The index key is derived from the session cookie secrets (HMAC of a fixed label under each
 * secret). The first secret's key writes; every secret's key is tried when looking up and
 * opening, so rotating the cookie secrets keeps every session findable until it expires.
 */

/** What the listing knows of a session, sealed in the store. */
export interface SessionInfo {
  readonly v: 1
  readonly email: string
  readonly sub: string
  /** The provider's session id (`sid` of the id token), for back-channel logout. */
  readonly providerSid: string | null
  readonly createdAt: number
  readonly expiresAt: number
  /** Client address and user agent of the sign-in request. */
  readonly client: string | null
  readonly userAgent: string | null
}

/** Where a session came from, given at its creation. */
export interface SessionOrigin {
  readonly client?: string | null
  readonly userAgent?: string | null
  readonly providerSid?: string | null
}

/** A live session as listed. */
export interface ListedSession extends SessionInfo {
  /** The short reference: first 16 hex characters of SHA-256 of the session id. */
  readonly ref: string
  readonly tag: string
  /** About when the session was last used (within the idle-timer refresh interval). */
  readonly lastSeenAt: number
}

/** Which sessions an operation is about. */
export type SessionSelector =
  | { readonly email: string }
  | { readonly ref: string }
  | { readonly all: true }
  | { readonly sub: string }
  /** A provider session; with `sub`, only when it is that subject's too. */
  | { readonly providerSid: string, readonly sub?: string }

export interface SessionIndex {
  /** Indexes a new session; rejects (store unavailable) when it could not. */
  add (tag: string, info: SessionInfo): Promise<void>
  /** Forgets a session: its info and its index entries. */
  remove (tag: string): Promise<void>
  /** The live sessions the selector names, oldest first. */
  find (selector: SessionSelector): Promise<ListedSession[]>
}

export interface SessionIndexOptions {
  readonly store: SessionStore
  readonly keyPrefix: string
  /** The session cookie secrets; the index key derives from them (first one writes). */
  readonly secrets: readonly string[]
  readonly idleTimeoutMs: number
  readonly now?: () => number
}

const LABEL = 'portcullis-session-index\0'
/** Reads issued at once while listing many sessions. */
const BATCH = 200

/** The index keys derived from the cookie secrets, first one first. */
export function indexKeys (secrets: readonly string[]): Buffer[] {
  return secrets.map((s) => createHmac('sha256', Buffer.from(s, 'utf8')).update(LABEL).digest())
}

/** Emails compare without case, as the policy compares them. */
function normalise (kind: 'email' | 'sub' | 'sid', value: string): string {
  return kind === 'email' ? value.trim().toLowerCase() : value
}

function lookupHash (key: Buffer, kind: 'email' | 'sub' | 'sid', value: string): string {
  return createHmac('sha256', key).update(`${kind}\0${normalise(kind, value)}`).digest('base64url').slice(0, 22)
}

function isInfo (value: unknown): value is SessionInfo {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  return r.v === 1 && typeof r.email === 'string' && typeof r.sub === 'string' &&
    Number.isFinite(r.createdAt) && Number.isFinite(r.expiresAt)
}

/** Whether the opened info is what the selector asked for (an index hash only narrows it down). */
function matches (selector: SessionSelector, info: SessionInfo): boolean {
  if ('email' in selector) return normalise('email', info.email) === normalise('email', selector.email)
  if ('providerSid' in selector) return info.providerSid === selector.providerSid && (selector.sub === undefined || info.sub === selector.sub)
  if ('sub' in selector) return info.sub === selector.sub
  return true
}

/** Runs `fn` over `items` at most {@link BATCH} at a time, keeping the order. */
async function batched<T, R> (items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += BATCH) out.push(...await Promise.all(items.slice(i, i + BATCH).map(fn)))
  return out
}

/** Creates the {@link SessionIndex} over a store. */
export function createSessionIndex (options: SessionIndexOptions): SessionIndex {
  const { store, keyPrefix: prefix } = options
  const now = options.now ?? Date.now
  const keys = indexKeys(options.secrets)
  if (keys.length === 0) throw new RangeError('createSessionIndex: at least one secret is required')

  /** Every index key a value may be filed under (one per secret). */
  function lookupKeys (kind: 'email' | 'sub' | 'sid', value: string): string[] {
    return [...new Set(keys.map((k) => lookupIndexKey(prefix, kind, lookupHash(k, kind, value))))]
  }

  /** The person, subject and provider-session indexes a session is filed under (writing key). */
  function ownIndexes (info: SessionInfo): string[] {
    const key = keys[0]!
    const out = [lookupIndexKey(prefix, 'email', lookupHash(key, 'email', info.email)), lookupIndexKey(prefix, 'sub', lookupHash(key, 'sub', info.sub))]
    if (info.providerSid !== null) out.push(lookupIndexKey(prefix, 'sid', lookupHash(key, 'sid', info.providerSid)))
    return out
  }

  async function readInfo (tag: string): Promise<SessionInfo | null> {
    const name = keysOfTag(prefix, tag).info
    const sealed = await store.get(name)
    if (sealed === null) return null
    for (const key of keys) {
      const plain = open(key, name, sealed)
      if (plain === null) continue
      try {
        const value: unknown = JSON.parse(plain.toString('utf8'))
        return isInfo(value) ? value : null
      } catch {
        return null
      }
    }
    return null
  }

  /** Tags in the named indexes (deduplicated); the `ref` selector scans the index of everything. */
  async function candidates (selector: SessionSelector): Promise<string[]> {
    const t = now()
    let names: string[]
    if ('email' in selector) names = lookupKeys('email', selector.email)
    else if ('providerSid' in selector) names = lookupKeys('sid', selector.providerSid)
    else if ('sub' in selector) names = lookupKeys('sub', selector.sub)
    else names = [allSessionsKey(prefix)]
    const tags = new Set<string>()
    for (const name of names) for (const { member } of await store.indexRange(name, t)) tags.add(member)
    if ('ref' in selector) return [...tags].filter((tag) => sessionRef(tag) === selector.ref.toLowerCase())
    return [...tags]
  }

  async function remove (tag: string): Promise<void> {
    const info = await readInfo(tag)
    await store.delete(keysOfTag(prefix, tag).info)
    await store.indexRemove(allSessionsKey(prefix), [tag])
    if (info === null) return
    // Every secret's index, not only the writing one: the session may predate a rotation.
    const names = [...lookupKeys('email', info.email), ...lookupKeys('sub', info.sub), ...(info.providerSid === null ? [] : lookupKeys('sid', info.providerSid))]
    await Promise.all(names.map((name) => store.indexRemove(name, [tag])))
  }

  return {
    async add (tag, info) {
      const t = now()
      if (info.expiresAt <= t) return
      const name = keysOfTag(prefix, tag).info
      await Promise.all([
        store.set(name, seal(keys[0]!, name, Buffer.from(JSON.stringify(info), 'utf8')), info.expiresAt - t),
        ...[allSessionsKey(prefix), ...ownIndexes(info)].map((index) => store.indexAdd(index, tag, info.expiresAt, t))
      ])
    },
    remove,
    async find (selector) {
      const tags = await candidates(selector)
      const found = await batched(tags, async (tag): Promise<ListedSession | null> => {
        const { session } = keysOfTag(prefix, tag)
        const [info, ttl] = await Promise.all([readInfo(tag), store.ttl(session)])
        const t = now()
        if (ttl < 0 || info === null || info.expiresAt <= t || !matches(selector, info)) {
          // Ended by idle timeout or elsewhere: tidy up what is left of it.
          await remove(tag).catch(() => {})
          return null
        }
        const lastSeenAt = Math.max(info.createdAt, Math.min(t, t + ttl - options.idleTimeoutMs))
        return { ...info, ref: sessionRef(tag), tag, lastSeenAt }
      })
      return found.filter((s): s is ListedSession => s !== null).sort((a, b) => a.createdAt - b.createdAt)
    }
  }
}
