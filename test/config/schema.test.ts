import t from 'tap'
import { Ajv } from 'ajv'
import { ConfigSchema } from '../../src/config/schema.js'
import { lines } from '../fixtures/config/base.js'

/** Every object schema inside `schema`, with its path. */
function objects (schema: any, path = '(root)'): Array<[string, any]> {
  if (schema === null || typeof schema !== 'object') return []
  const own: Array<[string, any]> = schema.type === 'object' ? [[path, schema]] : []
  const children = [
    ...Object.entries(schema.properties ?? {}).map(([k, v]) => [`${path}.${k}`, v] as const),
    ...Object.values(schema.patternProperties ?? {}).map(v => [`${path}.*`, v] as const),
    ...(schema.items === undefined ? [] : [[`${path}[]`, schema.items] as const])
  ]
  return [...own, ...children.flatMap(([p, v]) => objects(v, p))]
}

t.test('schema: every object is closed (additionalProperties: false)', async t => {
  const all = objects(ConfigSchema)
  const paths = all.map(([p]) => p)
  for (const deep of ['(root).redis.sentinel', '(root).routes[]', '(root).routes[].allow', '(root).access.claims']) t.ok(paths.includes(deep), `the walk reaches ${deep}`)
  t.strictSame(all.filter(([, s]) => s.additionalProperties !== false).map(([p]) => p), [])
})

t.test('schema: compiles under Ajv strict mode', async t => {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true })
  t.equal(typeof ajv.compile(ConfigSchema), 'function')
})

t.test('schema: only durations use a union type', async t => {
  const unions: string[] = []
  const walk = (schema: any, path: string): void => {
    if (schema === null || typeof schema !== 'object') return
    if (Array.isArray(schema.type)) unions.push(`${path}: ${schema.type.join('|')}`)
    for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v, `${path}.${k}`)
    if (schema.items !== undefined) walk(schema.items, `${path}[]`)
  }
  walk(ConfigSchema, '')
  t.strictSame(unions, lines(`
    .server.shutdown_timeout: string|integer
    .server.upstream_timeout: string|integer
    .server.timeouts.headers: string|integer
    .server.timeouts.request: string|integer
    .server.timeouts.keep_alive: string|integer
    .server.timeouts.idle: string|integer
    .server.rate_limit.window: string|integer
    .provider.timeout: string|integer
    .provider.groups.max_age: string|integer
    .provider.groups.timeout: string|integer
    .session.lifetime: string|integer
    .session.idle_timeout: string|integer
    .session.refresh_before_expiry: string|integer
    .session.login_timeout: string|integer
    .session.cache.ttl: string|integer
    .redis.connect_timeout: string|integer
    .redis.command_timeout: string|integer
    .bearer.clock_skew: string|integer
    .identity.assertion.ttl: string|integer
    .identity.assertion.rotate: string|integer
  `))
})

t.test('schema: every key has a description (the example file shows it), unless its parent is shown as one example value', async t => {
  const { EXAMPLE } = await import('../../src/config/key.js')
  const missing: string[] = []
  const walk = (schema: any, path: string): void => {
    const example = schema?.[EXAMPLE]?.value
    const shownWhole = example !== null && typeof example === 'object' && !Array.isArray(example) && Object.keys(example).length > 0
    for (const [k, child] of Object.entries<any>(schema?.properties ?? {})) {
      if (!shownWhole && typeof child.description !== 'string') missing.push(`${path}${k}`)
      walk(child, `${path}${k}.`)
    }
    if (schema?.items !== undefined) walk(schema.items, `${path.slice(0, -1)}[].`)
  }
  walk(ConfigSchema, '')
  t.strictSame(missing, [])
})
