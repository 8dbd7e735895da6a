/**
 * Forward-auth over HTTP, with this test playing the proxy: the Traefik/Caddy redirect mode
 * (`?mode=redirect` + X-Forwarded-Proto/-Host/-Uri/-Method), cross-host returns through the one
 * redirect validator, the session cookie scoped to `session.cookie.domain`, and the answers for
 * public routes, refused methods, bad paths and non-browser clients.
 *
 * The gateway's public URL is http://localhost:PORT with `session.cookie.domain: localhost`, and
 * the "apps" are `*.localhost` hosts: they are never connected to, only named in the headers a
 * proxy would send, while the cookie jar decides which cookies a browser would send them.
 */
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { chooseAccount, followUntil } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
let publicUrl: string

t.before(async () => {
  stack = await startStack({
    store: 'memory',
    publicUrl: (port) => `http://localhost:${port}`,
    configure: (raw) => {
      raw.server.trusted_proxies = ['127.0.0.1']
      raw.server.allowed_redirect_hosts = ['.localhost']
      raw.session.cookie.domain = 'localhost'
      const upstream = raw.routes[0].upstream
      raw.routes.push({ path: '/admin/', upstream, allow: { groups: ['admins'] } })
      raw.routes.push({ path: '/reports/', upstream, methods: ['GET'] })
      raw.identity = { pass_access_token: true }
    }
  })
  publicUrl = stack.config.server.publicUrl
})
t.teardown(async () => { await stack?.close() })

/** What Traefik sends to the auth address for a request to `app` (an absolute URL). */
function forwarded (app: string, method = 'GET'): Record<string, string> {
  const url = new URL(app)
  return { 'x-forwarded-proto': url.protocol.slice(0, -1), 'x-forwarded-host': url.host, 'x-forwarded-uri': url.pathname + url.search, 'x-forwarded-method': method, 'x-forwarded-for': '203.0.113.7' }
}

/** Calls /oauth2/auth as the proxy would for a browser request to `app`, with the browser's cookies for `app`. */
async function check (jar: CookieJar, app: string, options: { method?: string, accept?: string, mode?: string } = {}): Promise<Response> {
  const cookie = jar.header(app)
  const headers: Record<string, string> = { ...forwarded(app, options.method), accept: options.accept ?? 'text/html,application/xhtml+xml' }
  if (cookie !== undefined) headers.cookie = cookie
  // Sent to the loopback address: the gateway listens on 127.0.0.1, whatever its public name.
  return await fetch(`${stack.url}/oauth2/auth${options.mode === undefined ? '?mode=redirect' : options.mode}`, { headers, redirect: 'manual' })
}

const signInFor = (rd: string): string => `${publicUrl}/oauth2/start?rd=${encodeURIComponent(rd)}`

async function signInThroughApp (email: string, app: string): Promise<{ jar: CookieJar, landed: string }> {
  const jar = new CookieJar()
  const first = await check(jar, app)
  const location = first.headers.get('location')
  if (first.status !== 302 || location === null) throw new Error(`expected a redirect to sign-in, got ${first.status}`)
  const toProvider = await followUntil(location, jar, () => false)
  const html = await toProvider.response?.text() ?? ''
  const next = await chooseAccount(toProvider.url, html, jar, email)
  const back = await followUntil(next, jar, (u) => u.hostname !== 'localhost' && u.hostname !== '127.0.0.1')
  if (!back.matched) throw new Error(`sign-in did not return to an app: ${back.hops.join(' -> ')}`)
  return { jar, landed: back.url }
}

t.test('redirect mode: a browser that is not signed in is sent to sign-in with the original URL to come back to', async (t) => {
  const res = await check(new CookieJar(), 'http://grafana.localhost/d/abc?orgId=1&refresh=5s')
  t.equal(res.status, 302)
  t.equal(res.headers.get('location'), signInFor('http://grafana.localhost/d/abc?orgId=1&refresh=5s'))
  t.equal(res.headers.get('cache-control'), 'no-store')
})

t.test('redirect mode: sign-in returns to the app host, with a session cookie scoped to session.cookie.domain', async (t) => {
  const { jar, landed } = await signInThroughApp('alice@example.com', 'http://grafana.localhost/d/abc?orgId=1')
  t.equal(landed, 'http://grafana.localhost/d/abc?orgId=1')
  const session = jar.cookiesFor('http://grafana.localhost/').find((c) => c.name === '_portcullis')
  t.ok(session, 'the app host receives the session cookie')
  t.equal(session?.domain, 'localhost')
  t.equal(session?.hostOnly, false)
  t.ok(jar.get('_portcullis', 'http://wiki.localhost/'), 'and so does every other host under the domain')
  const ok = await check(jar, 'http://grafana.localhost/d/abc')
  t.equal(ok.status, 202)
  t.equal(ok.headers.get('x-auth-request-user'), 'dev-alice')
  t.equal(ok.headers.get('x-auth-request-email'), 'alice@example.com')
  t.equal(ok.headers.get('x-auth-request-preferred-username'), 'alice')
  t.equal(ok.headers.get('x-auth-request-groups'), 'admins,staff')
  t.match(ok.headers.get('x-auth-request-access-token') ?? '', /^.{16,}$/, 'the access token, as pass_access_token asks')
  t.strictSame(ok.headers.getSetCookie(), [])
})

t.test('redirect mode: a return URL on a host outside allowed_redirect_hosts falls back to /', async (t) => {
  for (const app of ['http://evil.test/steal', 'http://localhost.evil.test/x', 'https://grafana.localhost/x']) {
    const res = await check(new CookieJar(), app)
    t.equal(res.status, 302, app)
    t.equal(res.headers.get('location'), signInFor('/'), app)
  }
  const same = await check(new CookieJar(), `${publicUrl}/inside?x=1`)
  t.equal(same.headers.get('location'), signInFor('/inside?x=1'), 'the public origin itself becomes a path')
})

t.test('redirect mode: headers from a caller that is not a trusted proxy are ignored', async (t) => {
  const port = new URL(stack.url).port
  // The gateway listens on 127.0.0.1; reaching it from 127.0.0.2 makes the caller untrusted.
  const { request } = await import('node:http')
  const res = await new Promise<{ status: number, location: unknown }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/oauth2/auth?mode=redirect', localAddress: '127.0.0.2', headers: { ...forwarded('http://grafana.localhost/public/x'), accept: 'text/html' } }, (r) => {
      r.resume()
      resolve({ status: r.statusCode ?? 0, location: r.headers.location })
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(res.status, 302, 'not a public route: sign-in is required')
  t.equal(res.location, signInFor('/'), 'and the return URL is not taken from the headers')
})

t.test('redirect mode: API requests and api routes get 401 JSON, never a redirect', async (t) => {
  const res = await check(new CookieJar(), 'http://grafana.localhost/api/ds', { accept: 'application/json' })
  t.equal(res.status, 401)
  t.equal(res.headers.get('location'), null)
  t.equal(res.headers.get('x-auth-request-sign-in'), signInFor('http://grafana.localhost/api/ds'))
  t.strictSame(await res.json(), { error: 'PCS_UNAUTHENTICATED', message: 'Sign-in required', sign_in: signInFor('http://grafana.localhost/api/ds') })
  const api = await check(new CookieJar(), `${publicUrl}/api/things`)
  t.equal(api.status, 401, 'an api: true route answers 401 even to a browser')
  const post = await check(new CookieJar(), 'http://grafana.localhost/form', { method: 'POST' })
  t.equal(post.status, 401, 'a POST is not a navigation')
})

t.test('plain mode (nginx): 401 with the sign-in URL in X-Auth-Request-Sign-In, never a redirect', async (t) => {
  const res = await check(new CookieJar(), 'http://grafana.localhost/d/abc', { mode: '' })
  t.equal(res.status, 401)
  t.equal(res.headers.get('x-auth-request-sign-in'), signInFor('http://grafana.localhost/d/abc'))
  t.match(res.headers.get('www-authenticate') ?? '', /^Portcullis realm="http:\/\/localhost:\d+", sign_in="/)
})

t.test('forward-auth: signed in but not allowed gets a 403 page naming the account, with sign-out, without the rules', async (t) => {
  const { jar } = await signInThroughApp('bob@example.com', 'http://grafana.localhost/')
  const res = await check(jar, 'http://grafana.localhost/admin/users')
  t.equal(res.status, 403)
  t.equal(res.headers.get('x-portcullis-error'), 'PCS_FORBIDDEN')
  const html = await res.text()
  t.match(html, /You are signed in as <strong>bob@example.com<\/strong>/)
  t.match(html, new RegExp(`<a class="button primary" href="${publicUrl}/oauth2/sign_out\\?switch=1">Use another account</a>`))
  t.match(html, new RegExp(`<a class="button secondary" href="${publicUrl}/oauth2/sign_out">Sign out</a>`))
  t.notMatch(html, /admins|groups|routes|allow\.|rule/i, 'nothing about the rules')
  const api = await check(jar, 'http://grafana.localhost/admin/users', { accept: 'application/json' })
  t.equal(api.status, 403)
  t.strictSame(await api.json(), { error: 'PCS_FORBIDDEN', message: 'You are signed in but not allowed to use this' })
  t.equal((await check(jar, 'http://grafana.localhost/elsewhere')).status, 202)
})

t.test('forward-auth: public routes need no session; refused methods are 403; a bad path is 400', async (t) => {
  const pub = await check(new CookieJar(), 'http://grafana.localhost/public/logo.png')
  t.equal(pub.status, 202)
  t.equal(pub.headers.get('x-auth-request-user'), null, 'no identity for a public route')
  const { jar } = await signInThroughApp('alice@example.com', 'http://grafana.localhost/')
  t.equal((await check(jar, 'http://grafana.localhost/reports/q3')).status, 202)
  t.equal((await check(jar, 'http://grafana.localhost/reports/q3', { method: 'HEAD' })).status, 202, 'a listed GET admits HEAD')
  const del = await check(jar, 'http://grafana.localhost/reports/q3', { method: 'DELETE', accept: 'application/json' })
  t.equal(del.status, 403)
  t.equal(del.headers.get('x-portcullis-error'), 'PCS_FORBIDDEN')
  const bad = await fetch(`${stack.url}/oauth2/auth`, { headers: { 'x-forwarded-uri': '/public/../../admin/', accept: 'application/json' } })
  t.equal(bad.status, 400)
  t.equal(bad.headers.get('x-portcullis-error'), 'PCS_BAD_PATH')
})

/** GET /oauth2/auth with headers exactly as given (repeated names included), as a proxy would send them. */
function rawCheck (headers: Array<[string, string]>): Promise<{ status: number, code: unknown, user: unknown }> {
  const url = new URL(stack.url)
  return new Promise((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const req = request({ host: url.hostname, port: url.port, path: '/oauth2/auth', headers: [['host', url.host], ...headers].flat(), timeout: 5000 }, (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-portcullis-error'], user: res.headers['x-auth-request-user'] }))
      })
      req.on('error', reject)
      req.end()
    }, reject)
  })
}

t.test('forward-auth: conflicting copies of the original request are refused with 400, never 2xx', async (t) => {
  const { jar } = await signInThroughApp('bob@example.com', 'http://grafana.localhost/')
  const cookie = jar.header('http://grafana.localhost/') ?? ''
  const base: Array<[string, string]> = [['accept', 'application/json'], ['cookie', cookie], ['x-forwarded-proto', 'http'], ['x-forwarded-host', 'grafana.localhost']]
  const cases: Array<[string, Array<[string, string]>]> = [
    ['X-Original-URI next to X-Forwarded-Uri', [['x-forwarded-uri', '/admin/users'], ['x-original-uri', '/public/x']]],
    ['X-Original-URI next to X-Forwarded-Uri, same value', [['x-forwarded-uri', '/admin/users'], ['x-original-uri', '/admin/users']]],
    ['X-Original-URI alone (not the configured header)', [['x-original-uri', '/public/x']]],
    ['X-Forwarded-Uri twice', [['x-forwarded-uri', '/public/x'], ['x-forwarded-uri', '/admin/users']]],
    ['X-Forwarded-Uri as two joined values', [['x-forwarded-uri', '/public/x, /admin/users']]],
    ['X-Original-Method next to X-Forwarded-Method', [['x-forwarded-uri', '/reports/q3'], ['x-forwarded-method', 'DELETE'], ['x-original-method', 'GET']]],
    ['X-Forwarded-Method twice', [['x-forwarded-uri', '/reports/q3'], ['x-forwarded-method', 'GET'], ['x-forwarded-method', 'DELETE']]],
    ['X-Forwarded-Method as two joined values', [['x-forwarded-uri', '/reports/q3'], ['x-forwarded-method', 'GET, DELETE']]]
  ]
  for (const [name, headers] of cases) {
    const res = await rawCheck([...base, ...headers])
    t.equal(res.status, 400, name)
    t.equal(res.code, 'PCS_ORIGINAL_REQUEST_CONFLICT', name)
    t.equal(res.user, undefined, `${name}: no identity`)
  }
  const single = await rawCheck([...base, ['x-forwarded-uri', '/reports/q3'], ['x-forwarded-method', 'GET']])
  t.equal(single.status, 202, 'one of each passes')
  t.equal(single.user, 'dev-bob')
  const commaPath = await rawCheck([...base, ['x-forwarded-uri', '/reports/a,b']])
  t.equal(commaPath.status, 202, 'a comma inside one path is a single value')
})

t.test('forward-auth: the original URI is judged by the strictest route any upstream reading selects', async (t) => {
  const { jar } = await signInThroughApp('bob@example.com', 'http://grafana.localhost/')
  const alice = (await signInThroughApp('alice@example.com', 'http://grafana.localhost/')).jar
  for (const path of ['/admin%2Fusers', '/ADMIN/users', '/Admin/users', '/admin;x/users', '/admin./users', '/admin%2e/users', '//admin/users', '/%61dmin/users', '/admin']) {
    t.equal((await check(jar, `http://grafana.localhost${path}`, { accept: 'application/json' })).status, 403, `${path}: bob`)
    t.equal((await check(new CookieJar(), `http://grafana.localhost${path}`, { accept: 'application/json' })).status, 401, `${path}: nobody`)
    t.equal((await check(alice, `http://grafana.localhost${path}`, { accept: 'application/json' })).status, 202, `${path}: alice`)
  }
  for (const path of ['/PUBLIC/logo.png', '/public']) {
    t.equal((await check(new CookieJar(), `http://grafana.localhost${path}`, { accept: 'application/json' })).status, 401, `${path}: not the public route`)
  }
})
