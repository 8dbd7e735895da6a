/**
 * Checks the file's shape against the schema with Ajv and rewrites Ajv's errors as operator-facing
 * problems (`provider.clent_id: unknown key`, `session.lifetime: must be a duration ...`).
 */
import { Ajv } from 'ajv'
import type { ErrorObject } from 'ajv'
import { ConfigSchema } from './schema.js'
import type { RawConfig } from './schema.js'
import { DURATION_MESSAGE } from './fields.js'
import type { Path, Problems } from './problems.js'

// Strict mode makes a typo in the schema itself (an unknown keyword) fail loudly at start-up.
// Union types are allowed for durations only (`7d` or a number of seconds).
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true })
const validate = ajv.compile<RawConfig>(ConfigSchema)

const TYPE_MESSAGES: Record<string, string> = {
  string: 'must be a string',
  boolean: 'must be true or false',
  integer: 'must be a whole number',
  number: 'must be a number',
  array: 'must be a list',
  object: 'must be a mapping',
  'string,integer': DURATION_MESSAGE
}

/** True when `data` has the schema's shape; otherwise every shape problem is added to `problems`. */
export function checkShape (data: unknown, problems: Problems): data is RawConfig {
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

function describe (error: ErrorObject, path: Path): [Path, string] {
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties':
      return [[...path, String(params.additionalProperty)], 'unknown key']
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
