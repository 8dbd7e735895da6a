/**
 * Walks the config schema beside a value: `decode` turns the file's text into working values
 * (durations to milliseconds) through each key's TypeBox Transform, reporting a value that does
 * not decode with its path; `encode` is the way back, which `portcullis check` prints;
 * `defaultsOf` collects the defaults the schema declares.
 */
import { OptionalKind, TransformKind } from '@sinclair/typebox'
import type { TransformOptions } from '@sinclair/typebox'
import { CodecError, isRecord } from './key.js'
import { camel, fieldOf } from './resolved.js'
import type { Path, Problems } from './problems.js'

type Node = Record<string | symbol, unknown>


function codecOf (schema: Node): TransformOptions | undefined {
  return schema[TransformKind] as TransformOptions | undefined
}

/**
 * A copy of `value` with every transformed key decoded. A value that does not decode is reported
 * at its path and replaced by its decoded default, so later checks see a usable stand-in.
 */
export function decode (schema: unknown, value: unknown, problems: Problems, path: Path = []): unknown {
  return walk(schema, value, path, (codec, node, v, at) => {
    try {
      return codec.Decode(v)
    } catch (err) {
      if (!(err instanceof CodecError)) throw err
      problems.add(at, err.message)
      if (err.standIn !== undefined) return err.standIn
      return node.default === undefined ? undefined : codec.Decode(node.default)
    }
  })
}

/** A copy of `value` with every transformed key encoded back to the file's terms. */
export function encode (schema: unknown, value: unknown): unknown {
  return walk(schema, value, [], (codec, _node, v) => codec.Encode(v))
}

function walk (schema: unknown, value: unknown, path: Path, apply: (codec: TransformOptions, node: Node, value: unknown, path: Path) => unknown): unknown {
  if (!isRecord(schema)) return value
  const node = schema as Node
  const codec = codecOf(node)
  if (codec !== undefined && value !== undefined) return apply(codec, node, value, path)
  if (Array.isArray(value)) return value.map((item, i) => walk(node.items, item, [...path, i], apply))
  if (isRecord(value) && isRecord(node.properties)) {
    const properties = node.properties
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(properties[k], v, [...path, k], apply)]))
  }
  return value
}

/**
 * The defaults the schema declares, as one object in file terms (keys without a default left out,
 * and sections that are absent unless written, such as `server.tls`).
 */
export function defaultsOf (schema: unknown): unknown {
  if (!isRecord(schema)) return undefined
  const absentUnlessWritten = (schema as Node)[OptionalKind] !== undefined && schema.default === undefined
  if (schema.type === 'object' && isRecord(schema.properties) && !absentUnlessWritten) {
    const out: Record<string, unknown> = {}
    for (const [k, child] of Object.entries(schema.properties)) {
      const value = defaultsOf(child)
      if (value !== undefined) out[k] = value
    }
    return out
  }
  return schema.default
}

/**
 * The way back from a resolved config to the file: every key of the schema is read from its
 * camelCase field (with the field's suffix, or from the parent for an inline field), encoded
 * through its codec, and left out when unset (null). Mappings of user-chosen names (claims) keep
 * their keys as written.
 */
export function toFile (schema: unknown, resolved: unknown): unknown {
  if (!isRecord(schema) || resolved === undefined) return resolved
  const node = schema as Node
  const codec = codecOf(node)
  // A codec sees null ("unset") too: most leave the key out, `TextOrNone` writes "".
  if (codec !== undefined) return codec.Encode(resolved) ?? undefined
  if (resolved === null) return undefined
  if (Array.isArray(resolved)) return resolved.map(item => toFile(node.items, item))
  if (!isRecord(node.properties) || !isRecord(resolved)) return resolved
  const out: Record<string, unknown> = {}
  for (const [key, child] of Object.entries(node.properties)) {
    const name = fieldOf(child)
    const value = toFile(child, name.inline === true ? resolved : resolved[camel(key) + (name.suffix ?? '')])
    if (value !== undefined) out[key] = value
  }
  return out
}
