/**
 * Forward-auth end to end: a real nginx running the `auth_request` configuration from
 * docs/forward-auth.md (extracted from the page, so the documented snippet is the tested one) in
 * front of the demo upstream, with the gateway and the development provider behind it.
 */
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import t from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { nginxPortTaken, startNginx, type Nginx } from '../helpers/nginx.js'
import { onPickedPort } from '../helpers/listen.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

const doc = readFileSync(new URL('../../docs/forward-auth.md', import.meta.url), 'utf8')
const snippet = /<!-- nginx-snippet:start -->\n```nginx\n([\s\S]*?)```\n<!-- nginx-snippet:end -->/.exec(doc)?.[1]
const hour = 3600_000
const clock = createTestClock()

let stack: Stack
let nginx: Nginx
let base: string

t.before(async () => {
  if (snippet === undefined) throw new Error('docs/forward-auth.md has no nginx snippet between the markers')
  // nginx is the gateway's public address, so its port is in the gateway's public_url before
  // nginx starts: a picked one, with both started over on a new one when it was taken meanwhile.
  ;({ stack, nginx } = await onPickedPort(async (port) => {
    const stack = await startStack({
      store: 'memory',
      publicUrl: `http://127.0.0.1:${port}`,
      now: clock.now,
      configure: (raw) => {
        // Only 127.0.0.1 (nginx, and this test when it plays a proxy) is trusted; the "outside"
        // client below connects from 127.0.0.2.
        raw.server.trusted_proxies = ['127.0.0.1/32']
        raw.routes.push({ path: '/admin/', upstream: raw.routes[0].upstream, allow: { groups: ['admins'] } })
        raw.logging = { level: 'debug' }
      }
    })
    const conf = snippet
      .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`)
      .replaceAll('http://127.0.0.1:4180', stack.url)
      .replaceAll('http://127.0.0.1:8080', stack.upstreamUrl)
    t.not(conf, snippet)
    try {
      return { stack, nginx: await startNginx(conf, port) }
    } catch (err) {
      await stack.close()
      throw err
    }
  }, nginxPortTaken))
  base = `http://127.0.0.1:${nginx.port}`
})
t.teardown(async () => {
  await nginx?.stop()
  await stack?.close()
})

async function json (jar: CookieJar, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const res = await fetchWithJar(`${base}${path}`, jar, { headers: { accept: 'application/json', ...headers } })
  const text = await res.text()
  try { return { status: res.status, body: JSON.parse(text), headers: res.headers } } catch { return { status: res.status, body: text, headers: res.headers } }
}

const jars = new Map<string, CookieJar>()
async function signedIn (email: string): Promise<CookieJar> {
  const existing = jars.get(email)
  if (existing !== undefined) return existing
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl: base, jar, email })
  if (result.status !== 200) throw new Error(`sign-in as ${email} ended with ${result.status} at ${result.finalUrl}`)
  jars.set(email, jar)
  return jar
}

/** GET straight to the gateway from a chosen local address (127.0.0.2 is not a trusted proxy). */
function direct (path: string, headers: Record<string, string>, localAddress: string): Promise<{ status: number, headers: Record<string, unknown> }> {
  const url = new URL(stack.url)
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: url.port, path, headers, localAddress, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

t.test('nginx: not signed in, a browser is sent to sign-in with a way back to the exact request', async (t) => {
  const jar = new CookieJar()
  const res = await fetchWithJar(`${base}/reports/q3?year=2024&view=full`, jar)
  t.equal(res.status, 302)
  t.equal(res.headers.get('location'), `${base}/oauth2/start?rd=${encodeURIComponent('/reports/q3?year=2024&view=full')}`)
  t.equal(jar.all().length, 0, 'no cookie is set on the way')
})

t.test('nginx: signed in, the upstream sees the identity set from the check, not the client\'s', async (t) => {
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl: base, jar, email: 'alice@example.com', startPath: '/reports/q3?year=2024&view=full' })
  t.equal(result.landedPath, '/reports/q3?year=2024&view=full', 'sign-in lands on the original request, query included')
  t.equal(result.status, 200)
  jars.set('alice@example.com', jar)
  const seen = await json(jar, '/whoami', { 'x-forwarded-user': 'spoofed', 'x-forwarded-email': 'ceo@example.com', 'x-auth-request-user': 'spoofed' })
  t.equal(seen.status, 200)
  t.equal(seen.body.headers['x-forwarded-user'], 'dev-alice')
  t.equal(seen.body.headers['x-forwarded-email'], 'alice@example.com')
  t.equal(seen.body.headers['x-forwarded-groups'], 'admins,staff')
  t.equal(seen.body.headers['x-auth-request-user'], undefined)
  t.equal(seen.headers.get('set-cookie'), null, 'no cookie while the session needs no refresh')
})

t.test('nginx: signed in but not allowed by the route policy gets 403; allowed users pass', async (t) => {
  const bob = await signedIn('bob@example.com')
  t.equal((await json(bob, '/admin/settings')).status, 403)
  t.equal((await json(bob, '/elsewhere')).status, 200, 'the global rule admits bob elsewhere')
  const alice = await signedIn('alice@example.com')
  t.equal((await json(alice, '/admin/settings')).status, 200)
  const logged = stack.logs.find((l) => l.msg === 'forward-auth decision' && l.decision === 'routes[/admin/].allow: no rule matched (deny by default)')
  t.ok(logged, 'the deciding rule is in the debug log')
  t.equal(logged?.allow, false)
})

t.test('nginx: public routes pass without sign-in', async (t) => {
  const res = await json(new CookieJar(), '/public/logo.txt')
  t.equal(res.status, 200)
  t.equal(res.body.headers['x-forwarded-user'], undefined, 'no identity header (an empty value is not sent)')
})

t.test('nginx: a client\'s own X-Forwarded-Uri / X-Original-URI cannot pick a looser route', async (t) => {
  const bob = await signedIn('bob@example.com')
  for (const header of ['x-forwarded-uri', 'x-original-uri']) {
    t.equal((await json(bob, '/admin/settings', { [header]: '/public/x' })).status, 403, `${header} for bob`)
    const anon = await fetchWithJar(`${base}/admin/settings`, new CookieJar(), { headers: { [header]: '/public/x' } })
    t.equal(anon.status, 302, `${header} without a session still needs sign-in`)
  }
})

t.test('forward-auth: X-Forwarded-Uri from an untrusted caller is ignored; from a trusted proxy it is used', async (t) => {
  const spoof = { 'x-forwarded-uri': '/public/x', accept: 'application/json' }
  const outside = await direct('/oauth2/auth', spoof, '127.0.0.2')
  t.equal(outside.status, 401, 'untrusted: the public route is not believed, sign-in is required')
  t.equal(outside.headers['x-auth-request-sign-in'], `${base}/oauth2/start?rd=%2F`, 'and the way back is not taken from it either')
  const proxy = await direct('/oauth2/auth', spoof, '127.0.0.1')
  t.equal(proxy.status, 202, 'trusted: the same header makes it a public route')
  const bob = (await signedIn('bob@example.com')).header(`${base}/`) ?? ''
  const admin = { 'x-forwarded-uri': '/admin/settings', cookie: bob }
  t.equal((await direct('/oauth2/auth', admin, '127.0.0.1')).status, 403, 'trusted: the admin route applies to bob')
  t.equal((await direct('/oauth2/auth', admin, '127.0.0.2')).status, 202, 'untrusted: only the global rule applies')
  const both = await direct('/oauth2/auth', { ...admin, 'x-original-uri': '/public/x' }, '127.0.0.1')
  t.equal(both.status, 400, 'trusted, with the other name next to the configured one: refused')
})

t.test('nginx: spellings of /admin/ that upstreams read as /admin/ are judged by /admin/', async (t) => {
  const bob = await signedIn('bob@example.com')
  const alice = await signedIn('alice@example.com')
  for (const path of ['/admin%2Fsettings', '/ADMIN/settings', '/Admin/settings', '/admin;x/settings', '/admin./settings', '/admin%2e/settings', '//admin/settings', '/%61dmin/settings', '/admin']) {
    t.equal((await json(bob, path)).status, 403, `${path}: bob is refused`)
    const anon = await fetchWithJar(`${base}${path}`, new CookieJar(), { headers: { accept: 'application/json' } })
    t.equal(anon.status, 302, `${path}: nobody signed in is sent to sign-in`)
    await anon.body?.cancel()
  }
  const ok = await json(alice, '/admin%2Fsettings')
  t.equal(ok.status, 200, 'an admin still reaches it')
  t.equal(ok.body.path, '/admin%2Fsettings', 'forwarded byte for byte')
})

t.test('nginx: a refresh during forward-auth reaches the browser as one Set-Cookie', async (t) => {
  clock.reset()
  const jar = new CookieJar()
  await signIn({ gatewayUrl: base, jar, email: 'alice@example.com' })
  const before = stack.provider.counters.refreshGrants
  const cookieBefore = jar.get('_portcullis')
  clock.advance(hour - 30_000)
  const res = await fetchWithJar(`${base}/whoami`, jar, { headers: { accept: 'application/json' } })
  t.equal(res.status, 200)
  await res.body?.cancel()
  t.equal(stack.provider.counters.refreshGrants, before + 1, 'the check refreshed the session')
  const cookies = res.headers.getSetCookie()
  t.equal(cookies.length, 1)
  t.match(cookies[0], /^_portcullis=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/)
  t.equal(jar.get('_portcullis'), cookieBefore, 'the ticket itself stays the same')
  const again = await fetchWithJar(`${base}/whoami`, jar, { headers: { accept: 'application/json' } })
  t.equal(again.status, 200)
  t.strictSame(again.headers.getSetCookie(), [], 'no cookie once the session is fresh')
  await again.body?.cancel()
  clock.reset()
})
