import t from 'tap'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider } from '../../demo/provider.js'
import { buildGateway } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { freePort } from '../helpers/listen.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { baseRawConfig, configFrom, startStack } from '../helpers/stack.js'

async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`)
}

for (const fault of ['stopped', 'stalled'] as const) {
  t.test(`redis ${fault}: protected routes answer 503 in bounded time, public routes work, and service resumes with existing sessions`, async (t) => {
    const stack = await startStack({ store: 'redis' })
    t.teardown(() => stack.close())
    const redis = stack.redis!
    const jar = new CookieJar()
    await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
    const ok = await fetchWithJar(`${stack.url}/before`, jar, { headers: { accept: 'application/json' } })
    t.equal(ok.status, 200)

    if (fault === 'stopped') await redis.stop()
    else redis.pause()

    // The session is in the gateway's cache: it is served from there only until the gateway
    // notices the store's event channel is gone (the connection closes, or the heartbeat goes
    // unanswered), then the cache is bypassed and the store decides.
    const started = Date.now()
    let down = await fetchWithJar(`${stack.url}/during`, jar, { headers: { accept: 'application/json' } })
    for (let i = 0; i < 50 && down.status === 200; i++) {
      await down.body?.cancel()
      await new Promise((resolve) => setTimeout(resolve, 100))
      down = await fetchWithJar(`${stack.url}/during`, jar, { headers: { accept: 'application/json' } })
    }
    const took = Date.now() - started
    t.equal(down.status, 503)
    t.equal(((await down.json()) as { error: string }).error, 'PCS_STORE_UNAVAILABLE')
    t.ok(took < 5000, `answered within ${took} ms`)
    const pub = await fetch(`${stack.url}/public/x`, { headers: { accept: 'application/json' } })
    t.equal(pub.status, 200, 'public route still works')
    const ready = await fetch(`${stack.url}/ready`)
    t.equal(ready.status, 503)
    t.equal(((await ready.json()) as { store: string }).store, 'unavailable')

    if (fault === 'stopped') await redis.restart()
    else redis.resume()
    const waited = await waitFor('recovery', async () => {
      const res = await fetchWithJar(`${stack.url}/after`, jar, { headers: { accept: 'application/json' } })
      return res.status === 200
    }, 15_000)
    t.pass(`recovered with the existing session after ${waited} ms`)
    const readyAgain = await fetch(`${stack.url}/ready`)
    t.equal(readyAgain.status, 200)
  })
}

t.test('provider unreachable at start-up: the gateway starts, is not ready, and becomes ready when the provider appears', async (t) => {
  const port = await freePort()
  const providerPort = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  const raw = baseRawConfig({ publicUrl, port, issuer: `http://127.0.0.1:${providerPort}`, upstream: 'http://127.0.0.1:9', store: 'memory' })
  raw.logging = { level: 'silent' }
  const config = configFrom(raw)
  const gateway = await buildGateway(config, { logger: createLogger(config.logging) })
  t.teardown(() => gateway.close())
  await gateway.listen(port)
  const ping = await fetch(`${publicUrl}/ping`)
  t.equal(ping.status, 200)
  const notReady = await fetch(`${publicUrl}/ready`)
  t.equal(notReady.status, 503)
  t.equal(((await notReady.json()) as { provider: string }).provider, 'unavailable')
  const start = await fetch(`${publicUrl}/oauth2/start`, { redirect: 'manual', headers: { accept: 'application/json' } })
  t.equal(start.status, 503)
  t.equal(((await start.json()) as { error: string }).error, 'PCS_PROVIDER_UNAVAILABLE')

  const provider = await startDevProvider({
    port: providerPort,
    clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${publicUrl}/oauth2/callback`] }]
  })
  t.teardown(() => provider.close())
  const waited = await waitFor('readiness', async () => (await fetch(`${publicUrl}/ready`)).status === 200, 40_000)
  t.pass(`ready ${waited} ms after the provider appeared`)
})
