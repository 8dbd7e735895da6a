import { createServer, type Server } from 'node:http'
import t from 'tap'
import { spawnGateway, writeConfigFile } from '../helpers/cli.js'
import { startRedis } from '../helpers/redis.js'
import { closedPort } from '../helpers/listen.js'
import { COOKIE_SECRET } from '../fixtures/config/base.js'

/** An upstream whose `/slow?ms=N` answers after N ms; `started` resolves when a slow request arrived. */
async function slowUpstream (): Promise<{ url: string, arrived: () => Promise<void>, close: () => Promise<void>, server: Server }> {
  let signal: () => void = () => {}
  let arrival = new Promise<void>((resolve) => { signal = resolve })
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream.invalid')
    const ms = Number(url.searchParams.get('ms') ?? '0')
    signal()
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`done after ${ms}`)
    }, ms)
    res.on('close', () => clearTimeout(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    arrived: async () => {
      await arrival
      arrival = new Promise<void>((resolve) => { signal = resolve })
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/**
 * A config whose only route is public, so no provider is needed to serve it. It listens on port 0:
 * the gateway's URL is what it logs (`spawnGateway(...).listening.url`).
 */
async function configFor (upstream: string, extra: (raw: Record<string, any>) => void = () => {}): Promise<{ file: string }> {
  const closed = await closedPort()
  const raw: Record<string, any> = {
    server: { listen: '127.0.0.1:0', public_url: 'http://127.0.0.1', shutdown_timeout: '10s' },
    provider: { type: 'oidc', issuer: `http://127.0.0.1:${closed}`, client_id: 'cli-test', client_secret: 'cli-test-secret', allow_insecure_issuer: true },
    session: { store: 'memory', cookie: { secrets: [COOKIE_SECRET], secure: false } },
    access: { email_domains: ['example.com'] },
    routes: [{ path: '/', upstream, public: true }]
  }
  extra(raw)
  return { file: writeConfigFile(raw) }
}

t.test('SIGTERM: a long in-flight request completes, new connections are refused, Redis is closed and the process exits 0', async (t) => {
  const upstream = await slowUpstream()
  t.teardown(() => upstream.close())
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const { file } = await configFor(upstream.url, (raw) => {
    raw.session.store = 'redis'
    raw.redis = { url: redis.url }
  })
  const gateway = await spawnGateway(file)
  const url = gateway.listening.url

  const inFlight = fetch(`${url}/slow?ms=1500`)
  await upstream.arrived()
  gateway.signal('SIGTERM')
  await gateway.waitForLine((l) => l.msg === 'shutting down: draining in-flight requests')

  await t.rejects(fetch(`${url}/slow?ms=0`), 'a new connection is refused while draining')
  const response = await inFlight
  t.equal(response.status, 200)
  t.equal(await response.text(), 'done after 1500', 'the in-flight request finished with its full answer')
  t.equal(await gateway.exited, 0)
  const stopped = gateway.lines.find((l) => l.msg === 'stopped')
  t.match(stopped, { signal: 'SIGTERM' }, 'the store was closed before the exit')
  t.equal(gateway.lines.filter((l) => l.msg === 'request' && l.path === '/slow' && l.status === 200).length, 1, 'the drained request was logged')
  t.equal(gateway.lines.filter((l) => l.msg === 'shutdown timeout reached; closing the remaining connections').length, 0)
})

t.test('SIGTERM: draining is bounded by server.shutdown_timeout; the process still exits 0', async (t) => {
  const upstream = await slowUpstream()
  t.teardown(() => upstream.close())
  const { file } = await configFor(upstream.url, (raw) => { raw.server.shutdown_timeout = '1s' })
  const gateway = await spawnGateway(file)
  const url = gateway.listening.url

  const inFlight = fetch(`${url}/slow?ms=60000`).then((r) => r.text()).then(() => 'answered', () => 'cut')
  await upstream.arrived()
  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
  t.equal(await inFlight, 'cut', 'the request that outlived the timeout was cut, not waited for')
  t.ok(gateway.lines.some((l) => l.msg === 'shutdown timeout reached; closing the remaining connections'))
  t.ok(gateway.lines.some((l) => l.msg === 'stopped'))
  const slow = gateway.lines.filter((l) => l.msg === 'request' && l.path === '/slow')
  t.equal(slow.length, 1, 'the cut request has one access line')
  t.match(slow[0], { status: 503, outcome: 'shutdown_cut' }, 'logged as cut by the gateway, not as a client that went away')
})

t.test('SIGINT stops the gateway the same way; logging.format pretty writes human-readable lines', async (t) => {
  const upstream = await slowUpstream()
  t.teardown(() => upstream.close())
  const { file } = await configFor(upstream.url, (raw) => { raw.logging = { format: 'pretty' } })
  const gateway = await spawnGateway(file, { readyText: 'portcullis listening' })
  const url = gateway.listening.url
  const response = await fetch(`${url}/slow?ms=0`)
  t.equal(response.status, 200)
  await response.text()
  await gateway.waitForText('request')
  gateway.signal('SIGINT')
  t.equal(await gateway.exited, 0)
  const output = gateway.output()
  t.equal(gateway.lines.length, 0, 'no JSON lines')
  t.match(output, /INFO.*portcullis listening/)
  t.match(output, /INFO: request \{.*"status":200/)
  t.match(output, /INFO.*stopped/)
})
