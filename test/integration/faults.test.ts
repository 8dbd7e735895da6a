import { Agent, get as httpGet } from 'node:http'
import t from 'tap'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider } from '../../demo/provider.js'
import { buildGateway } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { sample } from '../helpers/prometheus.js'
import { pickedPort } from '../helpers/listen.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
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
  // The provider comes up later on the port the config names, so that one is picked (no sign-in
  // completes here, so the gateway itself takes port 0 and answers on the URL it reports).
  const providerPort = await pickedPort()
  const raw = baseRawConfig({ publicUrl: 'http://127.0.0.1', port: 0, issuer: `http://127.0.0.1:${providerPort}`, upstream: 'http://127.0.0.1:9', store: 'memory' })
  raw.logging = { level: 'silent' }
  const config = configFrom(raw)
  const gateway = await buildGateway(config, { logger: createLogger(config.logging) })
  t.teardown(() => gateway.close())
  const publicUrl = await gateway.listen()
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

async function metric (url: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return sample(await (await fetch(`${url}/metrics`)).text(), name, labels)
}

interface Timed { readonly kind: string, readonly status: number, readonly ms: number, readonly retryAfter: string | null, readonly error: string | null, readonly location: string | null }

/**
 * One GET through `agent` (plain node:http: the lightest client, so the time measured is the
 * gateway's), timed from sending it to reading the whole body.
 */
function timed (kind: string, agent: Agent, url: string, headers: Record<string, string>): Promise<Timed> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    httpGet(url, { agent, headers }, (res) => {
      res.resume()
      res.on('end', () => {
        const header = (name: string): string | null => { const v = res.headers[name]; return typeof v === 'string' ? v : null }
        resolve({ kind, status: res.statusCode ?? 0, ms: performance.now() - started, retryAfter: header('retry-after'), error: header('x-portcullis-error'), location: header('location') })
      })
    }).on('error', reject)
  })
}

for (const fault of ['stalled', 'stopped'] as const) {
  t.test(`store breaker, redis ${fault}: 50 concurrent protected requests each get 503 in under 250 ms, then service resumes by itself`, async (t) => {
    // The gateway under test is a process of its own (as an operator runs it), so the 50 clients
    // and the gateway do not share one event loop; the in-process stack is only for signing in
    // (the session lives in the Redis both use, with the same cookie secrets).
    const stack = await startStack({ store: 'redis' })
    t.teardown(() => stack.close())
    // Signing in happens on the stack, so this one's public_url may stay the stack's: port 0.
    const raw = structuredClone(stack.raw)
    raw.server.listen = '127.0.0.1:0'
    // The breaker's gauge is read from /metrics, served on the public listener only when asked for.
    raw.metrics = { public: true }
    const gateway = await startGatewayProcess(raw)
    t.teardown(() => gateway.stop())
    const url = gateway.url
    const redis = stack.redis!
    const jar = new CookieJar()
    await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
    const json = { headers: { accept: 'application/json' } }
    t.equal((await fetchWithJar(`${url}/before`, jar, json)).status, 200)
    t.equal(await metric(url, 'portcullis_store_breaker_open'), 0, 'closed while the store answers')

    if (fault === 'stalled') redis.pause()
    else await redis.stop()

    // Nothing but the breaker's own watch probe has to notice (no request touches the store).
    const opened = await waitFor('the breaker opening', async () => await metric(url, 'portcullis_store_breaker_open') === 1, 15_000)
    t.pass(`breaker open ${opened} ms after the fault`)
    // The session cache serves alice until it hears its event channel is gone (its own rules).
    await waitFor('the cached session ending', async () => (await fetchWithJar(`${url}/during`, jar, json)).status === 503, 15_000)

    // Keep-alive connections for the 50 clients, as a busy site has: what is timed below is the
    // gateway's answer, not the kernel's connection set-up.
    const agent = new Agent({ keepAlive: true, maxSockets: 50 })
    t.teardown(() => agent.destroy())
    await Promise.all(Array.from({ length: 50 }, async () => await timed('warm-up', agent, `${url}/ping`, {})))
    const cookie = jar.header(url) ?? ''
    const requests: Array<Promise<Timed>> = []
    for (let i = 0; i < 50; i++) {
      if (i % 3 === 0) requests.push(timed('signed-in', agent, `${url}/app/${i}`, { cookie, accept: 'application/json' }))
      else if (i % 3 === 1) requests.push(timed('anonymous browser', agent, `${url}/app/${i}`, { accept: 'text/html' }))
      else requests.push(timed('sign-in start', agent, `${url}/oauth2/start?rd=%2Fapp`, { accept: 'text/html' }))
    }
    const answers = await Promise.all(requests)
    for (const a of answers) {
      if (a.status !== 503 || a.ms >= 250 || a.retryAfter === null || a.error !== 'PCS_STORE_UNAVAILABLE') {
        t.fail(`${a.kind}: ${a.status} ${a.error ?? ''} in ${a.ms.toFixed(1)} ms, Retry-After ${a.retryAfter ?? 'missing'}, Location ${a.location ?? 'none'}`)
      }
    }
    const slowest = Math.max(...answers.map((a) => a.ms))
    t.equal(answers.filter((a) => a.status === 503 && a.ms < 250 && a.retryAfter !== null).length, 50, `all 50 answered 503 with Retry-After in under 250 ms (slowest ${slowest.toFixed(1)} ms)`)
    t.equal(answers.filter((a) => a.location !== null).length, 0, 'no browser is sent into a sign-in that cannot work')

    // What needs no store is unaffected.
    t.equal((await fetch(`${url}/public/x`, json)).status, 200, 'public route')
    t.equal((await fetch(`${url}/ping`)).status, 200, '/ping')
    const ready = await fetch(`${url}/ready`)
    t.equal(ready.status, 503, '/ready reports not ready while open')
    t.equal(((await ready.json()) as { store: string }).store, 'unavailable')

    if (fault === 'stalled') redis.resume()
    else await redis.restart()
    const resumed = await waitFor('recovery', async () => (await fetchWithJar(`${url}/after`, jar, json)).status === 200, 10_000)
    t.pass(`the existing session works again ${resumed} ms after the store came back`)
    t.equal(await metric(url, 'portcullis_store_breaker_open'), 0, 'closed again')
    t.ok((await metric(url, 'portcullis_store_breaker_transitions_total', { to: 'open' }) ?? 0) >= 1, 'the opening is counted')
    t.ok((await metric(url, 'portcullis_store_breaker_transitions_total', { to: 'closed' }) ?? 0) >= 1, 'the closing is counted')
    t.equal((await fetch(`${url}/ready`)).status, 200, 'ready again')
    const line = gateway.lines.find((l) => l.msg === 'request' && l.path === '/app/1')
    t.equal(line?.outcome, 'store_unavailable', 'the access line names the outcome')
    t.ok(gateway.lines.some((l) => l.msg === 'session store breaker open'), 'the opening is logged')
    t.ok(gateway.lines.some((l) => l.msg === 'session store breaker closed'), 'the closing is logged')
  })
}
