/**
 * The bench's authenticating peer: Apache httpd with mod_auth_openidc, started with the bench's own
 * code against the development provider, the bench's redis-server and an echoing upstream. Skipped
 * with the reason when httpd or the module is not installed.
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { apacheSignedInCookie, identityAtUpstream } from '../../bench/apache-signin.js'
import { apacheAvailable, apachePortTaken, apacheRedirectUri, startApache, type ApacheProc } from '../../bench/apache.js'
import { startBenchRedis } from '../../bench/redis.js'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider } from '../../demo/provider.js'
import { startDemoApp } from '../../demo/upstream.js'
import { onPickedPort } from '../helpers/listen.js'

const { install, note } = apacheAvailable()

t.test('apache peer: a real sign-in gives a session in Redis, and the upstream sees that identity and no forged one', { skip: install === null ? note : false }, async (t) => {
  const redis = await startBenchRedis()
  t.teardown(() => redis.stop())
  const upstream = await startDemoApp()
  t.teardown(() => upstream.close())
  // httpd is told its port, and the provider its redirect URI on that port: a picked one, with
  // both started over on a new one when it was taken meanwhile (helpers/listen.ts).
  const { provider, peer } = await onPickedPort(async (port) => {
    const provider = await startDevProvider({ clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [apacheRedirectUri(port)] }] })
    try {
      const peer: ApacheProc = await startApache({ install: install!, port, issuer: provider.issuer, clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, upstream: upstream.url, redisUrl: redis.url })
      return { provider, peer }
    } catch (err) {
      await provider.close()
      throw err
    }
  }, apachePortTaken)
  t.teardown(() => provider.close())
  let stopped = false
  t.teardown(async () => { if (!stopped) await peer.stop() })

  t.same(await identityAtUpstream(peer, 'mod_auth_openidc_session=forged', '/api/whoami'), { status: 401, email: null }, 'no session: refused before the upstream')

  const cookie = await apacheSignedInCookie(peer, 'bob@example.com')
  t.match(cookie, /^mod_auth_openidc_session=[\w-]+$/)
  t.equal(provider.counters.authorizationCodeGrants, 1, 'one authorization code grant')
  t.same(await identityAtUpstream(peer, cookie, '/api/whoami'), { status: 200, email: 'bob@example.com' })
  const sessionKeys = await redis.admin.keys('s:*')
  t.equal(sessionKeys.length, 1, 'the session is kept server-side in Redis')

  // A client-sent claim header must be dropped, or the peer would be measured doing less than
  // the gateway (which strips client copies of its identity headers).
  const forged = await fetch(`${peer.url}/api/whoami`, { headers: { accept: 'application/json', cookie, 'OIDC_CLAIM_email': 'mallory@evil.test' } })
  t.equal(forged.status, 200)
  t.equal(((await forged.json()) as { headers: Record<string, string> }).headers.oidc_claim_email, 'bob@example.com')

  stopped = true
  await peer.stop()
  t.throws(() => process.kill(peer.pid, 0), { code: 'ESRCH' }, 'httpd is gone')
  t.equal(existsSync(peer.root), false, 'the ServerRoot is removed')
})
