import { buildGateway, type Gateway } from './app.js'
import { ConfigError, loadConfigFile } from './config/load.js'
import { isSupervisor, superviseWorkers } from './workers.js'

/** Prints a configuration error the same way `check` does: every problem, no stack trace. */
export function printConfigError (err: ConfigError, file: string, write: (s: string) => void): void {
  write(`portcullis: invalid configuration in ${file}:\n`)
  for (const problem of err.problems) write(`  - ${problem}\n`)
}

/**
 * `portcullis serve`: loads the config, starts the gateway and handles signals. SIGTERM and SIGINT
 * stop accepting connections, drain in-flight requests (bounded by `server.shutdown_timeout`),
 * close the store and exit 0.
 */
export async function serve (file: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config
  try {
    config = loadConfigFile(file, env)
  } catch (err) {
    if (err instanceof ConfigError) {
      printConfigError(err, file, (s) => process.stderr.write(s))
      return 1
    }
    throw err
  }
  if (isSupervisor(config)) {
    superviseWorkers(config)
    return 0
  }
  const gateway: Gateway = await buildGateway(config)
  const url = await gateway.listen()
  gateway.logger.info({ url, publicUrl: config.server.publicUrl, store: config.session.store }, 'portcullis listening')

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    gateway.logger.info({ signal }, 'shutting down')
    gateway.close().then(() => process.exit(0), (err: unknown) => {
      gateway.logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return 0
}
