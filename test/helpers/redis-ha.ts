import { command, type RedisServer } from './redis.js'

/*
 * Shared pieces of the highly available Redis topologies for tests (redis-cluster.ts: a Redis
 * Cluster of three masters with one replica each; redis-sentinel.ts: a primary with one replica
 * watched by three Sentinels), built from real redis-server processes on 127.0.0.1.
 * Detection times are short (1 s) so a failover completes within a few seconds. Every wait is a bounded loop; every process is stopped by `stop()`
 * (and killed at process exit in any case, see redis.ts).
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` every 100 ms until it returns a value other than undefined, for at most `ms`. */
export async function until<T> (what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now()
  let last: unknown
  while (Date.now() - started < ms) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await sleep(100)
  }
  throw new Error(`${what}: not within ${ms} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`)
}

export const alive = (s: RedisServer): boolean => { try { process.kill(s.pid, 0); return true } catch { return false } }

/** `INFO replication` of a server as a field map. */
export async function replicationInfo (port: number): Promise<Record<string, string>> {
  const text = String(await command(port, 'INFO', 'replication'))
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]))
}

/** Resolves once `replica` has received everything `primary` has written (same replication offset). */
export async function caughtUp (primary: RedisServer, replica: RedisServer): Promise<void> {
  await until(`replica ${replica.port} catching up with ${primary.port}`, 10_000, async () => {
    const p = await replicationInfo(primary.port)
    const r = await replicationInfo(replica.port)
    return r.master_link_status === 'up' && r.slave_repl_offset === p.master_repl_offset ? true : undefined
  })
}

export const SERVER_ARGS = [
  // A master being shut down waits this long (seconds) for lagging replicas; keep teardown quick.
  '--shutdown-timeout', '1'
]

/** A primary killed on purpose. */
export interface Failover {
  readonly killed: RedisServer
  /** The replica that is to take over. */
  readonly promoted: RedisServer
  /** Resolves once the replica has taken over (rejects if it did not within 30 s). */
  readonly healed: Promise<void>
}
