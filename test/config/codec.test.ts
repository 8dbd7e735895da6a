import t from 'tap'
import { Type } from '@sinclair/typebox'
import { decode, defaultsOf, toFile } from '../../src/config/codec.js'
import { Duration, HostPort, Obj, Section, Str, TextOrNone, field, key } from '../../src/config/key.js'
import { Problems } from '../../src/config/problems.js'
import { toResolved } from '../../src/config/resolved.js'

// A small schema built the way config/schema.ts builds its keys.
const schema = Obj({
  server: Section({
    listen: field(key(HostPort(), 'address', { default: '0.0.0.0:4180' }), { inline: true }),
    shutdown_timeout: key(Duration(), 'drain', { default: '10s' }),
    tls: Type.Optional(Obj({ cert_file: Str() }))
  }),
  prompt: Type.Optional(key(TextOrNone(), 'prompt')),
  claims: Type.Record(Type.String(), Type.Array(Str()), { additionalProperties: false })
})

t.test('codec: durations and addresses decode to working values; a bad one is reported with its path and replaced', async t => {
  const problems = new Problems()
  const decoded = decode(schema, { server: { listen: '[::1]:8443', shutdown_timeout: '2m' }, prompt: '', claims: {} }, problems) as any
  t.strictSame(decoded.server, { listen: { host: '::1', port: 8443 }, shutdown_timeout: 120_000 })
  t.equal(decoded.prompt, null, '"" decodes to none')
  t.strictSame(problems.lines, [])

  const bad = decode(schema, { server: { listen: 'nowhere', shutdown_timeout: '0s' } }, problems) as any
  t.strictSame(problems.lines, ['server.listen: must be host:port', 'server.shutdown_timeout: must be greater than 0'])
  t.equal(bad.server.shutdown_timeout, 10_000, 'the default stands in')
})

t.test('codec: the resolved form is the generic camelCase mapping, and toFile is its way back', async t => {
  const decoded = decode(schema, { server: { listen: '127.0.0.1:80', shutdown_timeout: 90 }, claims: { 'https://x/roles': ['a'] } }, new Problems())
  const resolved = toResolved(schema, decoded) as any
  t.strictSame(resolved, {
    server: { host: '127.0.0.1', port: 80, shutdownTimeoutMs: 90_000, tls: null },
    prompt: null,
    claims: { 'https://x/roles': ['a'] }
  }, 'camelCase, the Ms suffix, the inline address, null for unset keys, claim names as written')
  t.strictSame(toFile(schema, resolved), {
    server: { listen: '127.0.0.1:80', shutdown_timeout: '90s' },
    prompt: '',
    claims: { 'https://x/roles': ['a'] }
  })
})

t.test('codec: defaultsOf gathers the declared defaults in file terms', async t => {
  t.strictSame(defaultsOf(schema), { server: { listen: '0.0.0.0:4180', shutdown_timeout: '10s' } }, 'a section absent unless written (tls) has none')
})
