import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { listenOnLoopback } from '../helpers/listen.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

/*
 * The edges of the gateway against a real echo upstream and raw sockets: headers an upstream
 * must not take from a client, the upstream's Set-Cookie for the gateway's own cookies, Fastify's
 * and Node's own refusals answered as the gateway's, the server timeouts, and the audit lines.
 */

let echo: Server
let stack: Stack
let trusted: Stack
let jar: CookieJar
/** Set-Cookie lines the echo upstream answers /set-cookies with. */
let cookiesToSet: string[] = []

t.before(async () => {
  echo = createServer((req, res) => {
    if (req.url?.includes('/set-cookies') === true) res.setHeader('set-cookie', cookiesToSet)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ headers: req.headers }))
  })
  const upstreamUrl = await listenOnLoopback(echo)
  stack = await startStack({
    store: 'memory',
    upstreamUrl,
    publicUrl: undefined,
    configure: (raw) => {
      raw.server.timeouts = { headers: '1s', request: '2s' }
    }
  })
  trusted = await startStack({
    store: 'memory',
    upstreamUrl,
    configure: (raw) => { raw.server.trusted_proxies = ['127.0.0.1'] }
  })
  jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
})
t.teardown(async () => {
  await stack.close()
  await trusted.close()
  await new Promise((resolve) => echo.close(resolve))
})

const clientChosen: Record<string, string> = {
  'X-Original-URL': '/admin/',
  'X-Rewrite-URL': '/admin/',
  'X-HTTP-Method-Override': 'DELETE',
  'X-HTTP-Method': 'DELETE',
  'X-Method-Override': 'DELETE',
  'X-Real-IP': '10.9.9.9',
  'True-Client-IP': '10.9.9.9',
  'X-Forwarded-Port': '8443',
  'X-Forwarded-Prefix': '/admin',
  'X-Forwarded-Server': 'evil.example',
  'Remote-User': 'admin',
  'X-Remote-User': 'admin',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Proto': 'https'
}

async function upstreamSaw (target: Stack, headers: Record<string, string>, withJar: CookieJar | null): Promise<IncomingHttpHeaders> {
  const url = `${target.url}/public/echo`
  const init = { headers: { accept: 'application/json', ...headers } }
  const response = withJar === null ? await fetch(url, init) : await fetchWithJar(url, withJar, init)
  t.equal(response.status, 200)
  return ((await response.json()) as { headers: IncomingHttpHeaders }).headers
}

/** Sends raw bytes and reads what comes back until the gateway closes the connection (bounded). */
async function raw (url: string, chunks: Array<string | { waitMs: number }>, limitMs = 8000): Promise<{ text: string, closedAfterMs: number }> {
  const { hostname, port } = new URL(url)
  const socket: Socket = connect(Number(port), hostname)
  let text = ''
  const started = Date.now()
  const closed = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
  })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  for (const chunk of chunks) {
    if (socket.destroyed) break
    if (typeof chunk === 'string') socket.write(chunk)
    else await Promise.race([new Promise((resolve) => setTimeout(resolve, chunk.waitMs)), closed])
  }
  const timer = setTimeout(() => socket.destroy(), limitMs)
  await closed
  clearTimeout(timer)
  return { text, closedAfterMs: Date.now() - started }
}

t.test('headers: client-chosen request facts are removed; X-Forwarded-Host/-Proto say what the gateway serves', async (t) => {
  const underscored = { X_Original_URL: '/admin/', X_Real_IP: '10.9.9.9', Remote_User: 'admin', X_Forwarded_Host: 'evil.example' }
  for (const withJar of [null, jar]) {
    const seen = await upstreamSaw(stack, { ...clientChosen, ...underscored, Host: 'evil.example' }, withJar)
    for (const name of [...Object.keys(clientChosen), ...Object.keys(underscored)]) {
      const lower = name.toLowerCase()
      if (lower === 'x-forwarded-host' || lower === 'x-forwarded-proto') continue
      t.equal(seen[lower], undefined, `${name} removed`)
    }
    const served = new URL(stack.config.server.publicUrl)
    t.equal(seen['x-forwarded-host'], served.host, 'X-Forwarded-Host is the public host, not the client\'s Host')
    t.equal(seen['x-forwarded-proto'], 'http')
    t.equal(seen['x-forwarded-for'], '127.0.0.1')
  }
})

t.test('headers: an https public_url is what the upstream is told, whatever the client says', async (t) => {
  const served = await startStack({ store: 'memory', provider: stack.provider, upstreamUrl: stack.upstreamUrl, publicUrl: 'https://apps.example.test' })
  t.teardown(() => served.close())
  const seen = await upstreamSaw(served, { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'evil.example', Host: 'evil.example' }, null)
  t.equal(seen['x-forwarded-proto'], 'https')
  t.equal(seen['x-forwarded-host'], 'apps.example.test')
})

t.test('headers: a trusted proxy\'s values are kept', async (t) => {
  const seen = await upstreamSaw(trusted, { ...clientChosen, 'X-Forwarded-For': '198.51.100.4' }, null)
  t.equal(seen['x-original-url'], '/admin/')
  t.equal(seen['x-real-ip'], '10.9.9.9')
  t.equal(seen['remote-user'], 'admin')
  t.equal(seen['x-forwarded-host'], 'evil.example', 'the trusted proxy\'s X-Forwarded-Host')
  t.equal(seen['x-forwarded-proto'], 'https')
  t.equal(seen['x-forwarded-for'], '198.51.100.4, 127.0.0.1')
})

t.test('cookies: an upstream Set-Cookie for a gateway cookie never reaches the browser', async (t) => {
  const session = stack.config.session.cookie.name
  cookiesToSet = [
    `${session}=planted; Path=/`,
    `${session}_login=planted; Path=/oauth2`,
    `${session}_login_tab2=planted; Path=/oauth2`,
    'app=kept; Path=/',
    ` ${session} =spaced; Path=/`
  ]
  const response = await fetchWithJar(`${stack.url}/public/set-cookies`, new CookieJar(), { headers: { accept: 'application/json' } })
  t.equal(response.status, 200)
  t.same(response.headers.getSetCookie(), ['app=kept; Path=/'])
  // A signed-in request: the gateway's own cookies are not in play, the upstream's are still dropped.
  const signedIn = await fetchWithJar(`${stack.url}/set-cookies`, jar, { headers: { accept: 'application/json' } })
  t.equal(signedIn.status, 200)
  t.same(signedIn.headers.getSetCookie(), ['app=kept; Path=/'])
})

t.test('errors: hostile request lines are answered by the gateway, without echo, and logged', async (t) => {
  const cases: Array<{ line: string, status: number }> = [
    { line: 'GET /%zz<script> HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { line: 'GET /oauth2/%zz HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { line: 'GET /a b<script> HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { line: 'BREW<script> / HTTP/1.1\r\n\r\n', status: 400 },
    { line: 'GET / HTTP/1.1\r\nHost: x\r\nBad Header<script>: 1\r\n\r\n', status: 400 },
    { line: `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
    { line: 'GET /oauth2/nowhere<script> HTTP/1.1\r\nHost: x\r\n\r\n', status: 404 },
    { line: 'POST /oauth2/sign_out HTTP/1.1\r\nHost: x\r\nContent-Type: text/evil\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab', status: 415 },
    { line: `POST /oauth2/sign_out HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n${'a'.repeat(5000)}`, status: 413 },
    { line: 'TRACE /public/<script> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 404 }
  ]
  for (const { line, status } of cases) {
    const before = stack.logs.filter(l => l.msg === 'request').length
    const { text } = await raw(stack.url, [line, { waitMs: 300 }], 3000)
    const [head = '', body = ''] = text.split('\r\n\r\n')
    t.match(head, new RegExp(`^HTTP/1.1 ${status} `), `${JSON.stringify(line.slice(0, 30))} -> ${status}`)
    t.match(head.toLowerCase(), /x-content-type-options: nosniff/)
    t.match(head.toLowerCase(), /x-portcullis-generated: true/)
    t.match(head.toLowerCase(), /x-portcullis-error: pcs_/)
    t.notMatch(body, /script|zz|nowhere/, 'the path is not echoed')
    // Bounded wait for the access line (written after the response finishes).
    for (let i = 0; i < 40 && stack.logs.filter(l => l.msg === 'request').length === before; i++) await new Promise((resolve) => setTimeout(resolve, 25))
    const lines = stack.logs.filter(l => l.msg === 'request').slice(before)
    t.ok(lines.some(l => l.status === status && l.client === '127.0.0.1'), 'an access line with the status and client')
  }
})

t.test('timeouts: a silent connection and a header trickle are closed after server.timeouts.headers', async (t) => {
  const silent = await raw(stack.url, [{ waitMs: 6000 }], 8000)
  t.ok(silent.closedAfterMs < 6000, `silent connection closed after ${silent.closedAfterMs} ms`)
  t.match(silent.text, /^HTTP\/1.1 408 /)
  const trickle: Array<string | { waitMs: number }> = ['GET /public/ HTTP/1.1\r\nHost: x\r\n']
  for (let i = 0; i < 20; i++) trickle.push(`X-Slow-${i}: 1\r\n`, { waitMs: 300 })
  const slow = await raw(stack.url, trickle, 8000)
  t.ok(slow.closedAfterMs < 5000, `header trickle closed after ${slow.closedAfterMs} ms`)
  t.match(slow.text, /^HTTP\/1.1 408 /)
  t.match(slow.text.toLowerCase(), /x-portcullis-error: pcs_request_timeout/)
})

t.test('timeouts: a connection with no bytes either way for server.timeouts.idle is closed', async (t) => {
  // An upstream that never answers: the client's connection then carries nothing either way.
  const hanging = createServer(() => {})
  const hangingUrl = await listenOnLoopback(hanging)
  const idle = await startStack({
    store: 'memory',
    provider: stack.provider,
    upstreamUrl: stack.upstreamUrl,
    configure: (raw) => {
      raw.server.timeouts = { idle: '1s' }
      raw.routes.push({ path: '/hang/', upstream: hangingUrl, public: true })
    }
  })
  t.teardown(async () => {
    await idle.close()
    hanging.closeAllConnections()
    await new Promise((resolve) => hanging.close(resolve))
  })
  const { text, closedAfterMs } = await raw(idle.url, ['GET /hang/x HTTP/1.1\r\nHost: x\r\n\r\n', { waitMs: 8000 }], 9000)
  t.equal(text, '', 'nothing was answered')
  t.ok(closedAfterMs >= 900 && closedAfterMs < 6000, `closed after ${closedAfterMs} ms (idle 1 s, upstream timeout 30 s)`)
})

t.test('metrics: not on the public listener by default', async (t) => {
  const response = await fetch(`${stack.url}/metrics`)
  t.equal(response.status, 404)
  t.equal(response.headers.get('x-portcullis-error'), 'PCS_NOT_FOUND')
})

t.test('access and audit lines: client address and user agent; bad ticket and forbidden audited', async (t) => {
  const before = stack.logs.length
  const response = await fetch(`${stack.url}/public/x`, { headers: { 'user-agent': 'edge-test/1.0' } })
  t.equal(response.status, 200)
  const bad = await fetch(`${stack.url}/`, { headers: { 'user-agent': 'edge-test/1.0', accept: 'application/json', cookie: `${stack.config.session.cookie.name}=v1.forged` } })
  t.equal(bad.status, 401)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const lines = stack.logs.slice(before)
  const access = lines.find(l => l.msg === 'request' && l.path === '/public/x')
  t.equal(access?.client, '127.0.0.1')
  t.equal(access?.userAgent, 'edge-test/1.0')
  const audit = lines.find(l => l.msg === 'audit' && l.audit === 'bad_ticket')
  t.ok(audit, 'bad_ticket audited')
  t.equal(audit?.client, '127.0.0.1')
  t.equal(audit?.userAgent, 'edge-test/1.0')
  t.notMatch(stack.logText(), /v1\.forged/, 'the cookie value is never logged')
})
