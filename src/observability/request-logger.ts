import type { Logger } from 'pino'

/*
 * The per-request logger, created only when a request logs something.
 *
 * The web framework gives every request a child logger bound to its request id. Building a child
 * costs a serialisation of its bindings, and with the redaction paths the gateway uses that is a
 * clone and walk of the bindings too: on the signed-in path it was paid on every request, although
 * most requests log nothing but their access line (which carries the request id itself). This
 * logger stands in for that child and builds the real one, with exactly the same bindings and
 * options and therefore the same redaction, the first time a line at an enabled level is written.
 */

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogFn = (...args: unknown[]) => void

class RequestLogger {
  #child: Logger | null = null
  readonly #parent: Logger
  readonly #bindings: Record<string, unknown>
  readonly #options: Record<string, unknown>
  /** A route's own level (`logLevel`), or null to follow the parent's current level. */
  readonly #level: string | null

  constructor (parent: Logger, bindings: Record<string, unknown>, options: Record<string, unknown>, level: string | null) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    this.#level = level
  }

  /** The real child logger, built once. */
  real (): Logger {
    if (this.#child === null) this.#child = this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  isLevelEnabled (level: string): boolean {
    if (this.#child !== null) return this.#child.isLevelEnabled(level)
    if (this.#level === null) return this.#parent.isLevelEnabled(level)
    const values = this.#parent.levels.values
    const wanted = values[level]
    const threshold = values[this.#level]
    return wanted !== undefined && threshold !== undefined && wanted >= threshold
  }

  #log (level: Level, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return
    ;(this.real()[level] as LogFn)(...args)
  }

  fatal (...args: unknown[]): void { this.#log('fatal', args) }
  error (...args: unknown[]): void { this.#log('error', args) }
  warn (...args: unknown[]): void { this.#log('warn', args) }
  info (...args: unknown[]): void { this.#log('info', args) }
  debug (...args: unknown[]): void { this.#log('debug', args) }
  trace (...args: unknown[]): void { this.#log('trace', args) }
  silent (): void {}

  child (bindings: Record<string, unknown>, options?: Record<string, unknown>): Logger {
    return this.real().child(bindings, options)
  }

  bindings (): Record<string, unknown> { return this.real().bindings() }

  get level (): string { return this.#child?.level ?? this.#level ?? this.#parent.level }
  set level (level: string) { this.real().level = level }

  get levels (): Logger['levels'] { return this.#parent.levels }
}

/**
 * The framework's `childLoggerFactory`: a request logger that binds the request id like the
 * default child logger and builds that child only when a line is written. Options other than a
 * route's `logLevel` (route serializers) are rare: those requests get the real child at once.
 */
export function lazyChildLoggerFactory (logger: Logger, bindings: Record<string, unknown>, options: Record<string, unknown>): Logger {
  let onlyLevel = true
  for (const key in options) {
    if (key !== 'level') onlyLevel = false
  }
  if (!onlyLevel) return logger.child(bindings, options)
  const level = typeof options.level === 'string' ? options.level : null
  return new RequestLogger(logger, bindings, options, level) as unknown as Logger
}

/** Whether a request's logger writes debug lines (so a debug line's object is built only then). */
export function debugEnabled (request: { readonly log: unknown }): boolean {
  return (request.log as { isLevelEnabled (level: string): boolean }).isLevelEnabled('debug')
}
