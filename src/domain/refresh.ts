import type { SessionRecord } from './types.js'

/*
 * The results of refresh coordination (session/refresh.ts): what a request gets back, and the
 * report each coordinated refresh hands to its observer (log line and metrics).
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

/** Why a refresh was attempted. */
export type RefreshTrigger = 'expiry' | 'upstream_401'

/**
 * How one coordinated refresh ended in this process:
 * - `refreshed`: this process sent the refresh grant and stored the new session;
 * - `joined`: another process (or an earlier holder) had already refreshed; its result was used;
 * - `ended`: the grant is dead (`invalid_grant`, `invalid_client`, other refusals, subject changed,
 *   id token refused, lifetime over); the session was deleted;
 * - `transient`: the provider could not answer (network, 5xx, timeout), here or at the holder;
 * - `lock_lost`: the lease ran out before the result could be stored (store outage);
 * - `wait_timeout`: another process held the lock longer than this process would wait;
 * - `store_unavailable`: the store did not answer;
 * - `no_refresh_token`: the session has no refresh token (sign in again).
 */
export type RefreshReportOutcome = 'refreshed' | 'joined' | 'ended' | 'transient' | 'lock_lost' | 'wait_timeout' | 'store_unavailable' | 'no_refresh_token'

/**
 * One report per coordinated refresh: per session, per process, per expiry (however many requests
 * shared it). The same fields go into the `token refresh` log line; the composition root may
 * forward them to metrics (a counter by `outcome` and `trigger`, a counter of `grantSent`, a
 * histogram of `waitedMs` and `providerMs`).
 */
export interface RefreshReport {
  readonly outcome: RefreshReportOutcome
  readonly trigger: RefreshTrigger
  /** True when this process sent a refresh grant to the provider (at most one per report). */
  readonly grantSent: boolean
  /** Time spent waiting for another holder's lock, in ms (0 when the lock was free). */
  readonly waitedMs: number
  /** Duration of the provider call in ms, or null when this process made none. */
  readonly providerMs: number | null
  /** Requests in this process that shared this refresh (single flight). */
  readonly requests: number
  /** The provider's error or another short machine-readable reason; null on success. */
  readonly reason: string | null
}
