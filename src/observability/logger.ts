import { pino, type Logger, type LoggerOptions } from 'pino'
import pretty from 'pino-pretty'
import type { LoggingConfig } from '../config/types.js'
import { batchedDestination, isoTimestamp } from './log-destination.js'

/**
 * Paths pino replaces with `[redacted]` wherever they appear in a log object. The gateway never
 * logs a token on purpose; this is the net under that rule for objects that carry headers or
 * errors from lower libraries.
 */
export const redactPaths: readonly string[] = Object.freeze([
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-forwarded-access-token"]',
  'req.headers["x-portcullis-assertion"]',
  'headers["x-portcullis-assertion"]',
  '*.assertion',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  'headers["x-forwarded-access-token"]',
  '*.headers.cookie',
  '*.headers.authorization',
  '*.headers["set-cookie"]',
  '*.headers["x-forwarded-access-token"]',
  'cookie',
  'authorization',
  'access_token',
  'refresh_token',
  'id_token',
  'accessToken',
  'refreshToken',
  'idToken',
  'client_secret',
  'clientSecret',
  'tokens',
  '*.tokens',
  '*.codeVerifier',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.accessToken',
  '*.refreshToken',
  '*.idToken',
  '*.client_secret',
  '*.clientSecret',
  '*.code_verifier',
  '*.password',
  '*.secrets'
])

/** The fields every line of the gateway's loggers carries after `level` and `time`. */
const base = { service: 'portcullis' } as const

/** `base` as it appears in a JSON line, for writers that serialise a line themselves. */
export const baseFieldsText = `,${JSON.stringify(base).slice(1, -1)}`

/** Where a JSON logger made here writes its lines (see {@link jsonLineOutput}). */
export interface JsonLineOutput {
  write (line: string): unknown
}

const jsonOutputs = new WeakMap<Logger, JsonLineOutput>()

/**
 * The destination a JSON logger made by {@link createLogger} writes its lines to, for a writer
 * that serialises one fixed line itself (the access line) into the same stream, in order with
 * the logger's own lines. Such a line must read exactly as the logger would write it:
 * `{"level":"…"`, the time (`isoTimestamp()`), {@link baseFieldsText}, the fields,
 * `,"msg":"…"}` and a newline. Undefined for any other logger (the pretty format, a child, a
 * logger made elsewhere): those lines go through the logger.
 */
export function jsonLineOutput (logger: Logger): JsonLineOutput | undefined {
  return jsonOutputs.get(logger)
}

function withJsonOutput (logger: Logger, output: JsonLineOutput): Logger {
  jsonOutputs.set(logger, output)
  return logger
}

/**
 * Creates the process logger: JSON lines on stdout by default, one human-readable line per event
 * with `logging.format: pretty`. Both write synchronously in this thread (no worker transport);
 * JSON lines are gathered per event-loop turn and written together, and anything gathered is
 * written before the process exits (see log-destination.ts), so the last lines before an exit at
 * shutdown are never lost. Redaction applies to both.
 * `destination` (tests) receives the JSON lines whatever the format.
 */
export function createLogger (config: LoggingConfig, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level: config.level,
    redact: { paths: [...redactPaths], censor: '[redacted]' },
    base,
    timestamp: isoTimestamp,
    formatters: { level: (label) => ({ level: label }) }
  }
  if (destination !== undefined) return withJsonOutput(pino(options, destination), destination)
  if (config.format === 'pretty') {
    return pino(options, pretty({ colorize: false, singleLine: true, sync: true, translateTime: 'SYS:standard', ignore: 'service' }))
  }
  const out = batchedDestination(1)
  return withJsonOutput(pino(options, out), out)
}

export type { Logger }
