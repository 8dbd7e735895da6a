import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { startStack, type Stack } from '../helpers/stack.js'
import { listenOnLoopback } from '../helpers/listen.js'

/*
 * What the forwarder does with the bytes of a proxied exchange: hop-by-hop headers in both
 * directions, bodies the gateway must never parse or limit, header bytes, backpressure, a client
 * that goes away, an upstream that is slow or dies half-way. One public route to an upstream
 * written for these cases, so no sign-in is needed to reach it.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface Seen { readonly headers: IncomingMessage['headers'], readonly bytes: number, readonly sha: string }

let stack: Stack
const seen: Seen[] = []
/** Per-path behaviour of the upstream. */
const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>()
const upstream = createServer((req, res) => {
  const path = (req.url ?? '').split('?')[0]!
  const handler = handlers.get(path)
  if (handler !== undefined) return handler(req, res)
  const hash = createHash('sha256')
  let bytes = 0
  req.on('data', (chunk: Buffer) => { bytes += chunk.length; hash.update(chunk) })
  req.on('end', () => {
    seen.push({ headers: req.headers, bytes, sha: hash.digest('hex') })
    const body = JSON.stringify({ bytes })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
})

t.before(async () => {
  const upstreamUrl = await listenOnLoopback(upstream)
  stack = await startStack({
    store: 'memory',
    upstreamUrl,
    configure: (raw) => {
      raw.server = { ...raw.server, upstream_timeout: '1s' }
      raw.routes = [{ path: '/', upstream: upstreamUrl, public: true }]
    }
  })
})
t.teardown(async () => {
  await stack.close()
  upstream.closeAllConnections()
  await new Promise((resolve) => upstream.close(resolve))
})
t.beforeEach(() => { seen.length = 0 })

/** Sends raw bytes and resolves with everything the gateway wrote until it closed or `until` matched. */
function rawExchange (request: string, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(stack.url)
    const socket = connect(Number(url.port), url.hostname)
    let text = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete answer: ${text}`)) }, 5000)
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      if (until(text)) { clearTimeout(timer); socket.destroy(); resolve(text) }
    })
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('close', () => { clearTimeout(timer); resolve(text) })
    socket.write(request)
  })
}

t.test('hop-by-hop request headers, and those the client lists in Connection, stay at the gateway', async (t) => {
  const res = await rawExchange([
    'GET /hop HTTP/1.1',
    `Host: ${new URL(stack.url).host}`,
    'Connection: keep-alive, X-Private-Hop',
    'X-Private-Hop: secret',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    'TE: trailers',
    'X-End-To-End: kept',
    '', ''
  ].join('\r\n'), (text) => text.includes('"bytes"'))
  t.match(res, /^HTTP\/1\.1 200/)
  const headers = seen[0]!.headers
  t.equal(headers['x-end-to-end'], 'kept')
  for (const name of ['x-private-hop', 'keep-alive', 'proxy-connection', 'te']) t.equal(headers[name], undefined, `${name} is not forwarded`)
  t.equal(headers.host, new URL(stack.upstreamUrl).host, "the upstream sees its own host")
  t.equal(headers['x-forwarded-host'], new URL(stack.url).host, 'and the client-facing host in X-Forwarded-Host')
})

t.test('hop-by-hop response headers are dropped; every Set-Cookie and the request id reach the client', async (t) => {
  handlers.set('/answer-hops', (_req, res) => {
    // A flat list of names and values: the same name may appear twice.
    res.writeHead(200, [
      'Connection', 'keep-alive, X-Upstream-Hop',
      'X-Upstream-Hop', 'private',
      'Keep-Alive', 'timeout=5',
      'Set-Cookie', 'a=1; Path=/',
      'Set-Cookie', 'b=2; Path=/',
      'X-Request-Id', 'upstream-chose-this',
      'Content-Length', '2'
    ])
    res.end('ok')
  })
  const response = await fetch(`${stack.url}/answer-hops`)
  t.equal(await response.text(), 'ok')
  t.equal(response.headers.get('x-upstream-hop'), null, 'a header the upstream listed in Connection is dropped')
  t.not(response.headers.get('keep-alive'), 'timeout=5', "the upstream's Keep-Alive stays with its connection")
  const cookies = response.headers.getSetCookie()
  t.same(cookies, ['a=1; Path=/', 'b=2; Path=/'], 'both upstream cookies pass, in order')
  t.match(response.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, "the gateway's request id wins over the upstream's")
})

t.test('header bytes outside ASCII pass through unchanged', async (t) => {
  // Node writes a header block on its own in latin1 (one byte per char) when the body is a
  // Buffer, so these strings stand for the exact bytes the upstream sends.
  handlers.set('/latin1', (_req, res) => {
    res.setHeader('x-latin1', Buffer.from('Jos\xe9', 'latin1').toString('latin1'))
    res.setHeader('x-utf8', Buffer.from('José', 'utf8').toString('latin1'))
    res.end(Buffer.from('done'))
  })
  const res = await rawExchange('GET /latin1 HTTP/1.1\r\nHost: x\r\n\r\n', (text) => text.endsWith('done'))
  const raw = Buffer.from(res, 'latin1')
  t.ok(raw.includes(Buffer.from('x-latin1: Jos\xe9\r\n', 'latin1')), 'a latin1 byte passes as that byte')
  t.ok(raw.includes(Buffer.concat([Buffer.from('x-utf8: '), Buffer.from('José', 'utf8'), Buffer.from('\r\n')])), 'UTF-8 bytes pass as those bytes')
})

t.test('bodies are streamed as sent, whatever their type or size: the gateway parses none', async (t) => {
  const large = Buffer.alloc(300 * 1024, 'a')
  for (const [type, body] of [['text/plain', large], ['application/json', Buffer.from(JSON.stringify({ pad: large.toString() }))], ['application/x-www-form-urlencoded', large], ['application/octet-stream', large]] as const) {
    seen.length = 0
    const response = await fetch(`${stack.url}/upload`, { method: 'POST', headers: { 'content-type': type }, body })
    t.equal(response.status, 200, `${type}: accepted (the gateway's own 64 KB form limit does not apply)`)
    t.equal(seen[0]?.bytes, body.length, `${type}: every byte reached the upstream`)
    t.equal(seen[0]?.sha, createHash('sha256').update(body).digest('hex'), `${type}: unchanged`)
  }
  seen.length = 0
  const chunked = await rawExchange(['POST /upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', '', '5', 'hello', '6', ' world', '0', '', ''].join('\r\n'), (text) => text.includes('"bytes"'))
  t.match(chunked, /^HTTP\/1\.1 200/)
  t.equal(seen[0]?.sha, createHash('sha256').update('hello world').digest('hex'), 'a chunked body arrives whole')
})

t.test('HEAD, 204 and 304 answers carry no body', async (t) => {
  handlers.set('/status', (req, res) => {
    const code = Number(new URL(req.url ?? '', 'http://x').searchParams.get('code'))
    res.writeHead(code, code === 200 ? { 'content-length': 5 } : {})
    res.end(code === 200 && req.method !== 'HEAD' ? 'hello' : undefined)
  })
  const head = await fetch(`${stack.url}/status?code=200`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.headers.get('content-length'), '5', 'HEAD keeps the length of what GET would send')
  t.equal(await head.text(), '')
  for (const code of [204, 304]) {
    const response = await fetch(`${stack.url}/status?code=${code}`)
    t.equal(response.status, code)
    t.equal(await response.text(), '')
  }
})

t.test('a slow client slows the upstream down instead of filling the gateway memory', async (t) => {
  let written = 0
  let blocked = false
  const total = 256 * 1024 * 1024
  const chunk = Buffer.alloc(64 * 1024, 'z')
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => { done = resolve })
  handlers.set('/download', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
    const pump = (): void => {
      while (written < total) {
        written += chunk.length
        if (!res.write(chunk)) { blocked = true; res.once('drain', pump); return }
      }
      res.end()
    }
    res.on('close', done)
    pump()
  })
  const url = new URL(stack.url)
  const socket: Socket = connect(Number(url.port), url.hostname)
  socket.pause()
  socket.write('GET /download HTTP/1.1\r\nHost: x\r\n\r\n')
  // Wait (bounded) until the upstream's writes have been refused for a while.
  let stable = 0
  let last = -1
  for (let i = 0; i < 100 && stable < 5; i++) {
    await sleep(50)
    stable = written === last ? stable + 1 : 0
    last = written
  }
  t.ok(blocked, 'the upstream had to wait for the client')
  t.ok(written < total / 4, `the upstream stopped early (${Math.round(written / 1048576)} MB of ${total / 1048576} MB written)`)
  socket.destroy()
  await Promise.race([finished, sleep(5000)])
  t.ok(written < total, 'the upstream answer was abandoned when the client left')
})

t.test('a client that goes away aborts its upstream request', async (t) => {
  let closed: () => void = () => {}
  const upstreamClosed = new Promise<void>((resolve) => { closed = resolve })
  handlers.set('/slow', (_req, res) => {
    res.on('close', closed)
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('first part')
  })
  const controller = new AbortController()
  const response = await fetch(`${stack.url}/slow`, { signal: controller.signal })
  const reader = response.body!.getReader()
  const first = await reader.read()
  t.equal(Buffer.from(first.value!).toString(), 'first part', 'the first bytes are streamed at once')
  controller.abort()
  const outcome = await Promise.race([upstreamClosed.then(() => 'closed'), sleep(5000).then(() => 'still open')])
  t.equal(outcome, 'closed', 'the upstream connection was closed')
  for (let i = 0; i < 50 && !stack.logs.some((l) => l.path === '/slow' && l.status === 499); i++) await sleep(20)
  t.ok(stack.logs.some((l) => l.path === '/slow' && l.status === 499 && l.outcome === 'client_aborted'), 'the access log says the client went away')
})

t.test('an upstream that does not answer in time gives 504; one that dies half-way cuts the response', async (t) => {
  handlers.set('/never', () => { /* never answers */ })
  const slow = await fetch(`${stack.url}/never`, { headers: { accept: 'application/json' } })
  t.equal(slow.status, 504)
  t.equal(slow.headers.get('x-portcullis-error'), 'PCS_UPSTREAM_TIMEOUT')
  t.match(await slow.json(), { error: 'PCS_UPSTREAM_TIMEOUT' })

  handlers.set('/dies', (req, res) => {
    res.writeHead(200, { 'content-length': 1000 })
    res.write('partial')
    setTimeout(() => req.socket.destroy(), 20)
  })
  const cut = await fetch(`${stack.url}/dies`)
  t.equal(cut.status, 200, 'the status was already sent')
  await t.rejects(cut.text(), 'the client sees the body cut, never a complete-looking answer')
  const after = await fetch(`${stack.url}/after`)
  t.equal(after.status, 200, 'and the gateway carries on')
  await after.text()
})

t.test('an upstream header Node will not write gives a 502, and the gateway carries on', async (t) => {
  // Written to the socket by hand: a header value holding a DEL, which an HTTP parser may accept
  // and Node refuses to send on. Either way the client must get a clean 502.
  handlers.set('/odd', (req) => {
    req.socket.write('HTTP/1.1 200 OK\r\nX-Odd: a\x7fb\r\nContent-Length: 2\r\n\r\nok')
    setTimeout(() => req.socket.destroy(), 50)
  })
  const odd = await fetch(`${stack.url}/odd`, { headers: { accept: 'application/json' } })
  t.equal(odd.status, 502)
  t.equal(odd.headers.get('x-odd'), null, 'nothing of the upstream answer reached the client')
  t.match(await odd.json(), { error: 'PCS_UPSTREAM_UNAVAILABLE' })
  const after = await fetch(`${stack.url}/after`)
  t.equal(after.status, 200)
  await after.text()
})
