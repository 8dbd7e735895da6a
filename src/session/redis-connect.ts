import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisConfig } from '../config/types.js'

/*
 * Connections to Redis: one server (`url`), a Sentinel-managed primary (`sentinel`) or a Cluster
 * (`cluster`), all with the same timeouts.
 *
 * Failure behaviour is the point of most of the options below. The gateway must fail closed and
 * fast when Redis is gone or stalled (a request waiting on a dead store holds a socket and tells
 * the user nothing), and must come back by itself when Redis does:
 * - the offline queue is off: a command issued while disconnected is never parked and sent
 *   minutes later (a late SET would resurrect a session signed out meanwhile). Instead the
 *   store's `run` waits for the connection to become ready, at most the command timeout, then
 *   gives up;
 * - `commandTimeout` bounds a command sent to a server that stopped answering (SIGSTOP, a full
 *   network partition) and `connectTimeout` a connection attempt;
 * - `socketTimeout` drops a connection on which replies are awaited but nothing arrives for twice
 *   the command timeout. Without it a peer that vanished without a reset (host gone, failover
 *   behind a silent network) would keep a "ready" connection whose every command times out
 *   until TCP keepalive gives up, many minutes later; with it the client reconnects, which
 *   is also how it finds a new primary;
 * - `maxRetriesPerRequest: 0` and no resend of unfulfilled commands: a command in flight when the
 *   connection drops is rejected at once rather than replayed (INCR and the lock scripts are
 *   not idempotent);
 * - the retry strategy reconnects forever with a capped backoff, so recovery needs no restart.
 *
 * In a failover a dead primary closes its sockets (or is found out by the socket timeout), the
 * reconnect asks the sentinels for the current primary, and a Cluster client learns the new owner
 * of a slot from MOVED replies and its periodic slot refresh. An old Sentinel primary that stays
 * up is left at the sentinels' announcement (sentinel-watch.ts) or at its first READONLY. Reads always
 * go to primaries: a replica may not have the latest session yet.
 */

/** A connection to one server (possibly found through Sentinel) or to a Cluster. */
export type Client = Redis | Cluster

/** Reconnect delay: doubling from 50 ms, capped at 2 s, with jitter so replicas do not stampede. */
export function backoff (times: number): number {
  return Math.min(50 * 2 ** Math.min(times - 1, 10), 2000) + Math.floor(Math.random() * 100)
}

/** Parses `host:port` or `[v6]:port`. */
export function parseNode (node: string): { host: string, port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(node.trim())
  if (m === null) throw new RangeError(`not a host:port: ${node}`)
  return { host: m[1]!, port: Number(m[2]) }
}

/**
 * A primary demoted to replica (a failover, or a managed service that moved its primary behind
 * the same address) answers writes with READONLY. Reconnecting finds the current primary (through
 * the sentinels, or the address again); the failed command itself is not resent (see above).
 */
function demoted (err: Error): boolean {
  return err.message.startsWith('READONLY')
}

/**
 * Opens the connection `config` describes; ioredis connects in the background. Throws a
 * RangeError when none of url, sentinel and cluster is set (validation prevents it).
 */
export function connect (config: RedisConfig): Client {
  const common = {
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    socketTimeout: config.commandTimeoutMs * 2,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectionName: 'portcullis',
    ...(config.password === null ? {} : { password: config.password })
  } satisfies RedisOptions
  if (config.cluster !== null) {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: backoff,
      slotsRefreshTimeout: config.connectTimeoutMs,
      redisOptions: common
    }
    return new Cluster(config.cluster.nodes.map(parseNode), options)
  }
  const options: RedisOptions = { ...common, enableOfflineQueue: false, retryStrategy: backoff, reconnectOnError: demoted }
  if (config.sentinel !== null) {
    return new Redis({
      ...options,
      sentinels: config.sentinel.nodes.map(parseNode),
      name: config.sentinel.name,
      sentinelRetryStrategy: backoff,
      sentinelCommandTimeout: config.commandTimeoutMs,
      // Not ioredis' `failoverDetector`: sentinel-watch.ts does its job (see there why).
      ...(config.sentinel.password === null ? {} : { sentinelPassword: config.sentinel.password })
    })
  }
  if (config.url === null) throw new RangeError('redis: one of url, sentinel or cluster is required')
  return new Redis(config.url, options)
}
