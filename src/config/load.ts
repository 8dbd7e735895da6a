/**
 * Loading the config: YAML -> `${ENV}` and `*_file` sources -> schema -> semantic checks and
 * defaults -> a deeply frozen {@link Config}. Every stage collects its problems, so one run tells
 * the operator everything that is wrong; the result is a {@link ConfigError} listing them.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { GatewayError } from '../errors.js'
import { Problems } from './problems.js'
import { ConfigSchema } from './schema.js'
import { checkShape, shapeWithoutUnknownKeys } from './shape.js'
import { decode } from './codec.js'
import type { RawConfig } from './schema.js'
import { describeFsError, resolveSources } from './sources.js'
import { buildConfig } from './validate.js'
import type { Config } from './types.js'

/** An invalid or unreadable config file. `problems` holds one `path: message` line per problem. */
export class ConfigError extends GatewayError {
  readonly problems: string[]
  /** The file (or source name) the problems were found in, when known. */
  readonly source: string | undefined

  constructor (problems: string[], options: { source?: string, code?: 'PCS_CONFIG_INVALID' | 'PCS_CONFIG_UNREADABLE', cause?: unknown } = {}) {
    const where = options.source === undefined ? '' : ` in ${options.source}`
    super(options.code ?? 'PCS_CONFIG_INVALID', {
      message: `invalid configuration${where}:\n${problems.map(p => `  - ${p}`).join('\n')}`,
      cause: options.cause,
      details: options.source === undefined ? {} : { source: options.source }
    })
    this.name = 'ConfigError'
    this.problems = problems
    this.source = options.source
  }
}

export interface ParseOptions {
  /** Environment for `${NAME}` substitution. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Directory that relative `*_file` and TLS/key paths are resolved against. */
  readonly baseDir: string
  /** Name of the file, for error messages. */
  readonly sourceName?: string
}

/**
 * Parses and validates config text. Returns the resolved, deeply frozen config, or throws a
 * {@link ConfigError} listing every problem found (a YAML syntax error stops at that error, as
 * nothing after it can be trusted).
 */
export function parseConfig (text: string, options: ParseOptions): Config {
  const fail = (problems: string[], cause?: unknown): ConfigError =>
    new ConfigError(problems, { ...(options.sourceName === undefined ? {} : { source: options.sourceName }), cause })

  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: false, lineCounter })
  const syntaxError = doc.errors[0]
  if (syntaxError !== undefined) {
    const { line, col } = lineCounter.linePos(syntaxError.pos[0])
    throw fail([`line ${line}, column ${col}: ${syntaxError.message}`])
  }
  let data: unknown
  try {
    // A low alias budget refuses "billion laughs" expansion; a config file never needs many.
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw fail([`(root): ${err instanceof Error ? err.message : String(err)}`], err)
  }

  const problems = new Problems()
  const resolved = resolveSources(data, ConfigSchema, { env: options.env, baseDir: options.baseDir, problems })
  // Semantic checks assume the schema's shape, so a shape problem ends the run here, unless
  // unknown keys were all that was wrong: then the rest is checked too, for one complete report.
  if (!checkShape(resolved, problems)) {
    const known = shapeWithoutUnknownKeys(resolved)
    if (known !== null) buildConfig(decode(ConfigSchema, known, problems) as RawConfig, problems, options.baseDir)
    throw fail(problems.lines)
  }
  const config = buildConfig(decode(ConfigSchema, resolved, problems) as RawConfig, problems, options.baseDir)
  if (problems.size > 0) throw fail(problems.lines)
  return deepFreeze(config)
}

/**
 * Reads and parses a config file; relative paths inside it are resolved against its directory.
 * An unreadable file is a {@link ConfigError} with code `PCS_CONFIG_UNREADABLE` naming the file.
 */
export function loadConfigFile (path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError([`${path}: cannot be read (${describeFsError(err)})`], { source: path, code: 'PCS_CONFIG_UNREADABLE', cause: err })
  }
  return parseConfig(text, { env, baseDir: dirname(resolve(path)), sourceName: path })
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
