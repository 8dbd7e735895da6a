import t from 'tap'
import { planReload, reloadableKeys } from '../../src/ops/reload.js'
import { baseRaw, CLIENT_SECRET, parseRaw } from '../fixtures/config/base.js'

t.test('reload plan: routes, access rules and the log level are applied; other changes are named as needing a restart', async (t) => {
  t.strictSame(reloadableKeys, ['routes', 'access', 'logging.level'])
  const running = parseRaw(baseRaw())
  const raw = baseRaw()
  raw.routes.push({ path: '/api/', upstream: 'http://127.0.0.1:9000', api: true })
  raw.access.emails = ['contractor@partner.org']
  raw.logging = { level: 'debug', format: 'pretty' }
  raw.server.listen = '0.0.0.0:8443'
  raw.provider.client_secret = 'another-client-secret-0000'
  const next = parseRaw(raw)
  const plan = planReload(running, next)
  t.strictSame(plan.reloaded, ['access.emails', 'routes', 'logging.level'])
  t.strictSame(plan.restartRequired, ['server.listen', 'provider.client_secret', 'logging.format'])
  t.notMatch(JSON.stringify(plan.restartRequired), /another-client-secret|0\.0\.0\.0:8443/, 'key names only, never values')

  t.equal(plan.effective.routes, next.routes)
  t.equal(plan.effective.access, next.access)
  t.equal(plan.effective.logging.level, 'debug')
  t.equal(plan.effective.logging.format, 'json', 'a restart-only key keeps its running value')
  t.equal(plan.effective.server.port, 4180)
  t.equal(plan.effective.provider.clientSecret, CLIENT_SECRET)
  // The next reload compares against what runs: the same file again applies nothing new.
  const again = planReload(plan.effective, next)
  t.strictSame(again.reloaded, [])
  t.strictSame(again.restartRequired, ['server.listen', 'provider.client_secret', 'logging.format'])
})

t.test('reload plan: an identical config changes nothing', async (t) => {
  const plan = planReload(parseRaw(baseRaw()), parseRaw(baseRaw()))
  t.strictSame([plan.reloaded, plan.restartRequired], [[], []])
})
