import { Agent, request as httpRequest } from 'node:http'
import t from 'tap'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider } from '../../demo/provider.js'
import { startDemoApp } from '../../demo/upstream.js'
import { rewriteConfigFile, spawnGateway, writeConfigFile, type GatewayProcess } from '../helpers/cli.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { sample } from '../helpers/prometheus.js'
import { holdPort } from '../helpers/listen.js'
import { signIn } from '../helpers/signin.js'
import { baseRawConfig, type RawConfig } from '../helpers/stack.js'

interface Answer { status: number, body: string, requestId: string, localPort: number, reused: boolean }

/** GET over one keep-alive socket (the agent never opens a second one). */
function get (agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, headers: { accept: 'application/json', ...headers } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        body,
        requestId: String(res.headers['x-request-id']),
        localPort: req.socket?.localPort ?? -1,
        reused: req.reusedSocket
      }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('SIGHUP: routes, access rules and log level change while a keep-alive connection stays open; other keys need a restart; an invalid file is refused', async (t) => {
  const app = await startDemoApp()
  t.teardown(() => app.close())
  const upstream = app.url.replace(/\/$/, '')
  // A sign-in comes back to public_url, which carries the port: held from port 0 until the
  // gateway binds it beside the hold (helpers/listen.ts).
  const held = await holdPort()
  const url = `http://127.0.0.1:${held.port}`
  const provider = await startDevProvider({ clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${url}/oauth2/callback`] }] })
  t.teardown(() => provider.close())
  const raw: RawConfig = baseRawConfig({ publicUrl: url, port: held.port, issuer: provider.issuer, upstream, store: 'memory' })
  raw.metrics = { public: true }
  raw.server.reuse_port = true
  const file = writeConfigFile(raw)
  const gateway: GatewayProcess = await spawnGateway(file).finally(() => held.release())
  t.teardown(async () => { gateway.signal('SIGKILL'); await gateway.exited })
  await gateway.waitForLine((l) => l.msg === 'provider discovery succeeded')

  const jar = new CookieJar()
  const signedIn = await signIn({ gatewayUrl: url, jar, email: 'alice@example.com' })
  t.equal(signedIn.status, 200)
  const cookie = { cookie: jar.header(url) ?? '' }

  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const first = await get(agent, `${url}/api/data`, cookie)
  t.equal(first.status, 200, 'before: alice may use /api/')
  const anonymous = await get(agent, `${url}/reports/x`)
  t.equal(anonymous.status, 401, 'before: /reports/ is covered by the protected / route')

  // Reload 1: a new public route, /api/ narrowed to bob, log level warn, and one key that cannot change live.
  const next = structuredClone(raw)
  next.routes.push({ path: '/reports/', upstream, public: true })
  next.routes.find((r: { path: string }) => r.path === '/api/').allow = { emails: ['bob@example.com'] }
  next.logging = { level: 'warn' }
  next.server.upstream_timeout = '5s'
  rewriteConfigFile(file, next)
  gateway.signal('SIGHUP')
  await gateway.waitForLine((l) => l.msg === 'changed keys take effect only after a restart')
  const applied = gateway.lines.find((l) => l.msg === 'configuration reloaded')
  t.same(applied?.reloaded, ['routes', 'logging.level'])
  t.same(gateway.lines.find((l) => l.msg === 'changed keys take effect only after a restart')?.restartRequired, ['server.upstream_timeout'])

  const denied = await get(agent, `${url}/api/data`, cookie)
  t.equal(denied.status, 403, 'after: the narrowed route refuses alice')
  const publicNow = await get(agent, `${url}/reports/x`)
  t.equal(publicNow.status, 200, 'after: the new public route serves without sign-in')
  t.equal((await get(agent, `${url}/home`, cookie)).status, 200, 'unchanged routes keep working')
  t.equal(gateway.lines.filter((l) => l.msg === 'request' && l.requestId === publicNow.requestId).length, 0, 'log level warn: no access line')

  // Reload 2: an invalid file is refused and the running configuration stays.
  rewriteConfigFile(file, 'routes:\n  - path: /\n    upstream: not-a-url\n')
  gateway.signal('SIGHUP')
  const refused = await gateway.waitForLine((l) => l.msg === 'configuration reload refused; the running configuration stays')
  t.ok(Array.isArray(refused.problems) && (refused.problems as string[]).length > 0, 'the problems are logged')
  t.equal((await get(agent, `${url}/api/data`, cookie)).status, 403, 'still the rules of the last good config')
  t.equal((await get(agent, `${url}/reports/x`)).status, 200)

  // Reload 3: back to the original access rules at info level.
  rewriteConfigFile(file, { ...raw, server: { ...raw.server, upstream_timeout: '5s' } })
  gateway.signal('SIGHUP')
  // Raised back from warn, the reload's own summary is below the old level: watch the effect.
  let allowedAgain = await get(agent, `${url}/api/data`, cookie)
  for (let i = 0; i < 100 && allowedAgain.status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    allowedAgain = await get(agent, `${url}/api/data`, cookie)
  }
  t.equal(allowedAgain.status, 200, 'alice may use /api/ again')
  t.equal((await get(agent, `${url}/reports/x`)).status, 401, 'the removed public route is protected again')
  // The access line is written once the response has finished, which may be after the client
  // has read it: wait (bounded) for it to arrive on the process's stdout.
  await gateway.waitForLine((l) => l.msg === 'request' && l.requestId === allowedAgain.requestId, 5000)
  t.equal(gateway.lines.filter((l) => l.msg === 'request' && l.requestId === allowedAgain.requestId).length, 1, 'log level info again')

  const metrics = await get(agent, `${url}/metrics`)
  t.equal(sample(metrics.body, 'portcullis_config_reloads_total', { outcome: 'applied' }), 2)
  t.equal(sample(metrics.body, 'portcullis_config_reloads_total', { outcome: 'rejected' }), 1)

  // Every request after the first went over the same connection: no reload dropped it.
  const all = [first, anonymous, denied, publicNow, allowedAgain, metrics]
  t.same(new Set(all.map((a) => a.localPort)).size, 1, 'one socket throughout')
  t.ok(all.slice(1).every((a) => a.reused), 'each later request reused it')
  t.equal(gateway.child.exitCode, null, 'the gateway is still running')
})
