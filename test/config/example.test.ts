import { googleProfile } from '../../src/config/profiles/google.js'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { DEFAULTS } from '../../src/config/defaults.js'
import { loadConfigFile } from '../../src/config/load.js'
import { ConfigSchema } from '../../src/config/schema.js'
import { renderExample } from '../../src/config/example.js'

const EXAMPLE = fileURLToPath(new URL('../../config/portcullis.example.yaml', import.meta.url))
const text = readFileSync(EXAMPLE, 'utf8')
const env = {
  GOOGLE_CLIENT_ID: 'example-client-id',
  GOOGLE_CLIENT_SECRET: 'example-client-secret',
  COOKIE_SECRET: 'example-cookie-secret-at-least-32-bytes-long'
}

/** The example with its commented-out keys (`# key: value`) switched on, so they can be found by path. */
function withCommentedKeys (source: string): unknown {
  return parse(source.replace(/^(\s*)# (\s*[a-z_]+:(?: |$))/gm, '$1$2'))
}

/** Every key path of a schema, list items written as `[]` (e.g. `routes[].path`). */
function schemaPaths (schema: any, prefix = ''): string[] {
  if (schema.type === 'array') return schemaPaths(schema.items, `${prefix}[]`)
  if (schema.type !== 'object' || schema.properties === undefined) return []
  return Object.entries(schema.properties).flatMap(([key, child]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`
    return [path, ...schemaPaths(child, path)]
  })
}

/** Whether `path` exists in `doc`; `[]` matches when any list item has the rest. */
function hasPath (doc: any, path: string): boolean {
  const [head, ...rest] = path.split('.')
  const listed = head?.endsWith('[]') ?? false
  const key = listed ? head!.slice(0, -2) : head!
  if (doc === null || typeof doc !== 'object' || !(key in doc)) return false
  const value = doc[key]
  if (rest.length === 0) return true
  if (listed) return Array.isArray(value) && value.some(item => hasPath(item, rest.join('.')))
  return hasPath(value, rest.join('.'))
}

t.test('example: config/portcullis.example.yaml is a valid config once its variables are set', async t => {
  const config = loadConfigFile(EXAMPLE, env)
  t.equal(config.provider.clientSecret, env.GOOGLE_CLIENT_SECRET)
  t.equal(config.routes.length, 3)
})

t.test('example: every key of the schema appears in the example (live or commented out)', async t => {
  const doc = withCommentedKeys(text)
  // A route's allow rule has exactly the keys of `access`, which the example documents there.
  const paths = schemaPaths(ConfigSchema).filter(p => !p.startsWith('routes[].allow.'))
  for (const deep of ['server.tls.key_file', 'redis.sentinel.nodes', 'routes[].methods', 'identity.assertion.ttl']) {
    t.ok(paths.includes(deep), `the walk reaches ${deep}`)
  }
  const missing = paths.filter(p => !hasPath(doc, p))
  t.strictSame(missing, [])
})

t.test('example: every value the example writes out for a defaulted key is the default', async t => {
  const doc = parse(text)
  const mismatches: string[] = []
  const walk = (defaults: any, actual: any, path: string): void => {
    for (const [key, value] of Object.entries(defaults)) {
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) walk(value, actual?.[key], `${path}.${key}`)
      else if (JSON.stringify(actual?.[key]) !== JSON.stringify(value)) mismatches.push(`${path}.${key}: example ${JSON.stringify(actual?.[key])}, default ${JSON.stringify(value)}`)
    }
  }
  for (const section of ['server', 'provider', 'session', 'redis', 'identity', 'logging', 'metrics', 'bearer'] as const) {
    walk(DEFAULTS[section], doc[section], section)
  }
  walk({ issuer: googleProfile.defaultIssuer, prompt: googleProfile.defaultPrompt }, doc.provider, 'provider')
  t.strictSame(mismatches, [])
})

t.test('example: secrets are taken from the environment, never written in the file', async t => {
  const doc = parse(text)
  t.equal(doc.provider.client_secret, '${GOOGLE_CLIENT_SECRET}')
  t.strictSame(doc.session.cookie.secrets, ['${COOKIE_SECRET}'])
})

t.test('example: the committed file is what the schema renders (run npm run config:example after changing a key)', async t => {
  t.equal(text, renderExample(), 'config/portcullis.example.yaml is stale: run npm run config:example')
})

t.test('example: the rendered file shows each description and default next to its key', async t => {
  const rendered = renderExample()
  t.match(rendered, /# Absolute session lifetime\. Default: 7d\n  lifetime: 7d\n/)
  t.match(rendered, /# admin:\n/, 'an optional section whose absence means "off" is commented out')
})
