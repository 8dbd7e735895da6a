import type { Flows } from '../oidc/flows.js'
import type { Logger } from '../observability/logger.js'
import type { SessionEvents, SessionEventKind } from './events.js'
import type { Sessions } from './sessions.js'
import type { SessionStore } from './store.js'
import type { Ticket } from './ticket.js'
import type { FreshSession, RefreshReport, RefreshReportOutcome, RefreshTrigger } from '../domain/refresh.js'
import type { SessionRecord } from '../domain/types.js'
import { BoundedMap } from '../util/bounded-map.js'

export type { FreshSession, RefreshReport, RefreshReportOutcome, RefreshTrigger } from '../domain/refresh.js'

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
 * replica starts its own refresh with the same, about-to-be-rotated refresh token. And a replica
 * that lost its lock without noticing (a store outage longer than the lease) must never overwrite
 * the session a later holder wrote, or the rotated refresh token in it is lost.
 *
 * The design, in three layers:
 * 1. In-process single flight: concurrent requests of one session in this process share one
 *    promise, so only one of them even asks for the cross-process lock.
 * 2. A store lock per session with a fencing token. The holder renews the lease every third of it
 *    while the provider call is in flight, so a provider slower than the lease keeps the lock for
 *    as long as it takes (the provider call itself is bounded by `provider.timeout`). Before
 *    calling the provider the holder re-reads the session: if another replica refreshed it
 *    meanwhile, it uses that result instead (check, lock, check again). The new session is written
 *    only while the fencing token still holds the lock (one atomic step in the store), so a holder
 *    that lost its lock can never overwrite a newer session.
 * 3. Waiters do not poll: each starts listening on the store's pub/sub before it asks for the lock
 *    (so no announcement falls between the two), then sleeps until the holder announces
 *    `refreshed`, `ended`, `failed` or `released`, and re-reads the session once. A coarse re-check
 *    (at most once a second) covers a lost announcement or a holder that died, whose lease then
 *    runs out within `leaseMs`. A `failed` announcement is the holder's transient failure: its
 *    waiters report it rather than each hammering a provider that just failed.
 *
 * Rotation safety follows from the above: the refresh token is used by one holder at a time, and
 * whatever it gets back (a rotated token, or none, as Google answers: then the old one is kept by
 * the flows) is stored before the lock is released.
 */

export interface Refresher {
  /** Returns the session ready to forward, refreshing it first when its access token nears expiry. */
  ensureFresh (ticket: Ticket, record: SessionRecord): Promise<FreshSession>
  /**
   * Refreshes because the upstream refused the access token of `record` (HTTP 401), whatever its
   * expiry says. Concurrent calls for the same session, here or in other processes, share one
   * refresh: a session already refreshed past `record.generation` is returned as it is.
   */
  refreshRejected (ticket: Ticket, record: SessionRecord): Promise<FreshSession>
  /** True when the access token is within `refreshBeforeExpiryMs` of expiring, or the session's Workspace groups are due again (`groupsFrom.retryAt`). */
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
  /** Lock lease; renewed every third of it while the provider call runs. Default 5 s. */
  readonly leaseMs?: number
  /**
   * How long a request waits for another process's refresh before giving up (503, or the still
   * valid token). Must exceed the provider timeout, or waiters give up on a holder that is fine.
   */
  readonly waitTimeoutMs?: number
  /**
   * After a transient failure, requests whose access token is still valid are served with it
   * without a new attempt for this long (an expired token always tries again). Default 5 s.
   */
  readonly retryAfterMs?: number
  readonly now?: () => number
  /** Called once per coordinated refresh with its report (metrics). Must not throw. */
  readonly onRefresh?: (report: RefreshReport) => void
}

/** Upper bound of the per-session retry pause table (a flood of failing sessions cannot grow it). */
const MAX_PAUSED = 10_000

/**
 * Creates the refresh coordinator of one gateway process (see the design note above): single
 * flight per session in this process, a fenced and renewed store lock across processes, waiters
 * woken by the session events. `options.onRefresh` receives one {@link RefreshReport} per
 * coordinated refresh, the hook through which metrics count grants and lock waits.
 */
export function createRefresher (options: RefresherOptions): Refresher {
  const { store, sessions, events, flows, logger } = options
  const now = options.now ?? Date.now
  const leaseMs = options.leaseMs ?? 5000
  const waitTimeoutMs = options.waitTimeoutMs ?? 15_000
  const retryAfterMs = options.retryAfterMs ?? 5000
  const recheckMs = Math.max(100, Math.min(1000, Math.floor(leaseMs / 2)))
  const inflight = new Map<string, { promise: Promise<FreshSession>, requests: number }>()
  // Session id -> time before which a still-valid token is served without a new attempt.
  const paused = new BoundedMap<string, number>(MAX_PAUSED)

  function needsRefresh (record: SessionRecord): boolean {
    const at = record.tokens.accessTokenExpiresAt
    // Workspace groups (groups/resolver.ts) are fetched at refresh: one is due when they run out too.
    const groupsAt = record.identity.groupsFrom?.retryAt ?? null
    return (at !== null && now() >= at - options.refreshBeforeExpiryMs) || (groupsAt !== null && now() >= groupsAt)
  }

  function tokenValid (record: SessionRecord): boolean {
    const at = record.tokens.accessTokenExpiresAt
    return at === null || now() < at
  }

  function unavailable (record: SessionRecord, reason: string): FreshSession {
    return { status: 'unavailable', record, usable: tokenValid(record), reason }
  }

  function pause (id: string): void {
    paused.set(id, now() + retryAfterMs)
  }

  /** What one coordination learned, filled in as it goes and reported once at the end. */
  interface Progress {
    readonly trigger: RefreshTrigger
    readonly id: string
    grantSent: boolean
    waitedMs: number
    providerMs: number | null
    outcome: RefreshReportOutcome
    reason: string | null
  }

  async function refreshHolding (ticket: Ticket, lockKey: string, token: number, stale: (r: SessionRecord) => boolean, p: Progress): Promise<FreshSession> {
    let lost = false
    let announced: SessionEventKind | null = null
    const announce = async (kind: SessionEventKind): Promise<void> => {
      announced = kind
      await events.publish(kind, p.id)
    }
    const renewer = setInterval(() => {
      store.renewLock(lockKey, token, leaseMs).then((held) => { if (!held) lost = true }, () => {})
    }, Math.floor(leaseMs / 3))
    renewer.unref()
    try {
      // Check again under the lock: another process may have refreshed while we waited for it.
      const current = await sessions.load(ticket)
      if (current === null) return done(p, 'ended', 'session_gone', { status: 'ended', reason: 'session_gone' })
      if (!stale(current)) return done(p, 'joined', null, { status: 'refreshed', record: current, here: false })
      if (current.tokens.refreshToken === null) {
        return done(p, 'no_refresh_token', null, tokenValid(current) && p.trigger === 'expiry' ? { status: 'fresh', record: current } : { status: 'no_refresh_token', record: current })
      }

      const started = now()
      p.grantSent = true
      const outcome = await flows.refresh(current.identity, current.tokens)
      p.providerMs = now() - started
      if (!outcome.ok) {
        const { kind, reason } = outcome.failure
        if (kind === 'transient') {
          pause(p.id)
          await announce('failed')
          return done(p, 'transient', reason, unavailable(current, reason))
        }
        // `terminal` (a dead grant) and `rejected` (any other refusal, an id token that does not
        // validate) both end the session: fail closed, and a new sign-in is what fixes either.
        await sessions.destroy(ticket)
        await announce('ended')
        return done(p, 'ended', reason, { status: 'ended', reason })
      }
      const remaining = current.expiresAt - now()
      if (remaining <= 0) {
        await sessions.destroy(ticket)
        await announce('ended')
        return done(p, 'ended', 'lifetime_over', { status: 'ended', reason: 'lifetime_over' })
      }
      const next: SessionRecord = {
        ...current,
        identity: outcome.identity,
        tokens: outcome.tokens,
        generation: current.generation + 1,
        refreshedAt: now()
      }
      // The store TTL never reaches past the absolute lifetime, and `load` refuses the record
      // once `expiresAt` is over whatever the TTL: a refresh never extends a session.
      const saved = !lost && await sessions.saveFenced(ticket, next, Math.min(options.idleTimeoutMs, remaining), token)
      if (!saved) {
        // A revocation deletes the session with its lock: the save is refused, and the session is over.
        if (await sessions.load(ticket).catch(() => current) === null) return done(p, 'ended', 'session_gone', { status: 'ended', reason: 'session_gone' })
        return done(p, 'lock_lost', 'lock_lost', unavailable(current, 'lock_lost'))
      }
      paused.delete(p.id)
      await announce('refreshed')
      return done(p, 'refreshed', null, { status: 'refreshed', record: next, here: true })
    } finally {
      clearInterval(renewer)
      await store.releaseLock(lockKey, token).catch(() => {})
      if (announced === null) await events.publish('released', p.id)
    }
  }

  function done (p: Progress, outcome: RefreshReportOutcome, reason: string | null, result: FreshSession): FreshSession {
    p.outcome = outcome
    p.reason = reason
    return result
  }

  async function coordinate (ticket: Ticket, record: SessionRecord, stale: (r: SessionRecord) => boolean, p: Progress): Promise<FreshSession> {
    const lockKey = sessions.keys(ticket).lock
    const waitStart = now()
    const deadline = waitStart + waitTimeoutMs
    for (;;) {
      // Listen before asking for the lock: an announcement made between a refused acquire and
      // the start of the wait would otherwise be missed and cost a full re-check interval.
      const cancel = new AbortController()
      const woken = events.waitFor(p.id, Math.max(1, Math.min(recheckMs, deadline - now())), cancel.signal)
      let token: number | null
      try {
        token = await store.acquireLock(lockKey, leaseMs)
      } catch {
        cancel.abort()
        return done(p, 'store_unavailable', 'store_unavailable', unavailable(record, 'store_unavailable'))
      }
      if (token !== null) {
        cancel.abort()
        p.waitedMs = now() - waitStart
        return await refreshHolding(ticket, lockKey, token, stale, p)
      }
      // Another process holds the lock: wait for its announcement, then look at the result.
      const kind = await woken
      let current: SessionRecord | null
      try {
        current = await sessions.load(ticket)
      } catch {
        return done(p, 'store_unavailable', 'store_unavailable', unavailable(record, 'store_unavailable'))
      }
      p.waitedMs = now() - waitStart
      if (current === null) return done(p, 'ended', 'session_gone', { status: 'ended', reason: 'session_gone' })
      if (!stale(current)) return done(p, 'joined', null, { status: 'refreshed', record: current, here: false })
      if (kind === 'failed') {
        pause(p.id)
        return done(p, 'transient', 'holder_failed', unavailable(current, 'holder_failed'))
      }
      if (now() >= deadline) return done(p, 'wait_timeout', 'wait_timeout', unavailable(current, 'wait_timeout'))
    }
  }

  function report (p: Progress, requests: number): void {
    const r: RefreshReport = { outcome: p.outcome, trigger: p.trigger, grantSent: p.grantSent, waitedMs: p.waitedMs, providerMs: p.providerMs, requests, reason: p.reason }
    const fields = { refresh: r.outcome, refreshTrigger: r.trigger, refreshGrant: r.grantSent, refreshWaitedMs: r.waitedMs, refreshProviderMs: r.providerMs ?? undefined, refreshRequests: r.requests, refreshReason: r.reason ?? undefined }
    if (r.outcome === 'refreshed' || r.outcome === 'joined' || r.outcome === 'no_refresh_token') logger.info(fields, 'token refresh')
    else logger.warn(fields, 'token refresh failed')
    try { options.onRefresh?.(r) } catch { /* an observer must never break a request */ }
  }

  /** Runs one coordination per session at a time in this process; later callers join it. */
  function singleFlight (ticket: Ticket, record: SessionRecord, trigger: RefreshTrigger, stale: (r: SessionRecord) => boolean): Promise<FreshSession> {
    const id = sessions.keys(ticket).session
    const running = inflight.get(id)
    if (running !== undefined) {
      running.requests++
      return running.promise
    }
    const p: Progress = { trigger, id, grantSent: false, waitedMs: 0, providerMs: null, outcome: 'store_unavailable', reason: null }
    const entry = { promise: Promise.resolve<FreshSession>({ status: 'fresh', record }), requests: 1 }
    entry.promise = coordinate(ticket, record, stale, p).finally(() => {
      inflight.delete(id)
      report(p, entry.requests)
    })
    inflight.set(id, entry)
    return entry.promise
  }

  return {
    needsRefresh,
    ensureFresh (ticket, record) {
      if (!needsRefresh(record)) return Promise.resolve({ status: 'fresh', record })
      if (record.tokens.refreshToken === null) {
        return Promise.resolve(tokenValid(record) ? { status: 'fresh', record } : { status: 'no_refresh_token', record })
      }
      const id = sessions.keys(ticket).session
      const until = paused.get(id)
      if (until !== undefined) {
        // A refresh just failed for a passing reason: serve the still-valid token without
        // asking a struggling provider again on every request.
        if (now() < until && tokenValid(record)) return Promise.resolve({ status: 'fresh', record })
        if (now() >= until) paused.delete(id)
      }
      return singleFlight(ticket, record, 'expiry', needsRefresh)
    },
    refreshRejected (ticket, record) {
      if (record.tokens.refreshToken === null) return Promise.resolve({ status: 'no_refresh_token', record })
      // Within the pause after a transient failure the provider is not asked again.
      const until = paused.get(sessions.keys(ticket).session)
      if (until !== undefined && now() < until) return Promise.resolve(unavailable(record, 'retry_paused'))
      return singleFlight(ticket, record, 'upstream_401', (current) => current.generation <= record.generation)
    }
  }
}
