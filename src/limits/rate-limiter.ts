/*
 * A fixed-window counter per key (a client address), with a hard cap on how many keys it holds.
 *
 * The hazard is the limiter itself becoming the thing a flood exhausts: a counter per address
 * grows with every address a client can send from (IPv6 gives one many). So the map never holds
 * more than `maxKeys` entries. An entry is re-inserted whenever its window restarts, which keeps
 * the map in order of window start: the entry at the front is always the first to expire, and
 * making room costs O(1): that entry goes, expired or, when every window is live, the oldest one
 * (that client starts a fresh window: under an address flood the limiter forgets the oldest
 * clients rather than growing). Counts are per process: with N
 * replicas a client gets at most N times the limit (docs/security.md).
 */

export interface RateLimiterOptions {
  /** Requests allowed per key per window; 0 = no limit. */
  readonly limit: number
  readonly windowMs: number
  /** Most keys held at once. */
  readonly maxKeys: number
  readonly now?: () => number
}

export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false, readonly retryAfterMs: number }

export interface RateLimiter {
  /** Counts one request for `key` and says whether it is within the limit. */
  take (key: string): RateDecision
  /** How many keys are held (tests, metrics). */
  size (): number
}

interface Window {
  start: number
  count: number
}

const ALLOWED: RateDecision = Object.freeze({ allowed: true })

/** Creates a {@link RateLimiter}. */
export function createRateLimiter (options: RateLimiterOptions): RateLimiter {
  const { limit, windowMs, maxKeys } = options
  const now = options.now ?? Date.now
  const windows = new Map<string, Window>()

  function take (key: string): RateDecision {
    if (limit === 0) return ALLOWED
    const t = now()
    let w = windows.get(key)
    if (w === undefined || t - w.start >= windowMs) {
      if (w !== undefined) windows.delete(key)
      else if (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string)
      w = { start: t, count: 0 }
      windows.set(key, w)
    }
    w.count += 1
    if (w.count <= limit) return ALLOWED
    return { allowed: false, retryAfterMs: Math.max(1, w.start + windowMs - t) }
  }

  return { take, size: () => windows.size }
}
