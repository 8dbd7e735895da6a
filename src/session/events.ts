import type { SessionStore } from './store.js'

/**
 * What happened to a session, announced to every gateway process sharing the store: `refreshed`
 * (a new record is stored), `ended` (it was deleted), `failed` (a refresh failed for a passing
 * reason; the record is unchanged), `released` (the refresh lock is free again).
 */
export type SessionEventKind = 'refreshed' | 'ended' | 'failed' | 'released'

export interface SessionEvents {
  /** Subscribes once; until it resolves, waiters fall back to their timeout. */
  start (): Promise<void>
  /** Announces an event about the session whose store key is `id`. Never throws. */
  publish (kind: SessionEventKind, id: string): Promise<void>
  /**
   * Resolves with the next event about `id`, or null after `timeoutMs` or once `signal` aborts.
   * Waiters are woken by the store's pub/sub, so a process waiting on another's refresh does not
   * poll the store in a loop. The waiter is registered synchronously: an event published after
   * this call returns is never missed, which lets a caller start waiting before it asks for the
   * lock and so close the gap between "the lock is taken" and "I am listening".
   */
  waitFor (id: string, timeoutMs: number, signal?: AbortSignal): Promise<SessionEventKind | null>
  /**
   * Calls `listener` for every event (used to invalidate in-process caches): at once for events
   * this process publishes, and when the store delivers them for everyone else's.
   */
  onEvent (listener: (kind: SessionEventKind, id: string) => void): void
  /**
   * Calls `listener` when delivery stops (false) or is certain again (true). Until `start`
   * resolves, and whenever the subscription is down, events from other processes may be missed.
   */
  onDelivery (listener: (live: boolean) => void): void
  /** True while events from every process are being delivered. */
  live (): boolean
  stop (): Promise<void>
}

const kinds = new Set<string>(['refreshed', 'ended', 'failed', 'released'])

/** The session event bus over the store's publish/subscribe. */
export function createSessionEvents (store: SessionStore, channel: string): SessionEvents {
  const waiters = new Map<string, Set<(kind: SessionEventKind | null) => void>>()
  const listeners: Array<(kind: SessionEventKind, id: string) => void> = []
  const deliveryListeners: Array<(live: boolean) => void> = []
  let unsubscribe: (() => Promise<void>) | null = null
  let delivering = false

  function setDelivery (live: boolean): void {
    delivering = live
    for (const listener of deliveryListeners) listener(live)
  }

  function dispatch (message: string): void {
    const colon = message.indexOf(':')
    const kind = message.slice(0, colon)
    const id = message.slice(colon + 1)
    if (colon < 0 || !kinds.has(kind)) return
    for (const listener of listeners) listener(kind as SessionEventKind, id)
    const set = waiters.get(id)
    if (set === undefined) return
    waiters.delete(id)
    for (const wake of set) wake(kind as SessionEventKind)
  }

  return {
    async start () {
      if (unsubscribe !== null) return
      unsubscribe = await store.subscribe(channel, dispatch, setDelivery)
      setDelivery(true)
    },
    async publish (kind, id) {
      // This process's own listeners hear it now, not a round trip later.
      for (const listener of listeners) listener(kind, id)
      try {
        await store.publish(channel, `${kind}:${id}`)
      } catch {
        // Waiters re-check on their timeout; a lost announcement only makes them a little later.
      }
    },
    waitFor (id, timeoutMs, signal) {
      return new Promise((resolve) => {
        if (signal?.aborted === true) return resolve(null)
        let set = waiters.get(id)
        if (set === undefined) {
          set = new Set()
          waiters.set(id, set)
        }
        const wake = (kind: SessionEventKind | null): void => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', cancel)
          resolve(kind)
        }
        const cancel = (): void => {
          const current = waiters.get(id)
          current?.delete(wake)
          if (current?.size === 0) waiters.delete(id)
          wake(null)
        }
        const timer = setTimeout(cancel, timeoutMs)
        timer.unref()
        signal?.addEventListener('abort', cancel, { once: true })
        set.add(wake)
      })
    },
    onEvent (listener) {
      listeners.push(listener)
    },
    onDelivery (listener) {
      deliveryListeners.push(listener)
    },
    live: () => delivering,
    async stop () {
      const u = unsubscribe
      unsubscribe = null
      if (delivering) setDelivery(false)
      if (u !== null) await u().catch(() => {})
      for (const set of waiters.values()) for (const wake of set) wake(null)
      waiters.clear()
    }
  }
}
