import { createServer, type Server } from 'node:http'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { listenOnLoopback } from '../helpers/listen.js'
import { startStack, type Stack } from '../helpers/stack.js'

/*
 * A real upstream that answers every request, and every WebSocket, with the path and query it
 * received, behind routes with and without `strip_prefix`.
 */
let upstream: Server
let stack: Stack
t.before(async () => {
  upstream = createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end(req.url) })
  const sockets = new WebSocketServer({ server: upstream })
  sockets.on('connection', (ws, req) => { ws.send(req.url ?? '') })
  const url = await listenOnLoopback(upstream)
  stack = await startStack({
    store: 'memory',
    upstreamUrl: url,
    configure: (raw) => {
      raw.routes.push({ path: '/new/', upstream: `${url}/rewritten`, public: true })
      raw.routes.push({ path: '/strip/', upstream: `${url}/rewritten`, public: true, strip_prefix: true })
      raw.routes.push({ path: '/bare/', upstream: url, public: true, strip_prefix: true })
      raw.routes.push({ path: '/exact', upstream: `${url}/rewritten/`, public: true, strip_prefix: true })
    }
  })
})
t.teardown(async () => {
  await stack.close()
  upstream.closeAllConnections()
  await new Promise((resolve) => upstream.close(resolve))
})

async function seen (path: string): Promise<string> {
  const response = await fetch(`${stack.url}${path}`)
  t.equal(response.status, 200, path)
  return await response.text()
}

t.test('route paths: the upstream base path is followed by the whole request path by default', async (t) => {
  t.equal(await seen('/new/thing'), '/rewritten/new/thing')
  t.equal(await seen('/new/thing?x=1'), '/rewritten/new/thing?x=1')
})

t.test('strip_prefix: the route prefix is removed; the trailing slash and the query are kept as sent', async (t) => {
  t.equal(await seen('/strip/thing'), '/rewritten/thing')
  t.equal(await seen('/strip/dir/'), '/rewritten/dir/')
  t.equal(await seen('/strip/'), '/rewritten/')
  t.equal(await seen('/strip/?q=1'), '/rewritten/?q=1')
  t.equal(await seen('/strip/a/b?q=1&r=two'), '/rewritten/a/b?q=1&r=two')
  t.equal(await seen('/strip/x/../y'), '/rewritten/y', 'after normalisation, as routing saw it')
  t.equal(await seen('/bare/thing'), '/thing', 'an upstream without a base path')
  t.equal(await seen('/bare/'), '/')
  t.equal(await seen('/exact'), '/rewritten', 'a prefix without a trailing slash: the path itself')
  t.equal(await seen('/exact?q=1'), '/rewritten?q=1')
  t.equal(await seen('/exact/x'), '/rewritten/x', 'the base path\'s own trailing slash is not doubled')
})

t.test('strip_prefix: WebSocket upgrades are mapped the same way', async (t) => {
  const base = stack.url.replace('http', 'ws')
  for (const [path, expected] of [['/strip/socket?room=1', '/rewritten/socket?room=1'], ['/new/socket', '/rewritten/new/socket']] as const) {
    const got = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(base + path)
      ws.once('message', (data: Buffer) => { resolve(data.toString()); ws.close() })
      ws.once('error', reject)
    })
    t.equal(got, expected, path)
  }
})
