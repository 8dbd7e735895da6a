import { gatewayError, isGatewayError } from '../errors.js'
import type { SessionStore } from './store.js'
import { wrapStore } from './wrap-store.js'

/*
 * The store's circuit breaker: fail fast while the store is known to be unavailable.
 *
 * The hazard: with Redis stalled or gone, every store command waits its full command timeout
 * (1 s by default) before it fails. Every protected request then holds its socket and memory for
 * that long, on every request, for as long as the outage lasts; under load the waiting requests
 * pile up and a Redis outage becomes a gateway outage. The rules that prevent it:
 * - The breaker opens when the store is known to be down: the connection closed (the Redis store
 *   says so through `connection()`), or `failures` store calls in a row failed with
 *   PCS_STORE_UNAVAILABLE (timeouts, refused connections). Any success resets the count.
 * - While open, every store call rejects at once with PCS_STORE_UNAVAILABLE, without reaching
 *   the store: no command is queued or sent, so nothing waits and nothing piles up.
 * - While open, one probe (PING, bounded by the store's own command timeout) runs every
 *   `probeIntervalMs`, never two at a time; the first that succeeds closes the breaker, so
 *   service resumes within about a probe interval of the store coming back. A connection that
 *   becomes ready again triggers a probe at once.
 * - While closed, the same probe runs every `watchIntervalMs`: a stall is noticed even when no
 *   request touches the store, and the probe's failures count like any other.
 * Calls already in flight when the breaker opens are not cut; they end within their timeout.
 * Only store calls are refused: requests that need no store (public routes, `/ping`, sessions
 * the in-process cache may serve) never ask the breaker.
 */

export type BreakerState = 'closed' | 'open'

export interface StoreBreaker {
  /** The store to use: the wrapped store's behaviour while closed, an immediate rejection while open. */
  readonly store: SessionStore
  /** The current state. */
  state (): BreakerState
  /** True while open: callers that would only go on to the store can answer 503 at once. */
  isOpen (): boolean
  /** Reports the connection's state (false: it closed; true: it is ready again). */
  connection (up: boolean): void
}

export interface StoreBreakerOptions {
  /** Store calls that must fail in a row before the breaker opens. Default 3. */
  readonly failures?: number
  /** Time between recovery probes while open. Default 500 ms. */
  readonly probeIntervalMs?: number
  /** Time between watch probes while closed. Default 1 s. */
  readonly watchIntervalMs?: number
  /** Hears every change of state (metrics, log lines). */
  readonly onChange?: (state: BreakerState, reason: string) => void
}

/** Seconds a client refused by an open breaker is told to wait (`Retry-After`). */
export const breakerRetryAfterSeconds = 2

/**
 * Wraps `store` in a circuit breaker (see the rules above). `close()` of the returned store stops
 * the probes and closes the wrapped store.
 */
export function createStoreBreaker (inner: SessionStore, options: StoreBreakerOptions = {}): StoreBreaker {
  const threshold = options.failures ?? 3
  const probeIntervalMs = options.probeIntervalMs ?? 500
  const watchIntervalMs = options.watchIntervalMs ?? 1000
  let state: BreakerState = 'closed'
  let failed = 0
  let probing = false
  let closed = false
  let lastProbe = 0

  function change (next: BreakerState, reason: string): void {
    if (state === next || closed) return
    state = next
    failed = 0
    options.onChange?.(next, reason)
  }

  function success (): void {
    failed = 0
  }

  function failure (err: unknown): void {
    if (!isGatewayError(err) || err.code !== 'PCS_STORE_UNAVAILABLE') return
    failed++
    if (failed >= threshold) change('open', `${failed} store calls failed in a row`)
  }

  function probe (): void {
    if (probing || closed) return
    probing = true
    lastProbe = Date.now()
    inner.ping().then(() => {
      probing = false
      success()
      change('closed', 'the store answered a probe')
    }, (err: unknown) => {
      probing = false
      if (state === 'closed') failure(err)
    })
  }

  // One timer at the probe rate; while closed it probes only every watchIntervalMs.
  const timer = setInterval(() => {
    if (state === 'open' || Date.now() - lastProbe >= watchIntervalMs) probe()
  }, Math.min(probeIntervalMs, watchIntervalMs))
  timer.unref()

  function refused (): Error {
    return gatewayError('PCS_STORE_UNAVAILABLE', { details: { breaker: 'open' } })
  }

  const wrapped = wrapStore(inner, async (_operation, call) => {
    if (state === 'open') throw refused()
    try {
      const result = await call()
      success()
      return result
    } catch (err) {
      failure(err)
      throw err
    }
  }, async () => {
    closed = true
    clearInterval(timer)
    await inner.close()
  })

  return {
    store: wrapped,
    state: () => state,
    isOpen: () => state === 'open',
    connection (up) {
      if (up) probe()
      else change('open', 'the store connection closed')
    }
  }
}
