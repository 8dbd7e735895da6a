/**
 * `portcullis check`: validates a config file and prints the effective config (defaults filled
 * in, secrets redacted) as YAML. The CLI wiring lives in `cli.ts`; this is the logic, with the
 * output streams passed in so it can be tested without a process.
 */
import { stringify } from 'yaml'
import { ConfigError, loadConfigFile } from '../config/load.js'
import { toFileShape } from '../config/effective.js'
import { redactSecrets } from '../config/redact.js'
import type { Config } from '../config/types.js'

/**
 * Loads the config at `file` for a command: on a config error, writes
 * `portcullis: invalid configuration in FILE:` and one `  - path: message` line per problem to
 * `err` and returns null. Errors other than config errors are bugs and propagate.
 */
export function loadOrReport (file: string, env: NodeJS.ProcessEnv, err: (s: string) => void): Config | null {
  try {
    return loadConfigFile(file, env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    err(`portcullis: invalid configuration in ${file}:\n${error.problems.map(p => `  - ${p}\n`).join('')}`)
    return null
  }
}

/**
 * Checks the config at `path` (or `PORTCULLIS_CONFIG` in `env`). Valid: writes the effective
 * config to `out` and returns 0. Invalid or unreadable: writes
 * `portcullis: invalid configuration in FILE:` and one `  - path: message` line per problem to
 * `err` (no stack trace) and returns 1. Errors other than config errors are bugs and propagate.
 */
export function runCheck (path: string | undefined, env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): number {
  const file = path ?? env.PORTCULLIS_CONFIG
  if (file === undefined || file === '') {
    err('portcullis: no config file: pass --config FILE or set PORTCULLIS_CONFIG\n')
    return 1
  }
  const config = loadOrReport(file, env, err)
  if (config === null) return 1
  out(`# ${file} is valid. Effective configuration, defaults included, secrets redacted:\n`)
  out(stringify(redactSecrets(toFileShape(config)), { lineWidth: 0 }))
  return 0
}
