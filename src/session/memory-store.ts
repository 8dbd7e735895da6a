import { gatewayError } from '../errors.js'
import { checkTtl, INDEX_GRACE_MS, type SessionStore } from './store.js'

/*
 * The single-process store: for trying the gateway out and for tests. It keeps the port's
 * semantics (TTLs, atomic take, fenced locks, asynchronous pub/sub) so code that works against it
 * behaves the same against Redis; it shares nothing between processes.
 */

interface Entry {
  readonly value: Buffer
  expiresAt: number
}

interface Index {
  readonly members: Map<string, number>
  expiresAt: number
  min: number
  max: number
}

export interface MemoryStoreOptions {
  /** Clock in epoch ms; tests pass a controllable one to exercise expiry without waiting. */
  readonly now?: () => number
  /** How often expired entries are swept (they are also dropped lazily on read). */
  readonly sweepIntervalMs?: number
}

/** Creates the in-process {@link SessionStore}. */
export function createMemoryStore (options: MemoryStoreOptions = {}): SessionStore {
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()
  // Sorted-set indexes live apart from values (as in Redis, a key is one or the other).
  const indexes = new Map<string, Index>()
  const channels = new Map<string, Set<{ handler: (message: string) => void }>>()
  // One counter for every lock: strictly increasing per key follows, and no per-key counter
  // outlives its lock.
  let fence = 0
  let closed = false

  const sweeper = setInterval(() => {
    const t = now()
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key)
    for (const [key, index] of indexes) if (index.expiresAt <= t) indexes.delete(key)
  }, options.sweepIntervalMs ?? 30_000)
  sweeper.unref()

  function live (key: string): Entry | undefined {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }

  /**
   * The live index at `key` with members at or below `floor` dropped, or undefined. `min` and
   * `max` bound the scores (a stale `min` is only ever too low, so it costs a pass, never a miss).
   */
  function liveIndex (key: string, floor: number): Index | undefined {
    const index = indexes.get(key)
    if (index === undefined) return undefined
    if (index.expiresAt <= now()) {
      indexes.delete(key)
      return undefined
    }
    if (index.min <= floor) {
      for (const [member, score] of index.members) if (score <= floor) index.members.delete(member)
      bounds(index)
    }
    if (index.members.size === 0) {
      indexes.delete(key)
      return undefined
    }
    return index
  }

  function bounds (index: Index): void {
    index.min = Number.POSITIVE_INFINITY
    index.max = Number.NEGATIVE_INFINITY
    for (const score of index.members.values()) {
      if (score < index.min) index.min = score
      if (score > index.max) index.max = score
    }
  }

  function put (key: string, value: Buffer, ttlMs: number): void {
    // Copied so a caller reusing its buffer cannot change what is stored, as with a network store.
    entries.set(key, { value: Buffer.from(value), expiresAt: now() + ttlMs })
  }

  function holds (lockKey: string, token: number): boolean {
    return live(lockKey)?.value.toString() === String(token)
  }

  /** Runs `fn` as the port requires: asynchronously, and refused once the store is closed. */
  async function op<T> (fn: () => T): Promise<T> {
    if (closed) throw gatewayError('PCS_STORE_UNAVAILABLE', { cause: new Error('the memory store is closed') })
    return fn()
  }

  return {
    get: (key) => op(() => {
      const entry = live(key)
      return entry === undefined ? null : Buffer.from(entry.value)
    }),
    getWithTtl: (key) => op(() => {
      const entry = live(key)
      return entry === undefined ? null : { value: Buffer.from(entry.value), ttlMs: entry.expiresAt - now() }
    }),
    set: (key, value, ttlMs) => op(() => { put(key, value, checkTtl(ttlMs)) }),
    setIfAbsent: (key, value, ttlMs) => op(() => {
      const ttl = checkTtl(ttlMs)
      if (live(key) !== undefined) return false
      put(key, value, ttl)
      return true
    }),
    take: (key) => op(() => {
      const entry = live(key)
      entries.delete(key)
      return entry === undefined ? null : entry.value
    }),
    delete: (key) => op(() => { entries.delete(key); indexes.delete(key) }),
    expire: (key, ttlMs) => op(() => {
      const ttl = checkTtl(ttlMs)
      const entry = live(key)
      if (entry === undefined) return false
      entry.expiresAt = now() + ttl
      return true
    }),
    ttl: (key) => op(() => {
      const entry = live(key)
      return entry === undefined ? -1 : entry.expiresAt - now()
    }),

    acquireLock: (key, leaseMs) => op(() => {
      const lease = checkTtl(leaseMs, 'leaseMs')
      if (live(key) !== undefined) return null
      fence += 1
      put(key, Buffer.from(String(fence)), lease)
      return fence
    }),
    renewLock: (key, token, leaseMs) => op(() => {
      const lease = checkTtl(leaseMs, 'leaseMs')
      if (!holds(key, token)) return false
      entries.get(key)!.expiresAt = now() + lease
      return true
    }),
    releaseLock: (key, token) => op(() => {
      if (holds(key, token)) entries.delete(key)
    }),
    setIfLockHeld: (key, value, ttlMs, lockKey, token) => op(() => {
      const ttl = checkTtl(ttlMs)
      if (!holds(lockKey, token)) return false
      put(key, value, ttl)
      return true
    }),

    indexAdd: (key, member, score, at) => op(() => {
      checkTtl(score - at, 'score - now')
      let index = liveIndex(key, at)
      if (index === undefined) indexes.set(key, index = { members: new Map(), expiresAt: 0, min: score, max: score })
      const previous = index.members.get(member)
      index.members.set(member, score)
      if (previous === index.max && score < previous) bounds(index)
      index.min = Math.min(index.min, score)
      index.max = Math.max(index.max, score)
      // As in Redis: the time to live is counted on the store's clock from the caller's distance.
      index.expiresAt = now() + index.max - at + INDEX_GRACE_MS
    }),
    indexRemove: (key, members) => op(() => {
      const index = indexes.get(key)
      if (index === undefined) return
      for (const member of members) index.members.delete(member)
      if (index.members.size === 0) indexes.delete(key)
    }),
    indexRange: (key, at) => op(() => {
      const index = liveIndex(key, at)
      if (index === undefined) return []
      return [...index.members].map(([member, score]) => ({ member, score })).sort((a, b) => a.score - b.score)
    }),

    publish: (channel, message) => op(() => {
      const subs = channels.get(channel)
      if (subs === undefined) return
      // Delivered later, as over a network: a publisher never runs subscriber code in its own
      // call stack, and a handler subscribing during delivery does not receive this message.
      for (const sub of [...subs]) {
        setImmediate(() => {
          if (!subs.has(sub)) return
          try { sub.handler(message) } catch { /* a failing handler must not stop the others */ }
        })
      }
    }),
    subscribe: (channel, handler) => op(() => {
      let subs = channels.get(channel)
      if (subs === undefined) {
        subs = new Set()
        channels.set(channel, subs)
      }
      // A fresh object per call: subscribing the same function twice gives two subscriptions.
      const sub = { handler }
      subs.add(sub)
      return async () => {
        subs.delete(sub)
        if (subs.size === 0 && channels.get(channel) === subs) channels.delete(channel)
      }
    }),

    ping: () => op(() => {}),
    close: async () => {
      closed = true
      clearInterval(sweeper)
      entries.clear()
      indexes.clear()
      channels.clear()
    }
  }
}
