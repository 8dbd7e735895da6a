import { timingSafeEqual } from 'node:crypto'
import type { SessionCacheConfig } from '../config/types.js'
import type { SessionEvents } from './events.js'
import type { Ticket } from './ticket.js'
import type { SessionRecord } from '../domain/types.js'
import { BoundedMap } from '../util/bounded-map.js'

/*
 * The in-process cache of decrypted sessions: a signed-in request whose session is cached costs
 * no store round trip and no decryption.
 *
 * The hazard is serving a session that has ended: signed out, refresh grant revoked, replaced by
 * a refresh elsewhere, past its lifetime or idle timeout. The rules that prevent it:
 * - Every process announces refreshes and ends on the store's pub/sub (session/events.ts) and
 *   every process drops the entry when it hears one, its own at once.
 * - While that channel is down, messages may be lost, so the cache empties itself and serves
 *   nothing until the channel is subscribed again (fail closed: every request reads the store).
 * - A store read that began before an invalidation must not put the old record back when it
 *   completes after it. `begin()` hands out the current invalidation count; `set()` refuses a
 *   record read before the last invalidation of that session (remembered for the most recent
 *   `maxTombstones` sessions; older ones raise a floor below which every read is refused), and
 *   before the last change of the channel's state.
 * - An entry lives at most `ttlMs`, never past the session's absolute expiry, and never past the
 *   moment the store would forget the session (its time to live when read: the idle timeout).
 * - Entries are keyed by store key, but a hit also requires the ticket's encryption key to match
 *   the one that opened the record, so the cache never grants what decryption would refuse.
 */

export interface SessionCache {
  /** The cached record of the session with store key `id`, or undefined (a miss). */
  get (id: string, ticket: Ticket): SessionRecord | undefined
  /** Call before reading the store for a miss; pass the result to {@link SessionCache.set}. */
  begin (): number
  /**
   * Caches `record`, read from the store (which would keep it `storeTtlMs` longer), unless the
   * session was invalidated since `token` was drawn or the event channel is down.
   */
  set (id: string, ticket: Ticket, record: SessionRecord, storeTtlMs: number, token?: number): void
  /** Drops the session everywhere in this process and refuses reads of it that are in flight. */
  invalidate (id: string): void
  /** Whether invalidations are being delivered; false empties the cache and stops it serving. */
  setLive (live: boolean): void
  readonly size: number
  readonly maxEntries: number
  readonly stats: { hits: number, misses: number, invalidations: number }
}

export interface SessionCacheOptions {
  readonly ttlMs: number
  readonly maxEntries: number
  readonly now?: () => number
  /** Invalidations remembered per session for reads in flight. */
  readonly maxTombstones?: number
}

interface Entry {
  readonly key: Buffer
  readonly record: SessionRecord
  readonly until: number
}

/** Creates a {@link SessionCache}. It starts not live: call `setLive(true)` once events flow. */
export function createSessionCache (options: SessionCacheOptions): SessionCache {
  const now = options.now ?? Date.now
  const maxTombstones = options.maxTombstones ?? 10_000
  const entries = new BoundedMap<string, Entry>(options.maxEntries)
  // Forgetting a tombstone raises the floor past it: a read begun before that end is refused.
  const tombstones = new BoundedMap<string, number>(maxTombstones, (_id, oldestEpoch) => { floor = Math.max(floor, oldestEpoch + 1) })
  const stats = { hits: 0, misses: 0, invalidations: 0 }
  let epoch = 0
  let floor = 0
  let live = false

  return {
    get (id, ticket) {
      const entry = live ? entries.get(id) : undefined
      if (entry === undefined) {
        stats.misses++
        return undefined
      }
      if (now() >= entry.until || !timingSafeEqual(entry.key, ticket.key)) {
        entries.delete(id)
        stats.misses++
        return undefined
      }
      // Least recently used order: a hit moves the entry to the end.
      entries.set(id, entry)
      stats.hits++
      return entry.record
    },
    begin: () => epoch,
    set (id, ticket, record, storeTtlMs, token) {
      if (!live) return
      if (token !== undefined && (token < floor || (tombstones.get(id) ?? -1) >= token)) return
      const t = now()
      const until = Math.min(t + options.ttlMs, record.expiresAt, t + storeTtlMs)
      if (until <= t || ticket.key.length !== 32) return
      entries.set(id, { key: Buffer.from(ticket.key), record, until })
    },
    invalidate (id) {
      stats.invalidations++
      entries.delete(id)
      tombstones.set(id, epoch)
      epoch++
    },
    setLive (next) {
      // Either way, reads begun before the change may predate a lost message: refuse them.
      epoch++
      floor = epoch
      tombstones.clear()
      entries.clear()
      live = next
    },
    get size () { return entries.size },
    maxEntries: options.maxEntries,
    stats
  }
}

/**
 * Builds the cache from its config and keeps it in step with the session events: refreshed and
 * ended sessions are dropped, and the cache serves only while events are delivered. Returns
 * undefined when the cache is disabled.
 */
export function connectSessionCache (config: SessionCacheConfig, events: SessionEvents, now?: () => number): SessionCache | undefined {
  if (!config.enabled) return undefined
  const cache = createSessionCache({ ttlMs: config.ttlMs, maxEntries: config.maxEntries, ...(now === undefined ? {} : { now }) })
  events.onEvent((kind, id) => { if (kind !== 'released') cache.invalidate(id) })
  events.onDelivery((live) => cache.setLive(live))
  if (events.live()) cache.setLive(true)
  return cache
}
