/*
 * Bounds on started, unfinished sign-ins. Each `/start` writes a record to the store that lives
 * for `session.login_timeout`; without a bound a client could fill the store with them as fast
 * as it can send requests. This keeps, per process, the keys of the records it wrote in the
 * order written (all share one TTL, so that is also the order they expire), at most `perClient`
 * per client address and `total` in all: past either bound the oldest record is deleted from the
 * store. A user signing in from a few tabs stays well below the per-client bound; a flood from
 * one address only ever replaces its own records. A record finished on another replica stays
 * listed here until it expires or is pushed out; deleting a key already taken is harmless.
 */

export interface PendingSignInsOptions {
  readonly perClient: number
  readonly total: number
  /** How long a record lives in the store (`session.login_timeout`). */
  readonly ttlMs: number
  readonly now?: () => number
}

export interface PendingSignIns {
  /** Notes a record written for `client`; returns the keys of records to delete now. */
  started (client: string, key: string): string[]
  /** Forgets a record that was taken (its sign-in finished or failed). */
  finished (key: string): void
  /** Records listed (tests). */
  size (): number
}

/** Creates the bookkeeping for {@link PendingSignIns}. */
export function createPendingSignIns (options: PendingSignInsOptions): PendingSignIns {
  const now = options.now ?? Date.now
  const byKey = new Map<string, { client: string, expiresAt: number }>()
  const byClient = new Map<string, string[]>()

  function drop (key: string): void {
    const entry = byKey.get(key)
    if (entry === undefined) return
    byKey.delete(key)
    const keys = byClient.get(entry.client)
    if (keys === undefined) return
    const i = keys.indexOf(key)
    if (i !== -1) keys.splice(i, 1)
    if (keys.length === 0) byClient.delete(entry.client)
  }

  function started (client: string, key: string): string[] {
    const t = now()
    for (const [k, entry] of byKey) {
      if (entry.expiresAt > t) break
      drop(k)
    }
    const evicted: string[] = []
    drop(key)
    byKey.set(key, { client, expiresAt: t + options.ttlMs })
    let keys = byClient.get(client)
    if (keys === undefined) {
      keys = []
      byClient.set(client, keys)
    }
    keys.push(key)
    while (keys.length > options.perClient) {
      const oldest = keys[0] as string
      drop(oldest)
      evicted.push(oldest)
    }
    while (byKey.size > options.total) {
      const oldest = byKey.keys().next().value as string
      drop(oldest)
      evicted.push(oldest)
    }
    return evicted
  }

  return { started, finished: drop, size: () => byKey.size }
}
