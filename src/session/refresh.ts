import type { Flows } from '../oidc/flows.js'
import type { Logger } from '../observability/logger.js'
import type { SessionEvents } from './events.js'
import type { Sessions } from './sessions.js'
import type { SessionStore } from './store.js'
import type { Ticket } from './ticket.js'
import type { SessionRecord } from './types.js'

/*
 * Refresh coordination: exactly one refresh grant per session per expiry, across every request
 * in this process and every gateway process sharing the store.
 *
 * The hazard. When an access token nears expiry, every request of that session notices at about
 * the same moment, in every replica. If each of them called the provider, a provider that rotates
 * refresh tokens would accept the first call and answer `invalid_grant` to the others (and may
 * revoke the whole grant as a suspected replay), logging the user out; Google, which does not
 * rotate, would still see N grants per expiry. A lock with a fixed lease is not enough either: when
 * the provider answers more slowly than the lease, the lock expires mid-refresh and a second
 * replica starts its own refresh with the same, about-to-be-rotated refresh token.
 *
 * The design, in three layers:
 * 1. In-process single flight: concurrent requests of one session in this process share one
 *    promise, so only one of them even asks for the cross-process lock.
 * 2. A store lock per session with a fencing token. The holder renews the lease every third of it
 *    while the provider call is in flight, so a slow provider keeps the lock. Before calling the
 *    provider the holder re-reads the session: if another replica refreshed it meanwhile, it uses
 *    that result instead (check, lock, check again). The new session is written only while the
 *    fencing token still holds the lock (one atomic step in the store), so a holder that lost its
 *    lock (a store outage longer than the lease) can never overwrite a newer session.
 * 3. Waiters do not poll in a tight loop: they wait for the holder's announcement on the store's
 *    pub/sub (`refreshed`, `ended`, `released`) and then re-read the session once; a coarse
 *    timeout re-check covers a lost announcement.
 */

export type FreshSession =
  | { readonly status: 'fresh', readonly record: SessionRecord }
  | { readonly status: 'refreshed', readonly record: SessionRecord, readonly here: boolean }
  /** The session is gone (refresh grant dead, subject changed, lifetime over). It has been deleted. */
  | { readonly status: 'ended', readonly reason: string }
  /** The access token expired and there is no refresh token: the user must sign in again. */
  | { readonly status: 'no_refresh_token', readonly record: SessionRecord }
  /**
   * The refresh failed for a passing reason. `usable` says whether the current access token is
   * still valid (then the request is served with it).
   */
  | { readonly status: 'unavailable', readonly record: SessionRecord, readonly usable: boolean, readonly reason: string }

export interface Refresher {
  /** Returns the session ready to forward, refreshing it first when its access token nears expiry. */
  ensureFresh (ticket: Ticket, record: SessionRecord): Promise<FreshSession>
  /** True when the access token is within `refreshBeforeExpiryMs` of expiring. */
  needsRefresh (record: SessionRecord): boolean
}

export interface RefresherOptions {
  readonly store: SessionStore
  readonly sessions: Sessions
  readonly events: SessionEvents
  readonly flows: Pick<Flows, 'refresh'>
  readonly logger: Logger
  readonly refreshBeforeExpiryMs: number
  readonly idleTimeoutMs: number
  /** Lock lease; renewed every third of it while the provider call runs. */
  readonly leaseMs?: number
  /** How long a request waits for another process's refresh before giving up (503 or stale token). */
  readonly waitTimeoutMs?: number
  readonly now?: () => number
  /** Called once per refresh grant sent to the provider, with its outcome (metrics). */
  readonly onRefresh?: (outcome: 'success' | 'terminal' | 'transient' | 'lock_lost', durationMs: number) => void
  /** Called with how long a request waited for another holder's refresh (metrics). */
  readonly onWait?: (waitedMs: number) => void
}

export function createRefresher (options: RefresherOptions): Refresher {
  const { store, sessions, events, flows, logger } = options
  const now = options.now ?? Date.now
  const leaseMs = options.leaseMs ?? 5000
  const waitTimeoutMs = options.waitTimeoutMs ?? 15_000
  const recheckMs = Math.max(100, Math.min(1000, Math.floor(leaseMs / 2)))
  const inflight = new Map<string, Promise<FreshSession>>()

  function needsRefresh (record: SessionRecord): boolean {
    const at = record.tokens.accessTokenExpiresAt
    return at !== null && now() >= at - options.refreshBeforeExpiryMs
  }

  function tokenValid (record: SessionRecord): boolean {
    const at = record.tokens.accessTokenExpiresAt
    return at === null || now() < at
  }

  function unavailable (record: SessionRecord, reason: string): FreshSession {
    return { status: 'unavailable', record, usable: tokenValid(record), reason }
  }

  async function refreshHolding (ticket: Ticket, id: string, lockKey: string, token: number): Promise<FreshSession> {
    let lost = false
    const renewer = setInterval(() => {
      store.renewLock(lockKey, token, leaseMs).then((held) => { if (!held) lost = true }, () => {})
    }, Math.floor(leaseMs / 3))
    renewer.unref()
    try {
      // Check again under the lock: another process may have refreshed while we waited for it.
      const current = await sessions.load(ticket)
      if (current === null) return { status: 'ended', reason: 'session_gone' }
      if (!needsRefresh(current)) return { status: 'refreshed', record: current, here: false }
      if (current.tokens.refreshToken === null) return tokenValid(current) ? { status: 'fresh', record: current } : { status: 'no_refresh_token', record: current }

      const started = now()
      const outcome = await flows.refresh(current.identity, current.tokens)
      const took = now() - started
      if (!outcome.ok) {
        const { kind, reason } = outcome.failure
        logger.warn({ refresh: 'failed', kind, reason, durationMs: took }, 'token refresh failed')
        if (kind === 'terminal') {
          options.onRefresh?.('terminal', took)
          await sessions.destroy(ticket)
          await events.publish('ended', id)
          return { status: 'ended', reason }
        }
        options.onRefresh?.('transient', took)
        return unavailable(current, reason)
      }
      const remaining = current.expiresAt - now()
      if (remaining <= 0) {
        await sessions.destroy(ticket)
        return { status: 'ended', reason: 'lifetime_over' }
      }
      const next: SessionRecord = {
        ...current,
        identity: outcome.identity,
        tokens: outcome.tokens,
        generation: current.generation + 1,
        refreshedAt: now()
      }
      // Never extends the session past its absolute lifetime.
      const saved = !lost && await sessions.saveFenced(ticket, next, Math.min(options.idleTimeoutMs, remaining), token)
      if (!saved) {
        options.onRefresh?.('lock_lost', took)
        logger.warn({ refresh: 'lock_lost', durationMs: took }, 'refresh lock lost before the session was saved')
        return unavailable(current, 'lock_lost')
      }
      options.onRefresh?.('success', took)
      logger.debug({ refresh: 'success', generation: next.generation, durationMs: took }, 'token refreshed')
      await events.publish('refreshed', id)
      return { status: 'refreshed', record: next, here: true }
    } finally {
      clearInterval(renewer)
      await store.releaseLock(lockKey, token).catch(() => {})
      await events.publish('released', id)
    }
  }

  async function coordinate (ticket: Ticket, record: SessionRecord): Promise<FreshSession> {
    const { session: id, lock: lockKey } = sessions.keys(ticket)
    const deadline = now() + waitTimeoutMs
    const waitStart = now()
    let waited = false
    for (;;) {
      let token: number | null
      try {
        token = await store.acquireLock(lockKey, leaseMs)
      } catch {
        return unavailable(record, 'store_unavailable')
      }
      if (token !== null) {
        if (waited) options.onWait?.(now() - waitStart)
        return await refreshHolding(ticket, id, lockKey, token)
      }
      // Another process holds the lock: wait for its announcement, then look at the result.
      waited = true
      await events.waitFor(id, Math.max(1, Math.min(recheckMs, deadline - now())))
      let current: SessionRecord | null
      try {
        current = await sessions.load(ticket)
      } catch {
        return unavailable(record, 'store_unavailable')
      }
      if (current === null) return { status: 'ended', reason: 'session_gone' }
      if (current.generation > record.generation || !needsRefresh(current)) {
        options.onWait?.(now() - waitStart)
        return { status: 'refreshed', record: current, here: false }
      }
      if (now() >= deadline) {
        options.onWait?.(now() - waitStart)
        return unavailable(current, 'wait_timeout')
      }
    }
  }

  return {
    needsRefresh,
    ensureFresh (ticket, record) {
      if (!needsRefresh(record)) return Promise.resolve({ status: 'fresh', record })
      if (record.tokens.refreshToken === null) {
        return Promise.resolve(tokenValid(record) ? { status: 'fresh', record } : { status: 'no_refresh_token', record })
      }
      const id = sessions.keys(ticket).session
      let pending = inflight.get(id)
      if (pending === undefined) {
        pending = coordinate(ticket, record).finally(() => inflight.delete(id))
        inflight.set(id, pending)
      }
      return pending
    }
  }
}
