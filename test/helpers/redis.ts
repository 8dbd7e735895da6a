import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { Redis } from 'ioredis'
import { onPickedPort } from './listen.js'

/** A redis-server child process on 127.0.0.1, for tests. */
export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string
  /** PID of the current process (changes after `restart`). */
  readonly pid: number
  /** Shuts the server down (its data kept on disk) and waits until the process has exited. */
  stop (): Promise<void>
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause (): void
  /** Thaws a paused process (SIGCONT). */
  resume (): void
  /** Kills the process (SIGKILL), as a crash would, and waits until it has exited. */
  kill (): Promise<void>
  /** Stops (if running), then starts again on the same port and data directory; the data survives. */
  restart (): Promise<void>
}

const live = new Set<ChildProcess>()
const dirs = new Set<string>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // A test that fails before its teardown must not leave redis-server processes behind.
  process.on('exit', () => {
    for (const child of live) {
      try { child.kill('SIGKILL') } catch { /* already gone */ }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
}

function findBinary (): string {
  const candidates = ['/usr/bin/redis-server', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'redis-server'))]
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch { /* try the next */ }
  }
  throw new Error('redis-server is not installed: install it with `apt-get install -y redis-server`')
}

/** One PING over a raw socket; true on `+PONG` within `ms`. */
function pingOnce (port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let data = ''
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), ms)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      data += chunk.toString()
      if (data.includes('\r\n')) finish(data.startsWith('+PONG'))
    })
    socket.on('error', () => finish(false))
  })
}

function waitExit (child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

/** Runs one command on 127.0.0.1:`port` with a short-lived connection; for setting servers up. */
export async function command (port: number, ...args: Array<string | number>): Promise<unknown> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 2000 })
  try {
    await c.connect()
    return await c.call(String(args[0]), ...args.slice(1))
  } finally {
    c.disconnect()
  }
}

/** redis-server's own words when its port was taken between the pick and its bind. */
function portTaken (err: unknown): boolean {
  return /Address already in use/.test((err as Error).message)
}

async function launch (binary: string, port: number, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(binary, [...args, '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let output = ''
  const collect = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  child.once('exit', () => live.delete(child))
  // Bounded: 10 s at 50 ms steps.
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || child.signalCode !== null) break
    // The server that answers must be this one: another test's may have taken the port meanwhile.
    if (await pingOnce(port, 500) && String(await command(port, 'INFO', 'server').catch(() => '')).includes(`process_id:${child.pid}\r\n`)) return child
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGKILL')
  await waitExit(child, 2000)
  throw new Error(`redis-server did not start on port ${port}:\n${output}`)
}

/** Waits (bounded, 10 s) until a cluster node reports `cluster_state:ok`. */
async function clusterReady (port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const info = String(await command(port, 'CLUSTER', 'INFO').catch(() => ''))
    if (info.includes('cluster_state:ok')) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the cluster node on port ${port} did not become ready`)
}

export interface StartRedisOptions {
  /**
   * Runs the server as a one-node Redis Cluster owning every slot: enough to exercise cluster
   * clients, and Redis still refuses commands and scripts whose keys span hash slots.
   */
  readonly cluster?: boolean
  /** Listen on this port instead of a free one (to bring up a server a client already waits for). */
  readonly port?: number
  /**
   * With `cluster`: false starts a node owning no slots, for building a multi-node cluster
   * (test/helpers/redis-ha.ts). Default: true.
   */
  readonly ownAllSlots?: boolean
  /** More redis-server arguments, e.g. `['--replicaof', '127.0.0.1', '6379']`. */
  readonly args?: readonly string[]
}

/**
 * Starts redis-server on a free 127.0.0.1 port with its own temporary directory and resolves
 * once it answers PING. Stop it with `stop()`; a process exit kills it in any case.
 */
export async function startRedis (options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = findBinary()
  installExitHook()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'))
  dirs.add(dir)
  const args = [
    '--dir', dir,
    // Append-only with an fsync per write: what a test wrote before `restart` is there after it.
    '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
    // A lone node never learns its own address from peers; without announcing one it reports an
    // empty host and cluster clients cannot connect to it.
    ...(options.cluster === true ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1'] : []),
    ...(options.args ?? [])
  ]

  // redis-server is told its port: a picked one, tried again when another process took it first.
  const started = options.port === undefined
    ? await onPickedPort(async (port) => ({ port, child: await launch(binary, port, args) }), portTaken)
    : { port: options.port, child: await launch(binary, options.port, args) }
  const { port, child } = started
  const ownsAllSlots = options.cluster === true && options.ownAllSlots !== false
  if (ownsAllSlots) {
    await command(port, 'CLUSTER', 'ADDSLOTSRANGE', 0, 16383)
    await clusterReady(port)
  }
  let current: ChildProcess = child
  let paused = false

  async function stop (): Promise<void> {
    if (current.exitCode !== null || current.signalCode !== null) return
    // A stopped process would hold SIGTERM until it is continued.
    if (paused) resume()
    current.kill('SIGTERM')
    if (!await waitExit(current, 5000)) {
      current.kill('SIGKILL')
      await waitExit(current, 5000)
    }
  }

  function resume (): void {
    paused = false
    current.kill('SIGCONT')
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get pid () { return current.pid! },
    // The directory stays until the test process exits, so `restart` also works after `stop`.
    stop,
    pause () {
      paused = true
      current.kill('SIGSTOP')
    },
    resume,
    async kill () {
      if (current.exitCode !== null || current.signalCode !== null) return
      current.kill('SIGKILL')
      await waitExit(current, 5000)
    },
    async restart () {
      await stop()
      current = await launch(binary, port, args)
      if (ownsAllSlots) await clusterReady(port)
    }
  }
}

/** A Sentinel watching one primary, for tests of the sentinel connection mode. */
export interface SentinelServer {
  readonly port: number
  /** The name the primary is monitored under. */
  readonly name: string
  readonly pid: number
  stop (): Promise<void>
}

export interface StartSentinelOptions {
  /** Sentinels that must agree the primary is down before a failover. Default: 1. */
  readonly quorum?: number
  /** How long the primary may be silent before this sentinel thinks it down. Default: Redis's 30 s. */
  readonly downAfterMs?: number
  /** Failover timeout (also the pause before the same primary is failed over again). Default: Redis's 3 min. */
  readonly failoverTimeoutMs?: number
}

/**
 * Starts a Sentinel (redis-server in sentinel mode) monitoring `primary` as `name`, and resolves
 * once it knows the primary's address.
 */
export async function startSentinel (primary: RedisServer, name = 'primary', options: StartSentinelOptions = {}): Promise<SentinelServer> {
  const binary = findBinary()
  installExitHook()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'))
  dirs.add(dir)
  const conf = join(dir, 'sentinel.conf')
  const lines = [
    `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${options.quorum ?? 1}`,
    'sentinel resolve-hostnames no',
    ...(options.downAfterMs === undefined ? [] : [`sentinel down-after-milliseconds ${name} ${options.downAfterMs}`]),
    ...(options.failoverTimeoutMs === undefined ? [] : [`sentinel failover-timeout ${name} ${options.failoverTimeoutMs}`])
  ]
  // Sentinel rewrites its config file, so it must be a writable file of its own.
  writeFileSync(conf, lines.join('\n') + '\n')
  const { port, child } = await onPickedPort(async (port) => ({ port, child: await launch(binary, port, [conf, '--sentinel', '--dir', dir]) }), portTaken)
  for (let i = 0; i < 100; i++) {
    const address = await command(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).catch(() => null)
    if (Array.isArray(address) && String(address[1]) === String(primary.port)) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    port,
    name,
    pid: child.pid!,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      if (!await waitExit(child, 5000)) {
        child.kill('SIGKILL')
        await waitExit(child, 5000)
      }
    }
  }
}
