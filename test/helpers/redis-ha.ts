import { command, startRedis, startSentinel, type RedisServer, type SentinelServer } from './redis.js'

/*
 * Highly available Redis topologies for tests, built from real redis-server processes on
 * 127.0.0.1: a Redis Cluster of three masters with one replica each, and a primary with one
 * replica watched by three Sentinels. Detection times are short (1 s) so a failover completes
 * within a few seconds. Every wait is a bounded loop; every process is stopped by `stop()`
 * (and killed at process exit in any case, see redis.ts).
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` every 100 ms until it returns a value other than undefined, for at most `ms`. */
async function until<T> (what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
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

const alive = (s: RedisServer): boolean => { try { process.kill(s.pid, 0); return true } catch { return false } }

/** `INFO replication` of a server as a field map. */
export async function replicationInfo (port: number): Promise<Record<string, string>> {
  const text = String(await command(port, 'INFO', 'replication'))
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]))
}

/** Resolves once `replica` has received everything `primary` has written (same replication offset). */
async function caughtUp (primary: RedisServer, replica: RedisServer): Promise<void> {
  await until(`replica ${replica.port} catching up with ${primary.port}`, 10_000, async () => {
    const p = await replicationInfo(primary.port)
    const r = await replicationInfo(replica.port)
    return r.master_link_status === 'up' && r.slave_repl_offset === p.master_repl_offset ? true : undefined
  })
}

const SERVER_ARGS = [
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

// ---------------------------------------------------------------------------------------------
// Cluster

interface ClusterNode { id: string, port: number, master: boolean, masterId: string | null, fail: boolean }

/** Parses `CLUSTER NODES`. */
async function clusterNodes (port: number): Promise<ClusterNode[]> {
  const text = String(await command(port, 'CLUSTER', 'NODES'))
  return text.trim().split('\n').map((line) => {
    const [id, address, flags, masterId] = line.split(' ')
    return {
      id: id!,
      port: Number(address!.split('@')[0]!.split(':')[1]),
      master: flags!.split(',').includes('master'),
      masterId: masterId === '-' ? null : masterId!,
      fail: /fail|handshake|noaddr/.test(flags!)
    }
  })
}

export interface RedisCluster {
  /** Every node, masters first (`nodes[i + 3]` starts as the replica of `nodes[i]`). */
  readonly nodes: readonly RedisServer[]
  /** `127.0.0.1:port` of every node, for `redis.cluster.nodes`. */
  readonly seeds: readonly string[]
  /** The slot of `key` (CLUSTER KEYSLOT), asked of a live node. */
  keySlot (key: string): Promise<number>
  /** The node currently serving `slot` as master, as a live node sees it. */
  masterOf (slot: number): Promise<RedisServer>
  /** The replica of `master`. */
  replicaOf (master: RedisServer): Promise<RedisServer>
  /** Waits until every replica has everything its master wrote (so a failover loses nothing). */
  caughtUp (): Promise<void>
  /**
   * Kills (SIGKILL) the master of `slot` and resolves at once; `healed` resolves once its replica
   * serves the slot and every live node reports the cluster healthy again (bounded by 30 s).
   */
  killMasterOf (slot: number): Promise<Failover>
  /** Every key on every live master matching `pattern` (SCAN), for checking where keys landed. */
  keys (pattern: string): Promise<string[]>
  stop (): Promise<void>
}

/** The slot ranges of three masters, as `redis-cli --cluster create` assigns them. */
const RANGES: ReadonlyArray<readonly [number, number]> = [[0, 5460], [5461, 10922], [10923, 16383]]

/**
 * Starts a Redis Cluster of three masters, each with one replica, with a 1 s node timeout, and
 * resolves once every node reports `cluster_state:ok` and every replica is in sync.
 */
export async function startCluster (): Promise<RedisCluster> {
  const args = [...SERVER_ARGS, '--cluster-node-timeout', '1000', '--cluster-replica-validity-factor', '0']
  const nodes: RedisServer[] = []
  try {
    for (let i = 0; i < 6; i++) nodes.push(await startRedis({ cluster: true, ownAllSlots: false, args }))
    for (let i = 0; i < 3; i++) await command(nodes[i]!.port, 'CLUSTER', 'ADDSLOTSRANGE', RANGES[i]![0], RANGES[i]![1])
    for (const n of nodes.slice(1)) await command(nodes[0]!.port, 'CLUSTER', 'MEET', '127.0.0.1', n.port)
    await until('every node knowing the other five', 15_000, async () => {
      for (const n of nodes) {
        const seen = await clusterNodes(n.port)
        if (seen.length !== 6 || seen.some((s) => s.fail)) return undefined
      }
      return true
    })
    const ids = await Promise.all(nodes.map(async (n) => String(await command(n.port, 'CLUSTER', 'MYID'))))
    for (let i = 0; i < 3; i++) await command(nodes[i + 3]!.port, 'CLUSTER', 'REPLICATE', ids[i]!)
    await until('a healthy cluster with three replicas known to every node', 20_000, async () => {
      for (const n of nodes) {
        if (!String(await command(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return undefined
        if ((await clusterNodes(n.port)).filter((s) => !s.master).length !== 3) return undefined
      }
      return true
    })
    for (let i = 0; i < 3; i++) await caughtUp(nodes[i]!, nodes[i + 3]!)
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw err
  }

  const live = (): RedisServer[] => nodes.filter(alive)
  const byPort = (port: number): RedisServer => {
    const found = nodes.find((n) => n.port === port)
    if (found === undefined) throw new Error(`no node on port ${port}`)
    return found
  }

  async function masterOf (slot: number): Promise<RedisServer> {
    const slots = await command(live()[0]!.port, 'CLUSTER', 'SLOTS') as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>
    const range = slots.find(([from, to]) => slot >= from && slot <= to)
    if (range === undefined) throw new Error(`slot ${slot} is not served`)
    return byPort(Number(range[2][1]))
  }

  async function replicaOf (master: RedisServer): Promise<RedisServer> {
    const seen = await clusterNodes(live()[0]!.port)
    const m = seen.find((s) => s.port === master.port)
    const r = seen.find((s) => m !== undefined && s.masterId === m.id && !s.fail)
    if (r === undefined) throw new Error(`master ${master.port} has no live replica`)
    return byPort(r.port)
  }

  return {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`),
    keySlot: async (key) => Number(await command(live()[0]!.port, 'CLUSTER', 'KEYSLOT', key)),
    masterOf,
    replicaOf,
    async caughtUp () {
      const seen = await clusterNodes(live()[0]!.port)
      for (const r of seen.filter((s) => !s.master && !s.fail)) {
        const master = seen.find((s) => s.id === r.masterId)
        if (master !== undefined && !master.fail) await caughtUp(byPort(master.port), byPort(r.port))
      }
    },
    async killMasterOf (slot) {
      const killed = await masterOf(slot)
      const promoted = await replicaOf(killed)
      await killed.kill()
      const healed = until(`replica ${promoted.port} taking over slot ${slot}`, 30_000, async () => {
        for (const n of live()) {
          if (!String(await command(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return undefined
        }
        return (await masterOf(slot)).port === promoted.port ? true : undefined
      }).then(() => {})
      healed.catch(() => {})
      return { killed, promoted, healed }
    },
    async keys (pattern) {
      const found: string[] = []
      const seen = await clusterNodes(live()[0]!.port)
      for (const m of seen.filter((s) => s.master && !s.fail)) {
        let cursor = '0'
        // Bounded: a test cluster holds a handful of keys.
        for (let i = 0; i < 1000; i++) {
          const [next, batch] = await command(m.port, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000) as [string, string[]]
          found.push(...batch)
          cursor = next
          if (cursor === '0') break
        }
      }
      return found
    },
    async stop () {
      await Promise.all(nodes.map((n) => n.stop()))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sentinel

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
