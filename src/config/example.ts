/**
 * Writes config/portcullis.example.yaml from the schema: every key with its description as a
 * comment, its example or default as the value, optional keys whose absence means something
 * commented out. `npm run config:example` writes the file; test/config/example.test.ts fails
 * when the committed file differs from what this renders.
 */
import { stringify } from 'yaml'
import { EXAMPLE, isRecord } from './key.js'
import type { Example } from './key.js'
import { ConfigSchema } from './schema.js'

const WIDTH = 100

type Node = Record<string | symbol, unknown>


/** A key whose children are keys of the schema (a section), not a free-form mapping. */
function propertiesOf (node: Node): Record<string, Node> | null {
  return node.type === 'object' && isRecord(node.properties) ? node.properties as Record<string, Node> : null
}

/** A value on one line, in YAML flow style (`[openid, email]`, `"portcullis:"`). */
function flow (value: unknown): string {
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0, flowCollectionPadding: false }).trimEnd()
}

/** `text` wrapped into `# ` comment lines at `indent`; `\n` starts a new line, `\n\n` leaves an empty one. */
function comment (text: string, indent: string): string[] {
  const out: string[] = []
  for (const paragraph of text.split('\n')) {
    if (paragraph === '') {
      out.push(`${indent}#`)
      continue
    }
    let line = ''
    for (const word of paragraph.split(' ')) {
      if (line !== '' && indent.length + 2 + line.length + 1 + word.length > WIDTH) {
        // A comment line must not start with `key:`, or it would read as a commented-out key.
        const cut = /^[a-z_]+:$/.test(word) ? line.lastIndexOf(' ') : -1
        out.push(`${indent}# ${cut === -1 ? line : line.slice(0, cut)}`)
        line = cut === -1 ? word : `${line.slice(cut + 1)} ${word}`
      } else {
        line = line === '' ? word : `${line} ${word}`
      }
    }
    out.push(`${indent}# ${line}`)
  }
  return out
}

/** A key's description, with `Default: ...` added for a plain value that has one and does not say it already. */
function describe (node: Node): string | null {
  const description = typeof node.description === 'string' && node.description !== '' ? node.description : null
  const isValue = propertiesOf(node) === null && !(node.type === 'array' && propertiesOf((node.items ?? {}) as Node) !== null)
  if (!isValue || node.default === undefined || description?.includes('Default:') === true) return description
  const note = `Default: ${flow(node.default)}`
  return description === null ? note : `${description} ${note}`
}

/** What the example file shows for a key: its example, else its default. */
function valueOf (node: Node): { value: unknown, commented: boolean } {
  const example = node[EXAMPLE] as Example | undefined
  return example ?? { value: node.default, commented: false }
}

/** The lines of a plain value (no descriptions below it): `key: value`, or nested mappings. */
function plain (name: string, value: unknown, indent: string): string[] {
  if (!isRecord(value) || Object.keys(value).length === 0) return [`${indent}${name}: ${flow(value)}`]
  return [`${indent}${name}:`, ...Object.entries(value).flatMap(([k, v]) => plain(k, v, `${indent}  `))]
}

function render (name: string, node: Node, indent: string): string[] {
  const description = describe(node)
  const head = description === null ? [] : comment(description, indent)
  const { value, commented } = valueOf(node)
  const properties = propertiesOf(node)
  let body: string[]
  if (properties !== null && !(isRecord(value) && Object.keys(value).length > 0)) {
    // A section: each key with its own description and value.
    body = [`${indent}${name}:`, ...Object.entries(properties).flatMap(([k, child]) => render(k, child, `${indent}  `))]
  } else if (node.type === 'array' && Array.isArray(value) && value.some(isRecord)) {
    body = [`${indent}${name}:`, ...items(value, (node.items ?? {}) as Node, indent)]
  } else if (value === undefined) {
    return []
  } else {
    body = plain(name, value, indent)
  }
  if (commented) body = body.map(line => `${indent}# ${line.slice(indent.length)}`)
  return [...head, ...body]
}

/** A list of mappings (the routes): each key's description the first time the key appears. */
function items (list: unknown[], item: Node, indent: string): string[] {
  const properties = propertiesOf(item) ?? {}
  const described = new Set<string>()
  const out: string[] = []
  for (const entry of list.filter(isRecord)) {
    Object.entries(entry).forEach(([k, v], i) => {
      const child = properties[k] ?? {}
      const description = described.has(k) ? null : describe(child)
      described.add(k)
      if (description !== null) out.push(...comment(description, `${indent}    `))
      out.push(`${indent}${i === 0 ? '  - ' : '    '}${k}: ${flow(v)}`)
    })
  }
  return out
}

/** The example config file, rendered from the schema. */
export function renderExample (schema: unknown = ConfigSchema): string {
  const root = schema as Node
  const lines = comment(String(root.description ?? ''), '')
  for (const [name, child] of Object.entries(propertiesOf(root) ?? {})) lines.push('', ...render(name, child, ''))
  return `${lines.join('\n')}\n`
}
