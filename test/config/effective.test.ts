import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { toFileShape } from '../../src/config/effective.js'
import { baseRaw, parseRaw, parseText, tempDir } from '../fixtures/config/base.js'

t.test('effective: the printed config, loaded again, gives the same config (round trip)', async t => {
  const dir = tempDir()
  for (const f of ['c.pem', 'k.pem', 'a.pem']) writeFileSync(join(dir, f), 'x')
  const raw = baseRaw()
  raw.server = { ...raw.server, listen: '[::1]:8443', trusted_proxies: ['10.0.0.0/8'], allowed_redirect_hosts: ['.example.com'], tls: { cert_file: 'c.pem', key_file: 'k.pem' }, shutdown_timeout: 90 }
  raw.provider = { ...raw.provider, type: 'oidc', issuer: 'https://idp.example/', prompt: 'login', scopes: ['openid', 'email'] }
  raw.session = { ...raw.session, store: 'redis', lifetime: '36h', idle_timeout: '1500ms' }
  raw.session.cookie = { ...raw.session.cookie, domain: 'example.com', same_site: 'strict', name: 'gw' }
  raw.redis = { sentinel: { name: 'm', nodes: ['s1:26379'], password: 'sp' }, password: 'rp', key_prefix: '' }
  raw.access = { claims: { 'https://example.com/roles': ['admin'] }, emails: ['a@b.example'] }
  raw.routes.push({ path: '/api/', upstream: 'http://127.0.0.1:9000/v1', api: true, allow: { groups: ['g'] }, methods: ['GET'], refresh_on_upstream_401: true })
  raw.identity = { assertion: { key_file: 'a.pem', ttl: 60, rotate: '7d', enabled: false }, pass_id_token: true }
  raw.metrics = { listen: '127.0.0.1:9090' }
  const config = parseRaw(raw, {}, dir)
  const again = parseText(stringify(toFileShape(config)), {}, '/elsewhere')
  t.strictSame(again, config)
})

t.test('effective: google with no prompt is written as prompt: "" so it stays off', async t => {
  const raw = baseRaw()
  raw.provider.prompt = ''
  const shape = toFileShape(parseRaw(raw)) as any
  t.equal(shape.provider.prompt, '')
  t.equal(parseText(stringify(shape)).provider.prompt, null)
})

t.test('effective: unset keys are left out rather than written as null', async t => {
  const shape = toFileShape(parseRaw(baseRaw())) as any
  t.notOk('tls' in shape.server)
  t.notOk('hosted_domain' in shape.provider)
  t.notOk('sentinel' in shape.redis)
  t.notOk('allow' in shape.routes[0])
  t.notOk('listen' in shape.metrics)
  t.equal(shape.session.lifetime, '7d')
})
