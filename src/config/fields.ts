/**
 * Field-level helpers shared by the validators: each reads one value, reports a problem with its
 * path when the value is unusable, and returns a safe stand-in so later cross-field checks do not
 * pile knock-on errors on top of the first one.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseHostPort } from './syntax.js'
import { describeFsError } from './sources.js'
import type { Path, Problems } from './problems.js'

/** Parses `host:port`, reporting `must be host:port` at `path` when it is not. */
export function hostPort (value: string, path: Path, problems: Problems): { host: string, port: number } {
  const parsed = parseHostPort(value)
  if (parsed === null) problems.add(path, 'must be host:port')
  return parsed ?? { host: '0.0.0.0', port: 0 }
}

/**
 * Resolves a file path against the config file's directory and checks now that it can be read,
 * so `check` catches a missing certificate or key before the gateway is started with it.
 */
export function readableFile (value: string, baseDir: string, path: Path, problems: Problems): string {
  const absolute = resolve(baseDir, value)
  try {
    accessSync(absolute, constants.R_OK)
    if (!statSync(absolute).isFile()) problems.add(path, `cannot read ${absolute} (not a file)`)
  } catch (err) {
    problems.add(path, `cannot read ${absolute} (${describeFsError(err)})`)
  }
  return absolute
}
