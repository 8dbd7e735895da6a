/**
 * The session store port: the narrow interface the rest of the gateway uses for every piece of
 * shared state (sessions, pending sign-ins, refresh locks, signing keys, invalidation events).
 * Redis and memory implement it; `test/session/store-contract.ts` runs the same tests on both.
 *
 * Values are opaque bytes: callers encrypt before they store. Keys are full keys; the
 * implementation adds nothing (callers build them with `keys.ts` so a session's keys share one
 * Redis Cluster hash slot). Every method rejects with a GatewayError `PCS_STORE_UNAVAILABLE`
 * (cause kept) when the backend cannot answer within its command timeout.
 */
export interface SessionStore {
  /** The value, or null when missing or expired. */
  get (key: string): Promise<Buffer | null>
  /**
   * The value and its remaining time to live in ms, in one round trip (the session cache needs
   * to know when the store would forget the session, so it never serves it longer), or null.
   */
  getWithTtl (key: string): Promise<{ readonly value: Buffer, readonly ttlMs: number } | null>
  /**
   * Stores the value with a time to live in milliseconds. Every TTL and lease must be > 0 (see
   * {@link checkTtl}); anything else rejects with a RangeError, not PCS_STORE_UNAVAILABLE.
   */
  set (key: string, value: Buffer, ttlMs: number): Promise<void>
  /** Stores only if the key does not exist. Returns true when stored. */
  setIfAbsent (key: string, value: Buffer, ttlMs: number): Promise<boolean>
  /** Atomically reads and deletes (single-use values such as pending sign-ins). */
  take (key: string): Promise<Buffer | null>
  /** Deletes; missing keys are not an error. */
  delete (key: string): Promise<void>
  /** Sets a new time to live. Returns false when the key does not exist. */
  expire (key: string, ttlMs: number): Promise<boolean>
  /** Remaining time to live in ms, or -1 when the key does not exist. */
  ttl (key: string): Promise<number>

  /**
   * Takes the lock `key` for `leaseMs` when free. Returns a fencing token (strictly increasing per
   * key across the store's lifetime; a positive safe integer, not necessarily consecutive) or null
   * when someone else holds it. Lock keys carry a Redis Cluster hash tag (`{...}`), as the names
   * from `sessionKeys` do, so the lock and its fencing counter share a hash slot.
   */
  acquireLock (key: string, leaseMs: number): Promise<number | null>
  /** Extends the lease when `token` still holds the lock. Returns false when it was lost. */
  renewLock (key: string, token: number, leaseMs: number): Promise<boolean>
  /** Releases the lock when `token` still holds it. */
  releaseLock (key: string, token: number): Promise<void>
  /**
   * Writes `value` under `key` only when `token` still holds `lockKey` (the fencing check), in
   * one atomic step. Returns false (and writes nothing) when the lock was lost meanwhile. `key`
   * and `lockKey` must share a Redis Cluster hash slot (as the names from `sessionKeys` do).
   */
  setIfLockHeld (key: string, value: Buffer, ttlMs: number, lockKey: string, token: number): Promise<boolean>

  /**
   * Adds `member` to the sorted-set index `key` with `score` (the epoch ms at which the entry
   * stops counting), or moves it there. In the same atomic step every member whose score is at or
   * below `now` is dropped, and the index is given a time to live reaching just past its latest
   * score, so an index whose sessions all expired disappears by itself (no unbounded growth).
   * `score` must be greater than `now` (else a RangeError).
   */
  indexAdd (key: string, member: string, score: number, now: number): Promise<void>
  /** Removes members from the index `key`; missing ones are not an error. */
  indexRemove (key: string, members: readonly string[]): Promise<void>
  /**
   * The members of the index `key` whose score is above `now`, with their scores, lowest first;
   * members at or below `now` are dropped in the same step. An empty list when the key is missing.
   */
  indexRange (key: string, now: number): Promise<Array<{ readonly member: string, readonly score: number }>>

  /** Publishes a message to every subscriber of `channel`, in every process sharing the store. */
  publish (channel: string, message: string): Promise<void>
  /**
   * Calls `handler` for each message on `channel`, always asynchronously (never inside
   * `publish`); resolves once the subscription is active. Returns a function that unsubscribes.
   * Messages published while the backend is unreachable are lost: subscribers must tolerate that.
   * Order is not guaranteed: on a Redis cluster two messages published through different nodes
   * can arrive in either order, so each message must mean the same whatever came before it.
   * `onState` hears when delivery stops (false: the connection dropped, messages may be lost from
   * now on) and when it is certain again (true: the channel is subscribed once more).
   */
  subscribe (channel: string, handler: (message: string) => void, onState?: (live: boolean) => void): Promise<() => Promise<void>>

  /** Resolves when the backend answers; rejects with PCS_STORE_UNAVAILABLE otherwise. */
  ping (): Promise<void>
  /** Closes connections; pending commands are rejected, and so is every later call. */
  close (): Promise<void>
}

/** How long past its latest score an index lives (clock skew between gateway and store). */
export const INDEX_GRACE_MS = 1000

/**
 * Validates a time to live or lease given to a store, rounding it up to whole milliseconds. A
 * value that is not positive is a caller bug, so it throws a RangeError rather than passing for a
 * store outage; both implementations use it so they refuse the same inputs.
 */
export function checkTtl (ttlMs: number, what = 'ttlMs'): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`${what} must be a positive number of milliseconds, got ${ttlMs}`)
  return Math.ceil(ttlMs)
}
