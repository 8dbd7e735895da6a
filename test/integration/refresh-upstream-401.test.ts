import { createServer, type Server } from 'node:http'
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'
import { listenOnLoopback } from '../helpers/listen.js'

/*
 * An upstream that checks the access token it is given: it answers 401 to every token in
 * `rejected` (as an API would for a token revoked at the provider) and records what it saw.
 */
const rejected = new Set<string>()
let rejectAll = false
const seen: Array<{ method: string, path: string, token: string, bodyBytes: number }> = []
let upstream: Server
let stack: Stack

t.before(async () => {
  upstream = createServer((req, res) => {
    let bodyBytes = 0
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length })
    req.on('end', () => {
      const token = String(req.headers['x-forwarded-access-token'] ?? '')
      seen.push({ method: req.method ?? '', path: req.url ?? '', token, bodyBytes })
      const status = rejectAll || rejected.has(token) ? 401 : 200
      const body = JSON.stringify(status === 401 ? { error: 'token_rejected' } : { token, email: req.headers['x-forwarded-email'], bodyBytes })
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(status === 401 ? { 'www-authenticate': 'Bearer error="invalid_token"' } : {}) })
      res.end(body)
    })
  })
  const upstreamUrl = await listenOnLoopback(upstream)
  stack = await startStack({
    store: 'redis',
    upstreamUrl,
    configure: (raw) => {
      raw.identity = { pass_access_token: true }
      raw.routes = [
        { path: '/', upstream: upstreamUrl },
        { path: '/api/', upstream: upstreamUrl, api: true, refresh_on_upstream_401: true }
      ]
    }
  })
})
t.teardown(async () => {
  await stack.close()
  await new Promise((resolve) => upstream.close(resolve))
})
t.beforeEach(() => {
  rejected.clear()
  rejectAll = false
  seen.length = 0
})

async function user (email = 'alice@example.com'): Promise<{ jar: CookieJar, token: string }> {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email })
  const first = await call(jar, 'GET', '/api/me')
  seen.length = 0
  return { jar, token: first.body.token }
}

async function call (jar: CookieJar, method: string, path: string, body?: string): Promise<{ status: number, body: any, generated: boolean }> {
  const response = await fetchWithJar(`${stack.url}${path}`, jar, { method, headers: { accept: 'application/json' }, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch { /* not JSON */ }
  return { status: response.status, body: parsed, generated: response.headers.get('x-portcullis-generated') === 'true' }
}

t.test('upstream 401: an idempotent request without a body on an opted-in route is refreshed once and retried once', async (t) => {
  const { jar, token } = await user()
  rejected.add(token)
  const grants = stack.provider.counters.refreshGrants
  const result = await call(jar, 'GET', '/api/report?q=1')
  t.equal(result.status, 200, 'the client sees the answer to the retry')
  t.not(result.body.token, token, 'sent with a refreshed access token')
  t.equal(stack.provider.counters.refreshGrants - grants, 1)
  t.same(seen.map((s) => [s.method, s.path, s.token === token]), [['GET', '/api/report?q=1', true], ['GET', '/api/report?q=1', false]], 'the upstream saw the request twice: old token, then new')
  const next = await call(jar, 'GET', '/api/report')
  t.equal(next.body.token, result.body.token, 'the refreshed session is stored')
  t.equal(stack.provider.counters.refreshGrants - grants, 1)
})

t.test('upstream 401: concurrent rejected requests of one session share one refresh', async (t) => {
  const { jar, token } = await user()
  rejected.add(token)
  const grants = stack.provider.counters.refreshGrants
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call(jar, i % 2 === 0 ? 'GET' : 'DELETE', `/api/item/${i}`)))
  t.same(results.map((r) => r.status), Array(20).fill(200), 'GET and DELETE (idempotent, no body) are retried')
  t.equal(new Set(results.map((r) => r.body.token)).size, 1)
  t.equal(stack.provider.counters.refreshGrants - grants, 1, 'one refresh grant for all of them')
})

t.test('upstream 401: a second 401 goes to the client as the upstream sent it; there is no third attempt', async (t) => {
  const { jar } = await user()
  rejectAll = true
  const grants = stack.provider.counters.refreshGrants
  const result = await call(jar, 'GET', '/api/x')
  t.equal(result.status, 401)
  t.same(result.body, { error: 'token_rejected' }, "the upstream's own body")
  t.equal(result.generated, false, 'not a gateway-generated response')
  t.equal(seen.length, 2, 'sent twice, never three times')
  t.equal(stack.provider.counters.refreshGrants - grants, 1)
})

t.test('upstream 401: never retried when the request body was streamed', async (t) => {
  const { jar, token } = await user()
  rejected.add(token)
  const grants = stack.provider.counters.refreshGrants
  for (const method of ['POST', 'PUT', 'PATCH']) {
    const result = await call(jar, method, '/api/upload', 'x'.repeat(1000))
    t.equal(result.status, 401, `${method} with a body: the upstream's 401 is passed on`)
    t.same(result.body, { error: 'token_rejected' })
  }
  t.same(seen.map((s) => [s.method, s.bodyBytes]), [['POST', 1000], ['PUT', 1000], ['PATCH', 1000]], 'each sent exactly once')
  t.equal(stack.provider.counters.refreshGrants - grants, 0, 'and no refresh was made for them')
  const post = await call(jar, 'POST', '/api/empty')
  t.equal(post.status, 401, 'a POST is not idempotent even without a body')
  t.equal(stack.provider.counters.refreshGrants - grants, 0)
  // Each refusal is logged under what refused it: the body, whatever the method; the method only without a body.
  const decisions = stack.logs.filter((l) => l.msg === 'upstream answered 401').map((l) => l.upstream401).slice(-4)
  t.same(decisions, ['refused_body', 'refused_body', 'refused_body', 'refused_method'], 'POST, PUT and PATCH with a body: refused_body; POST without: refused_method')
})

t.test('upstream 401: routes without refresh_on_upstream_401 pass the 401 on untouched', async (t) => {
  const { jar, token } = await user()
  rejected.add(token)
  const grants = stack.provider.counters.refreshGrants
  const result = await call(jar, 'GET', '/plain')
  t.equal(result.status, 401)
  t.equal(seen.length, 1)
  t.equal(stack.provider.counters.refreshGrants - grants, 0)
})

t.test('upstream 401: the refreshed claims are checked again before the retry', async (t) => {
  const { jar, token } = await user('bob@example.com')
  stack.provider.updateAccount('dev-bob', { email: 'bob@elsewhere.test' })
  t.teardown(() => stack.provider.updateAccount('dev-bob', { email: 'bob@example.com' }))
  rejected.add(token)
  const result = await call(jar, 'GET', '/api/x')
  t.equal(result.status, 403, 'a user no longer allowed is refused')
  t.equal(result.body.error, 'PCS_FORBIDDEN')
  t.equal(result.generated, true)
  t.equal(seen.length, 1, 'and the request was not sent again')
})
