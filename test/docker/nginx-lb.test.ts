import { readFileSync } from 'node:fs'
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import t from 'tap'
import { nginxPortTaken, startNginx } from '../helpers/nginx.js'
import { listenOnLoopback, onPickedPort } from '../helpers/listen.js'

// The compose load balancer's config, rendered as the nginx image renders templates (defined
// environment variables only), run by a real nginx in front of two stand-in replicas on loopback.
const TEMPLATE = readFileSync(new URL('../../docker/nginx-lb.conf.template', import.meta.url), 'utf8')

interface Replica { readonly name: string, readonly server: Server, readonly port: number, readonly seen: IncomingHttpHeaders[] }

async function startReplica (name: string): Promise<Replica> {
  const seen: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    res.end(name)
  })
  // A WebSocket-style upgrade: answer 101 and echo, which proves Upgrade/Connection pass through.
  server.on('upgrade', (req, socket) => {
    seen.push(req.headers)
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
    socket.on('data', (d) => socket.write(d))
  })
  const port = Number(new URL(await listenOnLoopback(server)).port)
  return { name, server, port, seen }
}

function get (port: number, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/some/page?x=1', headers, timeout: 5000 }, (res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

t.test('lb: round-robins across both replicas, forwards client headers and WebSocket upgrades', async (t) => {
  const [a, b] = [await startReplica('replica-1'), await startReplica('replica-2')]
  const env: Record<string, string> = { PORTCULLIS_UPSTREAM_1: `127.0.0.1:${a.port}`, PORTCULLIS_UPSTREAM_2: `127.0.0.1:${b.port}` }
  const rendered = TEMPLATE.replace(/\$\{([A-Z0-9_]+)\}/g, (whole, name: string) => env[name] ?? whole)
  t.notMatch(rendered, /\$\{/, 'every template variable is supplied by the compose files\' lb environment')
  t.match(rendered, /^\s*listen 80;$/m)
  t.teardown(() => {
    a.server.closeAllConnections(); a.server.close()
    b.server.closeAllConnections(); b.server.close()
  })
  // nginx is told its port: a picked one, another one when it was taken meanwhile.
  const nginx = await onPickedPort((port) => startNginx(rendered.replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`), port), nginxPortTaken)
  t.teardown(() => nginx.stop())
  const port = nginx.port

  const bodies: string[] = []
  for (let i = 0; i < 4; i++) {
    const res = await get(port, { 'X-Forwarded-For': '203.0.113.9' })
    t.equal(res.status, 200)
    bodies.push(res.body)
  }
  t.ok(bodies[0] === 'replica-1' || bodies[0] === 'replica-2')
  const other = bodies[0] === 'replica-1' ? 'replica-2' : 'replica-1'
  t.strictSame(bodies, [bodies[0], other, bodies[0], other], 'requests alternate between the replicas')
  const headers = a.seen[0]!
  t.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'the client chain is extended with the peer')
  t.equal(headers['x-forwarded-proto'], 'http')
  t.equal(headers.host, `127.0.0.1:${port}`, 'the original Host reaches the gateway')
  t.equal(headers.connection, undefined, 'plain requests keep the upstream connection alive')

  const echoed = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/ws', headers: { Connection: 'Upgrade', Upgrade: 'websocket' }, timeout: 5000 })
    req.on('upgrade', (res, socket) => {
      t.equal(res.statusCode, 101)
      socket.once('data', (d) => { resolve(String(d)); socket.destroy() })
      socket.write('ping-through-lb')
    })
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
  t.equal(echoed, 'ping-through-lb', 'an upgraded connection carries data both ways')
  const upgrade = [...a.seen, ...b.seen].find((h) => h.upgrade !== undefined)
  t.strictSame([upgrade?.upgrade, upgrade?.connection], ['websocket', 'upgrade'])
})
