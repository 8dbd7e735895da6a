/**
 * Brings outside values into the parsed file before it is validated: `${NAME}` / `${NAME:-default}`
 * from the environment inside string scalars, and `*_file` keys that read a secret from a file
 * (Docker and Kubernetes mount secrets as files). The walk follows the schema alongside the data,
 * so `tls.cert_file` (a real key that names a PEM file) is left alone while `client_secret_file`
 * (no such key, but `client_secret` exists) is read into `client_secret`.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Path, Problems } from './problems.js'

export interface SourceOptions {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly baseDir: string
  readonly problems: Problems
}

type SchemaNode = Record<string, unknown> | undefined

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s

/** Returns a copy of `value` with environment references substituted and `*_file` keys read. */
export function resolveSources (value: unknown, schema: unknown, options: SourceOptions, path: Path = []): unknown {
  const node = isRecord(schema) ? schema : undefined
  if (typeof value === 'string') return resolveString(value, node, options, path)
  if (Array.isArray(value)) return value.map((item, i) => resolveSources(item, node?.items, options, [...path, i]))
  if (isRecord(value)) return resolveObject(value, node, options, path)
  return value
}

function resolveObject (value: Record<string, unknown>, schema: SchemaNode, options: SourceOptions, path: Path): Record<string, unknown> {
  const properties = isRecord(schema?.properties) ? schema.properties : undefined
  const out: Record<string, unknown> = {}
  for (const [key, child] of Object.entries(value)) {
    const stem = key.endsWith('_file') ? key.slice(0, -'_file'.length) : ''
    if (properties !== undefined && stem !== '' && !(key in properties) && stem in properties) {
      const read = readFileKey(child, properties[stem], value, stem, options, [...path, key])
      if (read !== undefined) out[stem] = read
      continue
    }
    out[key] = resolveSources(child, properties?.[key] ?? patternSchema(schema), options, [...path, key])
  }
  return out
}

function readFileKey (fileValue: unknown, stemSchema: unknown, siblings: Record<string, unknown>, stem: string, options: SourceOptions, path: Path): unknown {
  const { problems } = options
  const stemPath = [...path.slice(0, -1), stem]
  if (stem in siblings) {
    problems.settle(path, `cannot be used together with ${stem}`)
    problems.settleOnly(stemPath)
    return undefined
  }
  const file = resolveSources(fileValue, { type: 'string' }, options, path)
  if (typeof file !== 'string' || file === '') {
    problems.settle(path, 'must be a file path')
    problems.settleOnly(stemPath)
    return undefined
  }
  const absolute = resolve(options.baseDir, file)
  let text: string
  try {
    text = readFileSync(absolute, 'utf8')
  } catch (err) {
    problems.settle(path, `cannot read ${absolute} (${describeFsError(err)})`)
    problems.settleOnly(stemPath)
    return undefined
  }
  // A list key (cookie secrets) takes one entry per line, so rotation is "add a line".
  if (isRecord(stemSchema) && stemSchema.type === 'array') {
    return text.split(/\r?\n/).filter(line => line !== '')
  }
  return text.replace(/[\r\n]+$/, '')
}

function resolveString (text: string, schema: SchemaNode, options: SourceOptions, path: Path): unknown {
  if (!text.includes('${')) return text
  let out = ''
  let i = 0
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${'
      i += 3
      continue
    }
    if (!text.startsWith('${', i)) {
      out += text[i]
      i += 1
      continue
    }
    const end = text.indexOf('}', i + 2)
    const match = end === -1 ? null : REFERENCE.exec(text.slice(i + 2, end))
    if (match === null) {
      const shown = end === -1 ? text.slice(i) : text.slice(i, end + 1)
      options.problems.settle(path, `invalid reference "${shown}": write \${NAME} or \${NAME:-default}, or $\${ for a literal "\${"`)
      return ''
    }
    const name = match[1] as string
    const fallback = match[2]
    const set = options.env[name]
    if (fallback !== undefined) {
      out += set === undefined || set === '' ? fallback : set
    } else if (set === undefined) {
      options.problems.settle(path, `environment variable ${name} is not set`)
      return ''
    } else {
      out += set
    }
    i = end + 1
  }
  // Environment values are text; a boolean key accepts the words true and false from them.
  if (schema?.type === 'boolean' && (out === 'true' || out === 'false')) return out === 'true'
  return out
}

function patternSchema (schema: SchemaNode): unknown {
  const patterns = schema?.patternProperties
  return isRecord(patterns) ? Object.values(patterns)[0] : undefined
}

export function describeFsError (err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory'
  return code ?? String(err)
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
