import type { Logger } from 'pino'
import type { AccessOutcome } from '../domain/outcomes.js'
import { isoTimestamp } from './log-destination.js'
import { baseFieldsText, jsonLineOutput } from './logger.js'

/*
 * The access log line, serialised by hand.
 *
 * Every request writes one, so its cost is paid on every request: going through the logging
 * library's general path (argument handling, message formatting, a walk over the object's keys
 * with a type switch per value) cost more than anything else the gateway itself did on a cached
 * signed-in request. The line's fields are fixed and known, so it is assembled directly and
 * written to the JSON logger's own destination (logger.ts), and the result is the same JSON line,
 * field for field, that the logger would write (tested). Any other logger (the pretty format, one
 * made elsewhere) gets the ordinary path instead.
 */

/** The fields of one access line, in the order they are written. */
export interface AccessFields {
  readonly requestId: string
  readonly method: string
  readonly path: string | undefined
  readonly status: number
  readonly durationMs: number
  readonly route: string
  readonly upstream: string | undefined
  readonly user: string | undefined
  readonly outcome: AccessOutcome | undefined
  /** The client's address (through trusted proxies) and user agent (cut to a bounded length). */
  readonly client: string | undefined
  readonly userAgent: string | undefined
}

const levelText = '{"level":"info"'
const end = ',"msg":"request"}\n'
const str = (value: string | undefined, key: string): string => value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`

/**
 * A writer of access lines (`msg: "request"`, level info) for `logger`. The line's fields hold no
 * secret (the path without its query, the subject, never a header or cookie), so the ordinary
 * path skips the redaction pass too.
 */
export function createAccessLineWriter (logger: Logger): (fields: AccessFields) => void {
  const out = jsonLineOutput(logger)
  if (out === undefined) {
    const plain = logger.child({}, { redact: [] })
    return (fields) => { plain.info({ ...fields }, 'request') }
  }
  return (f) => {
    out.write(levelText + isoTimestamp() + baseFieldsText +
      `,"requestId":${JSON.stringify(f.requestId)},"method":${JSON.stringify(f.method)}` + str(f.path, 'path') +
      `,"status":${numberText(f.status)},"durationMs":${numberText(f.durationMs)},"route":${JSON.stringify(f.route)}` +
      str(f.upstream, 'upstream') + str(f.user, 'user') + str(f.outcome, 'outcome') + str(f.client, 'client') + str(f.userAgent, 'userAgent') + end)
  }
}

/**
 * A number as JSON writes it. Durations have at most two decimals: those are written from their
 * integer hundredths, which gives exactly the text `String` would (the shortest decimal that reads
 * back as the same number) without the general double-to-text conversion.
 */
export function numberText (value: number): string {
  if (!Number.isFinite(value)) return 'null'
  if (!(value >= 0 && value < 1e12)) return String(value)
  const hundredths = Math.round(value * 100)
  if (hundredths / 100 !== value) return String(value)
  const whole = Math.floor(hundredths / 100)
  const fraction = hundredths - whole * 100
  if (fraction === 0) return String(whole)
  return fraction % 10 === 0 ? `${whole}.${fraction / 10}` : `${whole}.${fraction < 10 ? '0' : ''}${fraction}`
}
