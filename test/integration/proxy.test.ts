import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import WebSocket from 'ws'
import { CookieJar } from '../helpers/cookie-jar.js'
import { closedPort } from '../helpers/listen.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
let jar: CookieJar
let deadPort: number
t.before(async () => {
  deadPort = await closedPort()
  stack = await startStack({
    store: 'memory',
    configure: (raw) => {
      raw.routes.push({ path: '/dead/', upstream: `http://127.0.0.1:${deadPort}` })
    }
  })
  jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
})
t.teardown(async () => { await stack.close() })

async function view (path: string, headers: Record<string, string> = {}, withJar = true): Promise<{ status: number, body: any }> {
  const response = withJar
    ? await fetchWithJar(`${stack.url}${path}`, jar, { headers: { accept: 'application/json', ...headers } })
    : await fetch(`${stack.url}${path}`, { headers: { accept: 'application/json', ...headers }, redirect: 'manual' })
  const text = await response.text()
  try { return { status: response.status, body: JSON.parse(text) } } catch { return { status: response.status, body: text } }
}

const spoofed = {
  'X-Forwarded-User': 'evil',
  'x-forwarded-email': 'ceo@example.com',
  'X-Forwarded-Groups': 'admins',
  'X-Forwarded-Preferred-Username': 'ceo',
  'X-Auth-Request-User': 'evil',
  'X-Auth-Request-Email': 'ceo@example.com',
  'X-Portcullis-Assertion': 'forged',
  'X-Forwarded-Access-Token': 'forged-token'
}

t.test('spoofed identity headers never reach the upstream; the session identity does', async (t) => {
  const { status, body } = await view('/who', spoofed)
  t.equal(status, 200)
  t.equal(body.headers['x-forwarded-user'], 'dev-alice')
  t.equal(body.headers['x-forwarded-email'], 'alice@example.com')
  t.equal(body.headers['x-forwarded-groups'], 'admins,staff')
  t.equal(body.headers['x-auth-request-user'], undefined)
  t.equal(body.headers['x-auth-request-email'], undefined)
  t.equal(body.headers['x-forwarded-access-token'], undefined)
  t.not(body.headers['x-portcullis-assertion'], 'forged')
})

t.test('underscore variants of identity headers are stripped too', async (t) => {
  // fetch refuses underscores in header names; send them raw.
  const port = new URL(stack.url).port
  const cookie = jar.header(stack.url) ?? ''
  const body = await new Promise<any>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/who', headers: { accept: 'application/json', cookie, X_Forwarded_Email: 'ceo@example.com', x_auth_request_user: 'evil' } }, (res) => {
      let data = ''
      res.on('data', (c) => { data += c })
      res.on('end', () => resolve(JSON.parse(data)))
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(body.headers.x_forwarded_email, undefined)
  t.equal(body.headers.x_auth_request_user, undefined)
  t.equal(body.headers['x-forwarded-email'], 'alice@example.com')
})

t.test('public routes work without sign-in and still strip identity headers', async (t) => {
  const { status, body } = await view('/public/page', spoofed, false)
  t.equal(status, 200)
  t.equal(body.headers['x-forwarded-user'], undefined)
  t.equal(body.headers['x-forwarded-email'], undefined)
  t.equal(body.headers['x-auth-request-user'], undefined)
})

t.test('a public prefix can never reach a protected path', async (t) => {
  for (const path of ['/public/../secret', '/public/%2e%2e/secret', '/public/%2E%2E/secret', '/public/./../secret']) {
    const { status, body } = await view(path, {}, false)
    t.equal(status, 401, path)
    t.equal(body.error, 'PCS_UNAUTHENTICATED')
  }
  const encoded = await view('/public/a%2fb', {}, false)
  t.equal(encoded.status, 200, 'an encoded slash is not a separator: still under /public/')
  t.equal(encoded.body.path, '/public/a%2Fb')
  const hidden = await view('/public/..%2fsecret', {}, false)
  t.equal(hidden.status, 400, 'a segment an upstream could decode into .. is refused')
})

t.test('unsafe paths are refused with 400', async (t) => {
  for (const path of ['/a/%zz', '/..', '/a\\b']) {
    const port = new URL(stack.url).port
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, headers: { accept: 'application/json' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      req.end()
    })
    t.equal(status, 400, path)
  }
})

t.test("the gateway's cookies are removed from the upstream Cookie header; others pass", async (t) => {
  const own = jar.header(stack.url) ?? ''
  const name = stack.config.session.cookie.name
  t.match(own, new RegExp(`(^|; )${name}=`), 'the jar holds the session cookie')
  const { body } = await view('/cookies', { cookie: `theme=dark; ${own}; ${name}_login=stale; other=1` }, false)
  const sent = String(body.headers.cookie).split('; ')
  t.ok(sent.includes('theme=dark'))
  t.ok(sent.includes('other=1'))
  t.notOk(sent.some((c) => c.startsWith(`${name}=`) || c.startsWith(`${name}_login=`)), 'no gateway cookie upstream')
  // Cookies of other applications on the same host (here: the provider's) pass untouched.
  const others = own.split('; ').filter((c) => !c.startsWith(`${name}=`))
  for (const c of others) t.ok(sent.includes(c), `${c.split('=')[0]} passes`)
})

t.test('X-Forwarded-For/-Proto/-Host from an untrusted client are replaced', async (t) => {
  const { body } = await view('/fwd', { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test' })
  t.equal(body.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(body.headers['x-forwarded-proto'], 'http')
  t.equal(body.headers['x-forwarded-host'], new URL(stack.url).host)
  t.match(body.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('an unreachable upstream gives a clear 502, not a hang', async (t) => {
  const { status, body } = await view('/dead/x')
  t.equal(status, 502)
  t.equal(body.error, 'PCS_UPSTREAM_UNAVAILABLE')
})

t.test('a 200 MB upload is streamed to the upstream, not buffered', async (t) => {
  // A dedicated upstream counts bytes as they arrive. The client sends the first half, then
  // waits until the upstream has seen most of it before sending the rest: a gateway that buffers
  // the body never lets those bytes through early, and the bounded wait fails the test.
  let received = 0
  const sink = createServer((req, res) => {
    req.on('data', (c: Buffer) => { received += c.length })
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ bytes: received })) })
  })
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => sink.close(() => resolve())))
  const sinkPort = (sink.address() as AddressInfo).port
  const upload = await startStack({
    store: 'memory',
    provider: stack.provider,
    configure: (raw) => { raw.routes = [{ path: '/', upstream: `http://127.0.0.1:${sinkPort}`, public: true }] }
  })
  t.teardown(() => upload.close())

  const total = 200 * 1024 * 1024
  const half = total / 2
  const chunk = Buffer.alloc(1024 * 1024, 97)
  let sent = 0
  let sawEarlyBytes = false
  async function * generate (): AsyncGenerator<Buffer> {
    while (sent < total) {
      if (sent === half) {
        for (let i = 0; i < 200 && received < half - 16 * 1024 * 1024; i++) await new Promise((resolve) => setTimeout(resolve, 25))
        sawEarlyBytes = received >= half - 16 * 1024 * 1024
      }
      sent += chunk.length
      yield chunk
    }
  }
  const response = await fetch(`${upload.url}/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', accept: 'application/json' },
    body: Readable.toWeb(Readable.from(generate())),
    duplex: 'half'
  })
  t.equal(response.status, 200)
  t.same(await response.json(), { bytes: total })
  t.ok(sawEarlyBytes, 'the upstream received the first half before the client sent the second')
})

t.test('WebSocket upgrades are proxied for signed-in users only', async (t) => {
  const wsUrl = stack.url.replace('http', 'ws') + '/ws'
  const hello = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { cookie: jar.header(stack.url) ?? '', 'x-forwarded-email': 'ceo@example.com' } })
    ws.once('message', (data) => { resolve(data.toString()); ws.close() })
    ws.once('error', reject)
  })
  t.same(JSON.parse(hello), { hello: 'alice@example.com' })

  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(wsUrl)
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate() })
    ws.once('open', () => { resolve(101); ws.close() })
    ws.once('error', () => resolve(-1))
  })
  t.equal(refused, 401)
})
