import cluster, { type Worker } from 'node:cluster'
import type { Config } from './config/types.js'
import { primaryMetrics } from './observability/cluster-metrics.js'
import { createLogger, type Logger } from './observability/logger.js'
import { startMetricsServer, type MetricsServer } from './observability/metrics-endpoint.js'

/*
 * `server.workers`: several gateway processes sharing one listener, so the gateway uses more than
 * one CPU core. The primary process only supervises: it forks the workers (each runs the same
 * `portcullis serve` command and builds its own gateway), restarts one that exits unexpectedly,
 * and passes SIGTERM, SIGINT and SIGHUP on. Workers share sessions, refresh locks and cache
 * invalidations through Redis exactly as replicas on separate hosts do, which is why more than
 * one worker requires the Redis store.
 */

/** A worker that lived at least this long is healthy again: its next crash restarts it at once. */
const STABLE_MS = 30_000
const MAX_RESTART_DELAY_MS = 5000

/** True in the process that should supervise workers instead of serving. */
export function isSupervisor (config: Config): boolean {
  return config.server.workers > 1 && cluster.isPrimary
}

export interface SupervisorOptions {
  readonly logger?: Logger
  /** Called with the exit code once every worker has stopped after SIGTERM or SIGINT. */
  readonly exit?: (code: number) => void
}

/**
 * Runs the primary of `server.workers` worker processes. A worker that exits while the gateway is
 * not stopping is replaced, after a delay that doubles with each quick crash (capped at 5 s) so a
 * worker that cannot start does not spin. SIGTERM and SIGINT stop the workers (each drains its
 * requests, bounded by `server.shutdown_timeout`), then the primary exits 0; a worker still alive
 * 5 s after that bound is killed. SIGHUP is passed on to every worker.
 */
export function superviseWorkers (config: Config, options: SupervisorOptions = {}): void {
  const logger = options.logger ?? createLogger(config.logging)
  let metricsServer: MetricsServer | null = null
  let failed = false
  const finish = options.exit ?? ((code: number) => process.exit(code))
  const exit = (code: number): void => {
    const closing = metricsServer?.close() ?? Promise.resolve()
    void closing.catch(() => {}).then(() => finish(failed ? 1 : code))
  }
  // Metrics are summed over the workers here; workers ask for the sum when scraped themselves.
  if (config.metrics.enabled) {
    const metrics = primaryMetrics()
    if (config.metrics.listen !== null) {
      startMetricsServer(config.metrics.listen, metrics).then((server) => {
        metricsServer = server
        logger.info({ metrics: server.url }, 'metrics of all workers served')
      }, (err: unknown) => {
        logger.error({ err }, 'metrics.listen could not be opened')
        failed = true
        stop('SIGTERM')
      })
    }
  }
  const started = new Map<Worker, number>()
  let quickCrashes = 0
  let stopping = false

  function fork (): void {
    const worker = cluster.fork()
    started.set(worker, Date.now())
    worker.on('online', () => logger.info({ worker: worker.process.pid }, 'worker started'))
  }

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? 0)
    started.delete(worker)
    if (stopping) {
      if (started.size === 0) exit(0)
      return
    }
    quickCrashes = lived >= STABLE_MS ? 0 : quickCrashes + 1
    const delay = quickCrashes <= 1 ? 0 : Math.min(100 * 2 ** (quickCrashes - 2), MAX_RESTART_DELAY_MS)
    logger.error({ worker: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited; starting a new one')
    setTimeout(() => { if (!stopping) fork() }, delay)
  })

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal, workers: started.size }, 'stopping workers')
    if (started.size === 0) return exit(0)
    for (const worker of started.keys()) worker.process.kill('SIGTERM')
    setTimeout(() => {
      for (const worker of started.keys()) worker.process.kill('SIGKILL')
    }, config.server.shutdownTimeoutMs + 5000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // Without a handler SIGHUP would end the primary; each worker decides what a SIGHUP means.
  process.on('SIGHUP', () => {
    for (const worker of started.keys()) worker.process.kill('SIGHUP')
  })

  logger.info({ workers: config.server.workers, pid: process.pid }, 'starting workers')
  for (let i = 0; i < config.server.workers; i++) fork()
}
