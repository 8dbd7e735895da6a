import { command, startRedis, type RedisServer } from './redis.js'
import { alive, caughtUp, SERVER_ARGS, until, type Failover } from './redis-ha.js'

/*
 * A real Redis Cluster for tests: three masters with one replica each on 127.0.0.1, a 1 s node
 * timeout so a failover completes within a few seconds.
 */

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
