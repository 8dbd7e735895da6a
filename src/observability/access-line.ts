import { pino, type Logger } from 'pino'

/*
 * The access log line, serialised by hand.
 *
 * Every request writes one, so its cost is paid on every request: going through the logging
 * library's general path (argument handling, message formatting, a walk over the object's keys
 * with a type switch per value) cost more than anything else the gateway itself did on a cached
 * signed-in request. The line's fields are fixed and known, so it is assembled directly from the
 * logger's own pieces (its level label, timestamp, bindings and line end), and the result is the
 * same JSON line, field for field, that the logger would write (tested). A logger configured with
 * anything that could change a line (a mixin, a log formatter, a nested key, a message prefix,
 * a stream hook, a stream that wants metadata) gets the ordinary path instead.
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
  readonly outcome: string | undefined
  /** The client's address (through trusted proxies) and user agent (cut to a bounded length). */
  readonly client: string | undefined
  readonly userAgent: string | undefined
}

type Internals = Record<symbol, unknown>

/** A writer of access lines (`msg: "request"`, level info) through `logger`. */
export function createAccessLineWriter (logger: Logger): (fields: AccessFields) => void {
  const s = pino.symbols
  const l = logger as unknown as Internals
  const stream = l[s.streamSym] as { write?: unknown } | undefined
  const formatters = l[s.formattersSym] as { log?: unknown } | undefined
  const hooks = l[s.hooksSym] as { streamWrite?: unknown } | undefined
  const levelPrefix = (l[s.lsCacheSym] as Record<number, string> | undefined)?.[logger.levels.values.info as number]
  const plain = typeof stream?.write === 'function' &&
    (stream as Internals)[s.needsMetadataGsym] !== true &&
    l[s.mixinSym] == null && formatters?.log === undefined && hooks?.streamWrite == null &&
    l[s.nestedKeySym] == null && l[(s as unknown as Record<string, symbol>).msgPrefixSym as symbol] == null && l[s.messageKeySym] === 'msg' &&
    typeof levelPrefix === 'string' && typeof l[s.timeSym] === 'function' && typeof l[s.chindingsSym] === 'string'
  if (!plain) return (fields) => { logger.info({ ...fields }, 'request') }

  const out = stream as { write (line: string): unknown }
  const time = l[s.timeSym] as () => string
  const chindings = l[s.chindingsSym] as string
  const end = `,"msg":"request"${l[s.endSym] as string}`
  const str = (value: string | undefined, key: string): string => value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`
  return (f) => {
    out.write(levelPrefix + time() + chindings +
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
