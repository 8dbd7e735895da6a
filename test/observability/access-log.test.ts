import { createServer } from 'node:http'
import t from 'tap'
import { DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { createSessions } from '../../src/session/sessions.js'
import { createTicketCodec } from '../../src/session/ticket.js'
import type { SessionRecord } from '../../src/domain/types.js'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { COOKIE_SECRET } from '../fixtures/config/base.js'
import { startStack, type Stack } from '../helpers/stack.js'
import { listenOnLoopback } from '../helpers/listen.js'

const hour = 3600_000
const clock = createTestClock()
let stack: Stack

// An upstream that never answers /hang, so a client can give up while the request is in flight.
const hanging = createServer((req) => { req.resume() })
let arrived: () => void = () => {}

t.before(async () => {
  hanging.on('request', () => arrived())
  const hangingUrl = await listenOnLoopback(hanging)
  stack = await startStack({
    store: 'redis',
    now: clock.now,
    configure: (raw) => {
      raw.logging = { level: 'debug' }
      raw.identity = { pass_access_token: true, pass_id_token: true }
      raw.routes.push({ path: '/admin/', upstream: raw.routes[0].upstream, allow: { emails: ['nobody@example.com'] } })
      raw.routes.push({ path: '/hang/', upstream: hangingUrl, public: true })
      raw.metrics = { public: true }
    }
  })
})
t.teardown(async () => {
  await stack.close()
  hanging.closeAllConnections()
  hanging.close()
})

type Line = Record<string, unknown>
const accessLines = (): Line[] => stack.logs.filter((l) => l.msg === 'request')
const linesFor = (requestId: string | null): Line[] => accessLines().filter((l) => l.requestId === requestId)

/** The session record behind the jar's cookie, read the way the gateway reads it. */
async function sessionOf (jar: CookieJar): Promise<SessionRecord> {
  const raw = jar.get(stack.config.session.cookie.name, stack.url)
  const ticket = createTicketCodec(stack.config.session.cookie.secrets).decode(decodeURIComponent(raw ?? ''))
  if (ticket === null) throw new Error('no session cookie')
  const record = await createSessions({ store: stack.gateway.store, keyPrefix: stack.config.redis.keyPrefix, now: clock.now }).load(ticket)
  if (record === null) throw new Error('no session')
  return record
}

t.test('logs: no token, cookie value or secret appears anywhere in the log of a full sign-in and refresh at debug level', async (t) => {
  const jar = new CookieJar()
  const signedIn = await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  t.equal(signedIn.status, 200)
  const callback = new URL(signedIn.callbackUrl)
  const before = await sessionOf(jar)
  const cookieValues = jar.all().map((c) => c.value)

  // A proxied request carrying an Authorization header and a foreign cookie of its own.
  const bearer = 'client-sent-bearer-5b0d8e1c7f2a'
  const proxied = await fetchWithJar(`${stack.url}/data`, jar, { headers: { accept: 'application/json', authorization: `Bearer ${bearer}` } })
  t.equal(proxied.status, 200)

  clock.advance(hour)
  const refreshed = await fetchWithJar(`${stack.url}/after`, jar, { headers: { accept: 'application/json' } })
  t.equal(refreshed.status, 200)
  const after = await sessionOf(jar)
  t.not(after.tokens.accessToken, before.tokens.accessToken, 'the refresh really happened')

  const secrets: Record<string, string> = {
    'access token': before.tokens.accessToken,
    'refreshed access token': after.tokens.accessToken,
    'refresh token': before.tokens.refreshToken ?? '',
    'refreshed refresh token': after.tokens.refreshToken ?? '',
    'id token': before.tokens.idToken ?? '',
    'refreshed id token': after.tokens.idToken ?? '',
    'client secret': DEMO_CLIENT_SECRET,
    'cookie secret': COOKIE_SECRET,
    'authorization code': callback.searchParams.get('code') ?? '',
    'state': callback.searchParams.get('state') ?? '',
    'client Authorization header': bearer
  }
  cookieValues.forEach((value, i) => { secrets[`cookie value ${i}`] = value })
  for (const [what, value] of Object.entries(secrets)) t.ok(value.length >= 16, `${what} is a real value to look for`)

  const text = stack.logText()
  t.ok(stack.logs.some((l) => l.level === 'debug'), 'debug lines were written')
  t.ok(stack.logs.some((l) => l.msg === 'token refresh' && l.refresh === 'refreshed'), 'the refresh was logged')
  for (const [what, value] of Object.entries(secrets)) {
    t.notOk(text.includes(value), `the log never contains the ${what}`)
    t.notOk(text.includes(encodeURIComponent(value)), `the log never contains the ${what}, URL-encoded`)
  }
})

t.test('logs: one access line per request with request id, method, path, status, duration, route, upstream, user and outcome', async (t) => {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const sub = (await sessionOf(jar)).identity.sub

  const response = await fetchWithJar(`${stack.url}/one?x=secret-query-value`, jar, { headers: { accept: 'application/json' } })
  t.equal(response.status, 200)
  const requestId = response.headers.get('x-request-id')
  const echoed = (await response.json()) as { headers: Record<string, string> }
  t.equal(echoed.headers['x-request-id'], requestId, 'the upstream received the same request id')
  const lines = linesFor(requestId)
  t.equal(lines.length, 1, 'exactly one access line')
  const line = lines[0] as Line
  t.match(line, { level: 'info', method: 'GET', path: '/one', status: 200, route: '/', upstream: stack.upstreamUrl, user: sub, outcome: 'proxied' })
  t.type(line.durationMs, 'number')
  t.notMatch(stack.logText(), /secret-query-value/, 'query strings are never logged')
})

t.test('logs: the outcome names what the gateway did', async (t) => {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['navigation without a session', () => fetch(`${stack.url}/nav`, { headers: { accept: 'text/html' }, redirect: 'manual' }), 302, 'redirected_to_sign_in'],
    ['API call without a session', () => fetch(`${stack.url}/api/x`), 401, 'unauthenticated'],
    ['route the user may not use', () => fetchWithJar(`${stack.url}/admin/x`, jar, { headers: { accept: 'application/json' } }), 403, 'denied'],
    ['public route', () => fetch(`${stack.url}/public/x`, { headers: { accept: 'application/json' } }), 200, 'public'],
    ['sign-in start', () => fetch(`${stack.url}/oauth2/start?rd=/`, { redirect: 'manual' }), 302, 'sign_in_started'],
    ['gateway endpoint', () => fetch(`${stack.url}/ready`), 200, 'gateway']
  ]
  for (const [what, send, status, outcome] of cases) {
    const response = await send()
    await response.body?.cancel()
    t.equal(response.status, status, what)
    const lines = linesFor(response.headers.get('x-request-id'))
    t.equal(lines.length, 1, `${what}: one line`)
    t.equal(lines[0]?.outcome, outcome, `${what}: ${outcome}`)
  }
  // Liveness probes are the one exception: /ping is counted in the metrics but not logged.
  const ping = await fetch(`${stack.url}/ping`)
  t.equal(ping.status, 200)
  t.equal(linesFor(ping.headers.get('x-request-id')).length, 0, '/ping writes no access line')
  clock.advance(hour)
  const refreshed = await fetchWithJar(`${stack.url}/r`, jar, { headers: { accept: 'application/json' } })
  t.equal(refreshed.status, 200)
  t.equal(linesFor(refreshed.headers.get('x-request-id'))[0]?.outcome, 'refreshed')
  clock.reset()
})

t.test('logs: a client-sent X-Request-Id is replaced unless it comes from a trusted proxy', async (t) => {
  const untrusted = await fetch(`${stack.url}/public/x`, { headers: { accept: 'application/json', 'x-request-id': 'client-chosen-id' } })
  const body = (await untrusted.json()) as { headers: Record<string, string> }
  t.not(untrusted.headers.get('x-request-id'), 'client-chosen-id')
  t.match(untrusted.headers.get('x-request-id'), /^[0-9a-f-]{36}$/)
  t.equal(body.headers['x-request-id'], untrusted.headers.get('x-request-id'))
  t.equal(linesFor('client-chosen-id').length, 0)

  const behindProxy = await startStack({
    store: 'memory',
    provider: stack.provider,
    upstreamUrl: stack.upstreamUrl,
    configure: (raw) => { raw.server.trusted_proxies = ['127.0.0.1'] }
  })
  t.teardown(() => behindProxy.close())
  const trusted = await fetch(`${behindProxy.url}/public/x`, { headers: { accept: 'application/json', 'x-request-id': 'lb-7f3a-0001' } })
  const echoed = (await trusted.json()) as { headers: Record<string, string> }
  t.equal(trusted.headers.get('x-request-id'), 'lb-7f3a-0001')
  t.equal(echoed.headers['x-request-id'], 'lb-7f3a-0001', 'kept and forwarded upstream')
  t.equal(behindProxy.logs.filter((l) => l.msg === 'request' && l.requestId === 'lb-7f3a-0001').length, 1)
  const malformed = await fetch(`${behindProxy.url}/public/x`, { headers: { accept: 'application/json', 'x-request-id': 'bad id with spaces' } })
  await malformed.body?.cancel()
  t.match(malformed.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'a malformed id is replaced even from a trusted proxy')
})

t.test('logs: a request whose client hangs up before the answer is logged once, as client_aborted with status 499', async (t) => {
  const controller = new AbortController()
  const upstreamReached = new Promise<void>((resolve) => { arrived = resolve })
  const pending = fetch(`${stack.url}/hang/forever`, { signal: controller.signal, headers: { accept: 'application/json' } }).catch(() => 'aborted')
  await upstreamReached
  controller.abort()
  t.equal(await pending, 'aborted')
  let lines: Line[] = []
  for (let i = 0; i < 100 && lines.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    lines = accessLines().filter((l) => l.path === '/hang/forever')
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  lines = accessLines().filter((l) => l.path === '/hang/forever')
  t.equal(lines.length, 1, 'exactly one line')
  t.match(lines[0], { status: 499, outcome: 'client_aborted', route: '/hang/' })
  const metrics = await (await fetch(`${stack.url}/metrics`)).text()
  t.match(metrics, /portcullis_http_requests_total\{route="\/hang\/",status_class="4xx"\} 1/)
})
