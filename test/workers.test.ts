import { readFileSync } from 'node:fs'
import t from 'tap'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../demo/accounts.js'
import { startDevProvider } from '../demo/provider.js'
import { startDemoApp } from '../demo/upstream.js'
import { spawnGateway, writeConfigFile, type GatewayProcess } from './helpers/cli.js'
import { sample } from './helpers/prometheus.js'
import { startRedis } from './helpers/redis.js'
import { baseRawConfig } from './helpers/stack.js'

/*
 * `server.workers: 2` through the real command, `node dist/src/cli.js serve`: two worker
 * processes serve one port, a crashed worker is replaced, SIGHUP does not stop the gateway, and
 * SIGTERM stops every process with exit code 0.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function children (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until (what: string, check: () => boolean | Promise<boolean>, tries = 100, every = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return
    await sleep(every)
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function pingOk (url: string): Promise<boolean> {
  const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) }).catch(() => null)
  await res?.body?.cancel()
  return res?.status === 200
}

/** The `url` of every `portcullis listening` line so far (one per worker that started). */
function listeningUrls (gateway: GatewayProcess): unknown[] {
  return gateway.lines.filter((l) => l.msg === 'portcullis listening').map((l) => l.url)
}

t.test('workers: two processes share the port; a crashed one is replaced; SIGHUP keeps serving; SIGTERM stops all with 0', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const app = await startDemoApp({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  // Nobody signs in here: the gateway takes port 0 and public_url only names an origin.
  const publicUrl = 'http://127.0.0.1'
  const provider = await startDevProvider({ clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${publicUrl}/oauth2/callback`] }] })
  t.teardown(() => provider.close())

  const raw = baseRawConfig({ publicUrl, port: 0, issuer: provider.issuer, upstream: app.url.replace(/\/$/, ''), store: 'redis', redisUrl: redis.url })
  raw.server.workers = 2
  raw.server.shutdown_timeout = '2s'
  raw.metrics = { public: true }

  const primary = await spawnGateway(writeConfigFile(raw), { timeoutMs: 20_000 })
  t.teardown(() => primary.child.kill('SIGKILL'))
  const pid = primary.child.pid!
  const url = primary.listening.url
  await until('both workers listening', () => listeningUrls(primary).length === 2)
  t.same(listeningUrls(primary), [url, url], 'with port 0 both workers log the one port they share')

  await until('the gateway to answer', () => pingOk(url))
  await until('two workers', () => children(pid).length === 2)
  const first = children(pid)
  t.equal(first.length, 2, 'two worker processes')
  t.match(primary.output(), /"msg":"starting workers"/)

  process.kill(first[0]!, 'SIGKILL')
  await until('a replacement worker', () => {
    const now = children(pid)
    return now.length === 2 && !now.includes(first[0]!)
  })
  t.ok(children(pid).includes(first[1]!), 'the other worker kept running')
  await until('the replacement listening', () => listeningUrls(primary).length === 3)
  t.equal(listeningUrls(primary)[2], url, 'the replacement worker listens on the same port')
  // Requests that were on the killed worker's connections fail; the gateway keeps serving on the
  // other worker and the replacement, and is fully back within a bounded time.
  let streak = 0
  await until('serving again after a worker crash', async () => { streak = await pingOk(url) ? streak + 1 : 0; return streak >= 5 })
  t.equal(streak, 5, 'five requests in a row answered after a worker crash')
  t.match(primary.output(), /"msg":"worker exited; starting a new one"/)

  // /metrics on the main listener answers for all workers, whichever worker takes the scrape.
  const pings = 20
  for (let i = 0; i < pings; i++) t.ok(await pingOk(url))
  for (let scrape = 0; scrape < 4; scrape++) {
    const text = await (await fetch(`${url}/metrics`)).text()
    t.ok((sample(text, 'portcullis_http_requests_total', { route: '/ping', status_class: '2xx' }) ?? 0) >= pings, `scrape ${scrape + 1} counts the pings of both workers`)
  }

  process.kill(pid, 'SIGHUP')
  await sleep(300)
  t.ok(alive(pid), 'SIGHUP does not end the primary')
  await until('serving after SIGHUP', async () => await pingOk(url) && children(pid).length === 2)

  const workers = children(pid)
  process.kill(pid, 'SIGTERM')
  const code = await Promise.race([primary.exited, sleep(15_000).then(() => 'timeout' as const)])
  t.equal(code, 0, 'the primary exits 0 after SIGTERM')
  await until('the workers to be gone', () => workers.every((w) => !alive(w)), 50)
  t.ok(workers.every((w) => !alive(w)), 'no worker outlives the primary')
})

t.test('workers: metrics.listen is served by the primary with the sum over all workers', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const publicUrl = 'http://127.0.0.1'
  const provider = await startDevProvider({ clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${publicUrl}/oauth2/callback`] }] })
  t.teardown(() => provider.close())
  const raw = baseRawConfig({ publicUrl, port: 0, issuer: provider.issuer, upstream: 'http://127.0.0.1:9', store: 'redis', redisUrl: redis.url })
  raw.server.workers = 2
  raw.server.shutdown_timeout = '2s'
  raw.metrics = { enabled: true, listen: '127.0.0.1:0' }
  const gateway = await spawnGateway(writeConfigFile(raw), { timeoutMs: 20_000 })
  t.teardown(() => gateway.child.kill('SIGKILL'))
  const primary = gateway.child
  const url = gateway.listening.url
  t.equal(gateway.listening.metrics, undefined, 'a worker serves no metrics.listen')
  // Port 0: the primary logs the metrics address it got.
  const metricsUrl = String((await gateway.waitForLine((l) => l.msg === 'metrics of all workers served')).metrics)
  t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/)
  await until('the gateway to answer', () => pingOk(url))
  await until('two workers', () => children(primary.pid!).length === 2)

  const pingCount = async (): Promise<number> => {
    const text = await (await fetch(`${metricsUrl}/metrics`)).text()
    return sample(text, 'portcullis_http_requests_total', { route: '/ping', status_class: '2xx' }) ?? 0
  }
  // Both workers have announced themselves once each has answered a request.
  await until('both workers counted', async () => { await pingOk(url); return (await pingCount()) >= 2 && children(primary.pid!).length === 2 })
  const before = await pingCount()
  const pings = 20
  for (let i = 0; i < pings; i++) t.ok(await pingOk(url))
  const onMain = await fetch(`${url}/metrics`)
  t.equal(onMain.status, 404, 'not on the main listener when metrics.listen is set')
  await onMain.body?.cancel()
  t.equal(await pingCount() - before, pings, 'exactly the pings of both workers, counted once')

  primary.kill('SIGTERM')
  t.equal(await Promise.race([gateway.exited, sleep(15_000).then(() => 'timeout' as const)]), 0)
})
