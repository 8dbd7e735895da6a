/**
 * The building blocks of the config schema: each key is one TypeBox schema that carries its type,
 * its default (`default`, filled in by Ajv) and its description (`description`, the comment the
 * example file shows above it). Durations are a TypeBox Transform: the file's text (`7d`, `60s`,
 * a whole number of seconds) decodes to milliseconds and encodes back to the shortest text.
 *
 * What the example file writes for a key that has no default (or a livelier value than its
 * default) rides on a symbol, which Ajv does not see, so the schema stays valid in strict mode.
 */
import { Type } from '@sinclair/typebox'
import type { SchemaOptions, TSchema, TProperties } from '@sinclair/typebox'
import { formatDuration, parseDuration } from './duration.js'
import { formatHostPort, parseHostPort } from './syntax.js'

/** The value the example file shows for a key; `commented` writes it as a comment (`# key: value`). */
export interface Example {
  readonly value: unknown
  readonly commented: boolean
}

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export const EXAMPLE = Symbol('portcullis.config.example')

export interface KeyOptions {
  /** Filled in by Ajv when the key is absent, and written in the example file. */
  readonly default?: unknown
  /** What the example file writes instead of the default. */
  readonly example?: unknown
  /** Write the example as a comment (an optional key whose absence means something). */
  readonly commented?: boolean
}

/** Annotates `schema` with its description, default and example. */
export function key<T extends TSchema> (schema: T, description: string, options: KeyOptions = {}): T {
  // TypeBox's own annotations (SchemaOptions), written on the schema as Type.*(…, options) would.
  const annotations: SchemaOptions = schema
  annotations.description = description
  if ('default' in options) annotations.default = options.default
  if (!('example' in options) && options.commented !== true) return schema
  const example: Example = { value: 'example' in options ? options.example : options.default, commented: options.commented ?? false }
  return Object.assign(schema, { [EXAMPLE]: example })
}

/** A closed object: unknown keys are errors at every depth. Defaults to `{}` so Ajv fills its keys. */
export function Section<T extends TProperties> (properties: T, description = '', options: KeyOptions = { default: {} }) {
  return key(Type.Object(properties, { additionalProperties: false }), description, options)
}

/** A closed object without a default (it is either written whole or absent). */
export function Obj<T extends TProperties> (properties: T) {
  return Type.Object(properties, { additionalProperties: false })
}

/** A string enum as a plain `enum` keyword, so a wrong value yields one error instead of one per branch. */
export function OneOf<const T extends readonly string[]> (values: T) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] })
}

/** A non-empty string. */
export const Str = (): ReturnType<typeof Type.String> => Type.String({ minLength: 1 })

export const StrList = () => Type.Array(Str())

export const DURATION_MESSAGE = 'must be a duration such as 500ms, 60s, 30m, 24h or 7d, or a whole number of seconds'

/**
 * A problem a codec reports while decoding one value; the walk adds it with the value's path and
 * goes on with `standIn` (or the key's decoded default), so later checks do not pile on.
 */
export class CodecError extends Error {
  constructor (message: string, readonly standIn?: unknown) {
    super(message)
  }
}

/**
 * How a decoded key is named in the resolved config: its camelCase name plus `suffix` (a
 * duration's `Ms`), or, `inline`, its decoded fields spread into the parent (`server.listen`
 * becomes `server.host` and `server.port`).
 */
export const FIELD = Symbol('portcullis.config.field')
export interface Field {
  readonly suffix?: string
  readonly inline?: boolean
}

/** Marks how `schema`'s decoded value is named in the resolved config (see {@link FIELD}). */
export function field<T extends TSchema, const F extends Field> (schema: T, options: F): T & { readonly [FIELD]: F } {
  return Object.assign(schema, { [FIELD]: options })
}

/** `7d`, `24h`, `30m`, `60s`, `500ms` or a whole number of seconds; decodes to milliseconds (> 0). */
export const Duration = () => field(Type.Transform(Type.Unsafe<string | number>({ type: ['string', 'integer'] }))
  .Decode((text): number => {
    const ms = parseDuration(text)
    if (ms === null) throw new CodecError(DURATION_MESSAGE)
    if (ms === 0) throw new CodecError('must be greater than 0')
    return ms
  })
  .Encode(orUnset((ms: number): string | number => formatDuration(ms))), { suffix: 'Ms' })

/** An encoder that leaves an unset (null) value out of the file instead of encoding it. */
function orUnset<T, R> (encode: (value: T) => R): (value: T) => R {
  return value => (value === null ? undefined : encode(value)) as R
}

export interface Address {
  readonly host: string
  readonly port: number
}

/** `host:port` (`[::1]:4180` for IPv6); decodes to `{ host, port }`. */
export const HostPort = () => Type.Transform(Str())
  .Decode((text): Address => {
    const address = parseHostPort(text)
    if (address === null) throw new CodecError('must be host:port', { host: '0.0.0.0', port: 0 })
    return address
  })
  .Encode(orUnset((address: Address): string => formatHostPort(address.host, address.port)))

/** Text where `""` means "none": decodes `""` to null, and encodes null back to `""`. */
export const TextOrNone = () => Type.Transform(Type.String())
  .Decode((text): string | null => text === '' ? null : text)
  .Encode((value): string => value ?? '')
