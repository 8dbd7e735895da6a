import type { Gateway } from '../app.js'
import { ConfigError } from '../config/load.js'
import type { Config } from '../config/types.js'

export interface SignalOptions {
  /** Loads the config file again (SIGHUP); throws ConfigError when it is invalid. */
  readonly loadConfig: () => Config
  /** Ends the process with this code (process.exit in production). */
  readonly exit: (code: number) => void
  /** The process to listen on (default: this one). */
  readonly process?: Pick<NodeJS.Process, 'on'>
}

/**
 * Wires the operator's signals to the running gateway.
 *
 * - SIGTERM, SIGINT: stop accepting connections, let in-flight requests finish (bounded by
 *   `server.shutdown_timeout`), close the store and exit 0. A second signal changes nothing:
 *   the drain is already bounded, and a supervisor that wants it faster sends SIGKILL.
 * - SIGHUP: read the same config file again. Routes, access rules and the log level take effect
 *   for the next request, with no connection dropped; other changed keys are logged as needing a
 *   restart. An invalid file is refused with every problem logged, and the running
 *   configuration stays.
 */
export function handleSignals (gateway: Gateway, options: SignalOptions): void {
  const proc = options.process ?? process
  const { logger } = gateway
  let stopping = false

  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down: draining in-flight requests')
    gateway.close().then(() => {
      logger.info({ signal }, 'stopped')
      options.exit(0)
    }, (err: unknown) => {
      logger.error({ err: { message: (err as Error).message } }, 'shutdown failed')
      options.exit(1)
    })
  }

  const reload = (): void => {
    if (stopping) return
    let next: Config
    try {
      next = options.loadConfig()
    } catch (err) {
      gateway.metrics.configReload('rejected')
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message]
      logger.error({ problems }, 'configuration reload refused; the running configuration stays')
      return
    }
    gateway.reload(next)
  }

  proc.on('SIGTERM', () => stop('SIGTERM'))
  proc.on('SIGINT', () => stop('SIGINT'))
  proc.on('SIGHUP', reload)
}
