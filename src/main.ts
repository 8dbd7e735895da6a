import { buildGateway, type Gateway } from './app.js'
import { ConfigError, loadConfigFile } from './config/load.js'
import { handleSignals } from './cli/signals.js'
import { isSupervisor, superviseWorkers } from './workers.js'

/** Prints a configuration error the same way `check` does: every problem, no stack trace. */
export function printConfigError (err: ConfigError, file: string, write: (s: string) => void): void {
  write(`portcullis: invalid configuration in ${file}:\n`)
  for (const problem of err.problems) write(`  - ${problem}\n`)
}

/**
 * `portcullis serve`: loads the config, starts the gateway and handles signals (see
 * `cli/signals.ts`): SIGTERM and SIGINT drain and exit 0, SIGHUP reloads routes, access rules and
 * the log level from the same file. Once listening it logs `portcullis listening` with the
 * addresses really bound (`url`, `metrics`, `admin`), which is how port 0 in a listen key is learnt.
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
  handleSignals(gateway, {
    loadConfig: () => loadConfigFile(file, env),
    exit: (code) => process.exit(code)
  })
  let url: string
  try {
    url = await gateway.listen()
  } catch (err) {
    // Nothing else may keep the process alive when the address is taken.
    await gateway.close().catch(() => {})
    throw err
  }
  gateway.logger.info({ url, publicUrl: config.server.publicUrl, store: config.session.store, metrics: gateway.metricsUrl() ?? undefined, admin: gateway.adminUrl() ?? undefined }, 'portcullis listening')
  return 0
}
