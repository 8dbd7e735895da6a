import { pino, type Logger, type LoggerOptions } from 'pino'
import type { LoggingConfig } from '../config/types.js'

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

/**
 * Creates the process logger: JSON lines by default, human-readable with `logging.format: pretty`
 * (the pretty printer is optional and only loaded when asked for).
 */
export function createLogger (config: LoggingConfig, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level: config.level,
    redact: { paths: [...redactPaths], censor: '[redacted]' },
    base: { service: 'portcullis' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) }
  }
  if (destination !== undefined) return pino(options, destination)
  if (config.format === 'pretty') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: false, singleLine: true } } })
  }
  return pino(options)
}

export type { Logger }
