import { command, startRedis, startSentinel, type RedisServer, type SentinelServer } from './redis.js'
import { alive, caughtUp, replicationInfo, SERVER_ARGS, until, type Failover } from './redis-ha.js'

/*
 * A real Sentinel setup for tests: a primary, one replica and three sentinels on 127.0.0.1,
 * with a 1 s down-after time so a failover completes within a few seconds.
 */

export interface SentinelGroup {
  /** The name the primary is monitored under (`redis.sentinel.name`). */
  readonly name: string
  /** The two data servers; which one is the primary changes with a failover. */
  readonly servers: readonly RedisServer[]
  readonly sentinels: readonly SentinelServer[]
  /** `127.0.0.1:port` of every sentinel, for `redis.sentinel.nodes`. */
  readonly seeds: readonly string[]
  /** The server the sentinels currently name as primary. */
  primary (): Promise<RedisServer>
  /** Waits until the replica has everything the primary wrote (so a failover loses nothing). */
  caughtUp (): Promise<void>
  /**
   * Kills (SIGKILL) the primary and resolves at once; `healed` resolves once every sentinel names
   * the replica as primary and the replica is a primary (bounded by 30 s).
   */
  killPrimary (): Promise<Failover>
  /**
   * A planned failover (SENTINEL FAILOVER): the replica becomes primary and the old primary its
   * replica. `announced` resolves once every sentinel names the new primary; `healed` once the
   * old primary has also become a replica, which the sentinels do only some seconds later (both
   * bounded by 30 s). `killed` is the old primary, still running.
   */
  switchover (): Promise<Failover & { readonly announced: Promise<void> }>
  stop (): Promise<void>
}

/** `SENTINEL MASTER name` as a field map. */
async function sentinelMaster (port: number, name: string): Promise<Record<string, string>> {
  const flat = await command(port, 'SENTINEL', 'MASTER', name) as string[]
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!
  return fields
}

/**
 * Starts a primary, one replica and three Sentinels (quorum 2, primary considered down after 1 s
 * of silence), and resolves once every sentinel knows the replica and the two other sentinels,
 * which a failover needs.
 */
export async function startSentinelGroup (name = 'portcullis-primary'): Promise<SentinelGroup> {
  const servers: RedisServer[] = []
  const sentinels: SentinelServer[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(sentinels.map((s) => s.stop()))
    await Promise.all(servers.map((s) => s.stop()))
  }
  try {
    servers.push(await startRedis({ args: SERVER_ARGS }))
    servers.push(await startRedis({ args: [...SERVER_ARGS, '--replicaof', '127.0.0.1', String(servers[0]!.port)] }))
    await caughtUp(servers[0]!, servers[1]!)
    for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(servers[0]!, name, { quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 5000 }))
    await until('every sentinel knowing the replica and the other sentinels', 20_000, async () => {
      for (const s of sentinels) {
        const m = await sentinelMaster(s.port, name)
        if (m['num-slaves'] !== '1' || m['num-other-sentinels'] !== '2') return undefined
      }
      return true
    })
  } catch (err) {
    await stopAll()
    throw err
  }

  async function primary (): Promise<RedisServer> {
    const live = sentinels[0]!
    const [, port] = await command(live.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as [string, string]
    const found = servers.find((s) => String(s.port) === port)
    if (found === undefined) throw new Error(`the sentinels name an unknown primary on port ${port}`)
    return found
  }

  return {
    name,
    servers,
    sentinels,
    seeds: sentinels.map((s) => `127.0.0.1:${s.port}`),
    primary,
    async caughtUp () {
      const p = await primary()
      for (const s of servers) if (s !== p && alive(s)) await caughtUp(p, s)
    },
    async killPrimary () {
      const killed = await primary()
      const promoted = servers.find((s) => s !== killed)!
      await killed.kill()
      const healed = until(`sentinels promoting ${promoted.port}`, 30_000, async () => {
        for (const s of sentinels) {
          const [, port] = await command(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as [string, string]
          if (port !== String(promoted.port)) return undefined
        }
        return (await replicationInfo(promoted.port)).role === 'master' ? true : undefined
      }).then(() => {})
      healed.catch(() => {})
      return { killed, promoted, healed }
    },
    async switchover () {
      const demoted = await primary()
      const promoted = servers.find((s) => s !== demoted)!
      await command(sentinels[0]!.port, 'SENTINEL', 'FAILOVER', name)
      const announced = until(`sentinels switching over to ${promoted.port}`, 30_000, async () => {
        for (const s of sentinels) {
          const [, port] = await command(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as [string, string]
          if (port !== String(promoted.port)) return undefined
        }
        return true
      }).then(() => {})
      const healed = announced.then(() => until(`old primary ${demoted.port} becoming a replica`, 30_000, async () => {
        const roles = [(await replicationInfo(promoted.port)).role, (await replicationInfo(demoted.port)).role]
        return roles[0] === 'master' && roles[1] === 'slave' ? true : undefined
      })).then(() => {})
      announced.catch(() => {})
      healed.catch(() => {})
      return { killed: demoted, promoted, announced, healed }
    },
    stop: stopAll
  }
}
