import type { RedisConfig } from '../../src/config/types.js'
import type { SessionStore } from '../../src/session/store.js'

/*
 * Shared pieces of the Redis failover tests (cluster and sentinel, store and gateway level).
 */

/**
 * How long a failover may keep a session unusable in the tests: detection (1 s in the test
 * topologies) + election + the client's reconnect backoff (at most ~2 s) + slot/primary lookup,
 * with a wide margin for a loaded machine. docs/operations.md derives the production bound from
 * the same parts.
 */
export const FAILOVER_BOUND_MS = 20_000

/** The store config the HA tests use: the gateway's default timeouts. */
export function haConfig (target: Pick<RedisConfig, 'sentinel' | 'cluster'>): RedisConfig {
  return { url: null, keyPrefix: 'test:', password: null, connectTimeoutMs: 2000, commandTimeoutMs: 1000, ...target }
}

export interface Outage {
  /** Milliseconds from the start of the loop to the first success. */
  readonly tookMs: number
  /** Error codes of the failed attempts (each should be PCS_STORE_UNAVAILABLE: failing closed). */
  readonly failures: readonly string[]
  /** Results that came back but were not the expected one (each is a bug: a lost or wrong value). */
  readonly wrong: readonly unknown[]
}

/**
 * Calls `attempt` every 100 ms until it returns `expected` or `boundMs` passes. Failed attempts
 * and unexpected results are recorded, not thrown, so a test can assert how the store behaved
 * during the outage as well as that it came back. `tookMs` is -1 when it never came back.
 */
export async function untilUsable<T> (attempt: () => Promise<T>, isExpected: (value: T) => boolean, boundMs = FAILOVER_BOUND_MS): Promise<Outage> {
  const started = Date.now()
  const failures: string[] = []
  const wrong: unknown[] = []
  while (Date.now() - started < boundMs) {
    try {
      const value = await attempt()
      if (isExpected(value)) return { tookMs: Date.now() - started, failures, wrong }
      wrong.push(value)
    } catch (err) {
      failures.push(String((err as { code?: string }).code ?? (err as Error).message))
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { tookMs: -1, failures, wrong }
}

/**
 * Subscribes to `channel` and publishes until a message arrives (bounded); true when one did.
 * Right after a failover the subscriber connection may still be reconnecting, and a subscribe is
 * then refused (fail closed): it is tried again within the same bound.
 */
export async function pubSubWorks (store: SessionStore, channel: string, boundMs = FAILOVER_BOUND_MS): Promise<boolean> {
  let got = false
  const started = Date.now()
  let unsubscribe: (() => Promise<void>) | null = null
  const subscribed = await untilUsable(async () => (unsubscribe = await store.subscribe(channel, () => { got = true })), () => true, boundMs)
  if (subscribed.tookMs < 0 || unsubscribe === null) return false
  const unsubscribeNow: () => Promise<void> = unsubscribe
  try {
    while (!got && Date.now() - started < boundMs) {
      await store.publish(channel, 'ping').catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return got
  } finally {
    await unsubscribeNow().catch(() => {})
  }
}
