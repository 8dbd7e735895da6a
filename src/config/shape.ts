/**
 * Checks the file's shape against the schema with Ajv and rewrites Ajv's errors as operator-facing
 * problems (`provider.clent_id: unknown key`, `session.lifetime: must be a duration ...`).
 */
import { Ajv } from 'ajv'
import type { ErrorObject } from 'ajv'
import { ConfigSchema } from './schema.js'
import type { StaticEncode } from '@sinclair/typebox'
import { DURATION_MESSAGE } from './key.js'
import type { Path, Problems } from './problems.js'

// Strict mode makes a typo in the schema itself (an unknown keyword) fail loudly at start-up.
// Union types are allowed for durations only (`7d` or a number of seconds).
// `verbose` hands each error its parent schema, where the known keys for a suggestion are found.
// `useDefaults` fills every absent key that has a default in place (sections default to `{}`, so
// their keys are filled too).
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, useDefaults: true })
const validate = ajv.compile<FileConfig>(ConfigSchema)
// The same schema, dropping unknown keys instead of reporting them (see shapeWithoutUnknownKeys).
const stripUnknown = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, removeAdditional: 'all', useDefaults: true }).compile<FileConfig>(ConfigSchema)

const TYPE_MESSAGES: Record<string, string> = {
  string: 'must be a string',
  boolean: 'must be true or false',
  integer: 'must be a whole number',
  number: 'must be a number',
  array: 'must be a list',
  object: 'must be a mapping',
  'string,integer': DURATION_MESSAGE
}

/** The config file as written, once it has passed the schema (defaults filled, durations still text). */
export type FileConfig = StaticEncode<typeof ConfigSchema>

/**
 * True when `data` has the schema's shape (its absent keys are then filled with their defaults);
 * otherwise every shape problem is added to `problems`.
 */
export function checkShape (data: unknown, problems: Problems): data is FileConfig {
  if (data === null || data === undefined) {
    problems.add([], 'the file is empty')
    return false
  }
  if (validate(data)) return true
  for (const error of validate.errors ?? []) {
    const path = toPath(error.instancePath, data)
    const [where, message] = describe(error, path)
    problems.add(where, message)
  }
  return false
}

/**
 * A copy of `data` with every unknown key dropped, when that is all that was wrong with its shape;
 * null otherwise. The semantic checks can then run too, so one pass reports a misspelt key and,
 * say, a missing client secret together.
 */
export function shapeWithoutUnknownKeys (data: unknown): FileConfig | null {
  if (data === null || typeof data !== 'object') return null
  const copy = structuredClone(data)
  return stripUnknown(copy) ? copy : null
}

/** The known key closest to `key` (edit distance at most a third of its length, at least 2), or null. */
export function nearestKey (key: string, known: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const swapped = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1] ? (previous[j - 2] ?? 0) : Infinity
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1), swapped)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

function describe (error: ErrorObject, path: Path): [Path, string] {
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const known = Object.keys((error.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {})
      const suggestion = nearestKey(key, known)
      return [[...path, key], suggestion === null ? 'unknown key' : `unknown key (did you mean ${suggestion}?)`]
    }
    case 'required':
      return [[...path, String(params.missingProperty)], 'is required']
    case 'type':
      return [path, TYPE_MESSAGES[String(params.type)] ?? `must be ${String(params.type)}`]
    case 'enum':
      return [path, `must be one of: ${(params.allowedValues as unknown[]).join(', ')}`]
    case 'minLength':
      return [path, 'must not be empty']
    case 'minItems':
      return [path, params.limit === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} entries`]
    default:
      return [path, error.message ?? 'is invalid']
  }
}

/** Turns a JSON pointer into key path segments, using the data to tell list indexes from keys. */
function toPath (pointer: string, data: unknown): Path {
  if (pointer === '') return []
  const path: Array<string | number> = []
  let node: unknown = data
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(node)) {
      path.push(Number(key))
      node = node[Number(key)]
    } else {
      path.push(key)
      node = (node as Record<string, unknown> | undefined)?.[key]
    }
  }
  return path
}
