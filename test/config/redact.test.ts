import t from 'tap'
import { redactSecrets, redactUrlPassword } from '../../src/config/redact.js'
import { CLIENT_SECRET, COOKIE_SECRET, configWith } from '../fixtures/config/base.js'

t.test('redact: client secret, cookie secrets, redis passwords and URL passwords are replaced', async t => {
  const config = configWith(r => {
    r.redis = { url: 'redis://:url-pass@cache:6379/0', password: 'redis-pass' }
  })
  const redacted = redactSecrets(config) as any
  t.equal(redacted.provider.clientSecret, '<redacted>')
  t.strictSame(redacted.session.cookie.secrets, ['<redacted>'], 'the number of secrets stays visible')
  t.equal(redacted.redis.password, '<redacted>')
  t.equal(redacted.redis.url, 'redis://:<redacted>@cache:6379/0')
  const text = JSON.stringify(redacted)
  for (const secret of [CLIENT_SECRET, COOKIE_SECRET, 'url-pass', 'redis-pass']) t.notOk(text.includes(secret), secret)
})

t.test('redact: sentinel password redacted; settings that merely mention tokens are kept', async t => {
  const config = configWith(r => {
    r.redis = { sentinel: { name: 'm', nodes: ['s:26379'], password: 'sentinel-pass' } }
    r.identity = { pass_access_token: true }
  })
  const redacted = redactSecrets(config) as any
  t.strictSame(redacted.redis.sentinel, { name: 'm', nodes: ['s:26379'], password: '<redacted>' })
  t.equal(redacted.identity.passAccessToken, true)
  t.equal(redacted.redis.password, null, 'an unset password stays visibly unset')
})

t.test('redact: the copy is plain and unfrozen; the config itself is untouched', async t => {
  const config = configWith(() => {})
  const redacted = redactSecrets(config) as any
  t.notOk(Object.isFrozen(redacted))
  t.equal(config.provider.clientSecret, CLIENT_SECRET)
  t.equal(redacted.provider.clientId, 'client-id-123')
})

t.test('redact: works on file-shaped trees too (snake_case keys)', async t => {
  t.strictSame(redactSecrets({ client_secret: 'a', api_token: 'b', nested: [{ password: 'c', name: 'd' }], access_token_ttl: 5 }),
    { client_secret: '<redacted>', api_token: '<redacted>', nested: [{ password: '<redacted>', name: 'd' }], access_token_ttl: 5 })
})

t.test('redact: URL user info', async t => {
  t.equal(redactUrlPassword('redis://:pw@host:6379/0'), 'redis://:<redacted>@host:6379/0')
  t.equal(redactUrlPassword('rediss://user:pw@host'), 'rediss://user:<redacted>@host')
  t.equal(redactUrlPassword('redis://us@r:p@ss@host/0'), 'redis://us@r:<redacted>@host/0', 'the last @ of the authority ends the user info')
  t.equal(redactUrlPassword('redis://tokenonly@host'), 'redis://<redacted>@host')
  t.equal(redactUrlPassword('https://host/path@x'), 'https://host/path@x', 'an @ in the path is not user info')
  t.equal(redactUrlPassword('plain text'), 'plain text')
})
