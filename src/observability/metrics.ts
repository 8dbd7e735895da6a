/**
 * The gateway's Prometheus metrics. Every gateway owns its own registry (never prom-client's
 * global one), so several gateways in one process (tests, a bench) keep separate counts.
 *
 * Labels are kept low-cardinality on purpose: `route` is the configured route path (or the
 * gateway endpoint's registered path, or `none`), never the request path; outcomes and operations
 * are small fixed sets. Every name and label here is public API, listed in docs/operations.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { SignInOutcome } from '../domain/outcomes.js'
import type { RefreshReport } from '../domain/refresh.js'
import { BoundedMap } from '../util/bounded-map.js'

/** Seconds; from a fast local cache hit to a slow upstream. */
const requestBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Seconds; store commands are normally sub-millisecond to a few milliseconds. */
const storeBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
/** Seconds; provider calls cross the internet. */
const providerBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export type ProviderOperation = 'discovery' | 'code_exchange' | 'refresh' | 'revocation'
export type UpstreamErrorKind = 'timeout' | 'unavailable'

/** The observer hooks the rest of the gateway calls; each one is cheap and never throws. */
export interface Metrics {
  readonly registry: Registry
  /** One finished HTTP request. */
  request (route: string, status: number, durationMs: number): void
  upstreamError (route: string, kind: UpstreamErrorKind): void
  signIn (outcome: SignInOutcome): void
  /** One coordinated refresh in this process (however many requests shared it). */
  refresh (report: Pick<RefreshReport, 'outcome' | 'trigger' | 'grantSent' | 'waitedMs'>): void
  store (operation: string, durationMs: number, failed: boolean): void
  provider (operation: ProviderOperation, durationMs: number, failed: boolean): void
  configReload (outcome: 'applied' | 'rejected'): void
  /** The store breaker changed state (session/breaker.ts). */
  storeBreaker (state: 'closed' | 'open'): void
  /** The Prometheus text exposition of every metric. */
  render (): Promise<{ contentType: string, body: string }>
}

/** Creates the metrics of one gateway, with the process's standard metrics in the same registry. */
export function createMetrics (): Metrics {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })

  const requests: Counter<'route' | 'status_class'> = new Counter({
    name: 'portcullis_http_requests_total',
    help: 'HTTP requests answered, by configured route and status class.',
    labelNames: ['route', 'status_class'] as const,
    registers,
    // Requests are counted in plain numbers (below) and added here, whenever the metric is read.
    collect: () => { flushRequestCounts() }
  })
  // Metrics are declared alike: a name, its help, its labels (and buckets).
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    new Counter({ name, help, labelNames, registers })
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[]): Histogram<L> =>
    new Histogram({ name, help, buckets, labelNames, registers })
  const duration = histogram('portcullis_http_request_duration_seconds', 'Time from receiving a request to finishing its response, by configured route.', requestBuckets, ['route'])
  const upstreamErrors = counter('portcullis_upstream_errors_total', 'Proxied requests whose upstream could not be reached or did not answer in time.', ['route', 'kind'])
  const signIns = counter('portcullis_sign_ins_total', 'Finished sign-ins (callbacks), by outcome.', ['outcome'])
  const refreshes = counter('portcullis_refreshes_total', 'Coordinated token refreshes in this process (one per session and expiry, however many requests shared it), by outcome and trigger.', ['outcome', 'trigger'])
  const refreshGrants = counter('portcullis_refresh_grants_total', 'Refresh grants this process sent to the provider.', [])
  const lockWait = histogram('portcullis_refresh_lock_wait_seconds', 'Time a request waited for another holder of a session\'s refresh lock.', providerBuckets, [])
  const storeDuration = histogram('portcullis_store_operation_duration_seconds', 'Session store operation latency, by operation.', storeBuckets, ['operation'])
  const storeErrors = counter('portcullis_store_errors_total', 'Session store operations that failed, by operation.', ['operation'])
  const providerDuration = histogram('portcullis_provider_request_duration_seconds', 'Identity provider request latency, by operation.', providerBuckets, ['operation'])
  const providerErrors = counter('portcullis_provider_errors_total', 'Identity provider requests that failed (unreachable, timeout, 5xx), by operation.', ['operation'])
  const reloads = counter('portcullis_config_reloads_total', 'Configuration reloads (SIGHUP), by outcome.', ['outcome'])

  // The store breaker (session/breaker.ts): its state now, and how often it changed.
  const breakerState = new Gauge({ name: 'portcullis_store_breaker_open', help: 'Whether the session store breaker is open (1: store calls are refused at once) or closed (0).', registers })
  breakerState.set(0)
  const breakerTransitions = counter('portcullis_store_breaker_transitions_total', 'Changes of the session store breaker, by the state it changed to.', ['to'])

  // Every request records into the same few series: each route's histogram child is built once,
  // and requests are counted per route and status class in plain numbers that the counter takes
  // when it is read, so a request does no label validation or object building.
  // Bounded: routes are configured and status classes are 1xx to 5xx (a reload adds a few).
  interface Count { readonly labels: { route: string, status_class: string }, pending: number }
  interface RouteSeries { readonly duration: Histogram.Internal<'route'>, readonly counts: Array<Count | undefined> }
  function flushSeries (series: RouteSeries): void {
    for (const count of series.counts) {
      if (count === undefined || count.pending === 0) continue
      requests.inc(count.labels, count.pending)
      count.pending = 0
    }
  }
  // A series forgotten at the bound hands its counts over first.
  const perRoute = new BoundedMap<string, RouteSeries>(1000, (_route, series) => { flushSeries(series) })
  function flushRequestCounts (): void {
    for (const series of perRoute.values()) flushSeries(series)
  }
  function seriesOf (route: string): RouteSeries {
    let series = perRoute.get(route)
    if (series === undefined) {
      series = { duration: duration.labels({ route }), counts: [] }
      perRoute.set(route, series)
    }
    return series
  }

  return {
    registry,
    request (route, status, durationMs) {
      const series = seriesOf(route)
      const statusClass = Math.floor(status / 100)
      let count = series.counts[statusClass]
      if (count === undefined) {
        count = { labels: { route, status_class: `${statusClass}xx` }, pending: 0 }
        series.counts[statusClass] = count
      }
      count.pending++
      series.duration.observe(durationMs / 1000)
    },
    upstreamError: (route, kind) => upstreamErrors.inc({ route, kind }),
    signIn: (outcome) => signIns.inc({ outcome }),
    refresh: (report) => {
      refreshes.inc({ outcome: report.outcome, trigger: report.trigger })
      if (report.grantSent) refreshGrants.inc()
      // Only refreshes that found the lock held waited; a free lock is not a wait.
      if (report.waitedMs > 0) lockWait.observe(report.waitedMs / 1000)
    },
    store (operation, durationMs, failed) {
      storeDuration.observe({ operation }, durationMs / 1000)
      if (failed) storeErrors.inc({ operation })
    },
    provider (operation, durationMs, failed) {
      providerDuration.observe({ operation }, durationMs / 1000)
      if (failed) providerErrors.inc({ operation })
    },
    configReload: (outcome) => reloads.inc({ outcome }),
    storeBreaker (state) {
      breakerState.set(state === 'open' ? 1 : 0)
      breakerTransitions.inc({ to: state })
    },
    async render () {
      return { contentType: registry.contentType, body: await registry.metrics() }
    }
  }
}
