/**
 * The access policy on proxied requests, end to end: per-route `allow`, `methods` (405 with
 * Allow, before sign-in), the 403 page, the decision in the debug log, and groups read from the
 * provider's userinfo when the id token does not carry them.
 */
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type RawConfig, type Stack } from '../helpers/stack.js'

function withRoutes (raw: RawConfig): void {
  const upstream = raw.routes[0].upstream
  raw.routes.push({ path: '/admin/', upstream, allow: { groups: ['admins'] } })
  raw.routes.push({ path: '/reports/', upstream, methods: ['GET'] })
  raw.routes.push({ path: '/feed/', upstream, public: true, methods: ['GET'] })
  raw.logging = { level: 'debug' }
}

let stack: Stack
t.before(async () => { stack = await startStack({ store: 'memory', configure: withRoutes }) })
t.teardown(async () => { await stack?.close() })

async function view (jar: CookieJar, path: string, init: RequestInit = {}): Promise<{ status: number, body: any, response: Response }> {
  const response = await fetchWithJar(`${stack.url}${path}`, jar, { ...init, headers: { accept: 'application/json', ...init.headers as Record<string, string> } })
  const text = await response.text()
  let body: any = text
  try { body = JSON.parse(text) } catch {}
  return { status: response.status, body, response }
}

t.test('policy: a route allow narrows access; the 403 page names the account and hides the rules', async (t) => {
  const bob = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar: bob, email: 'bob@example.com' })
  t.equal((await view(bob, '/elsewhere')).status, 200, 'the global rule admits bob')
  const page = await fetchWithJar(`${stack.url}/admin/settings`, bob)
  t.equal(page.status, 403)
  const html = await page.text()
  t.match(html, /You are signed in as <strong>bob@example.com<\/strong>/)
  t.match(html, /<form method="post" action="\/oauth2\/sign_out\?switch=1"><button type="submit" class="button primary">Use another account<\/button><\/form>/)
  t.match(html, /<form method="post" action="\/oauth2\/sign_out"><button type="submit" class="button secondary">Sign out<\/button><\/form>/)
  t.notMatch(html, /admins|groups|routes|allow\.|rule/i, 'nothing about the rules')
  const api = await view(bob, '/admin/settings')
  t.equal(api.status, 403)
  t.strictSame(api.body, { error: 'PCS_FORBIDDEN', message: 'You are signed in but not allowed to use this' })
  const decision = stack.logs.find((l) => l.msg === 'access decision' && l.allow === false)
  t.equal(decision?.decision, 'routes[/admin/].allow: no rule matched (deny by default)', 'the deciding rule is in the debug log')

  const alice = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar: alice, email: 'alice@example.com' })
  t.equal((await view(alice, '/admin/settings')).status, 200)
  t.ok(stack.logs.some((l) => l.msg === 'access decision' && l.allow === true && l.decision === 'routes[/admin/].allow.groups: admins'))
})

t.test('policy: a method a route does not list gets 405 with Allow, before any sign-in', async (t) => {
  const anon = await view(new CookieJar(), '/reports/q3', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })
  t.equal(anon.status, 405, 'not 401: the method is refused whoever asks')
  t.equal(anon.response.headers.get('allow'), 'GET, HEAD')
  t.equal(anon.body.error, 'PCS_METHOD_NOT_ALLOWED')
  const feed = await view(new CookieJar(), '/feed/rss', { method: 'DELETE' })
  t.equal(feed.status, 405, 'methods apply to public routes too')
  t.equal((await view(new CookieJar(), '/feed/rss')).status, 200, 'a listed method on a public route passes without sign-in')
  t.equal((await view(new CookieJar(), '/feed/rss', { method: 'HEAD' })).status, 200, 'a listed GET admits HEAD')
  const alice = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar: alice, email: 'alice@example.com' })
  t.equal((await view(alice, '/reports/q3')).status, 200)
  t.equal((await view(alice, '/reports/q3', { method: 'PUT', body: 'x', headers: { 'content-type': 'text/plain' } })).status, 405)
})

t.test('groups: read from userinfo when the id token does not carry the groups claim', async (t) => {
  const other = await startStack({
    store: 'memory',
    providerOptions: { userinfoOnlyClaims: ['groups'] },
    configure: withRoutes
  })
  t.teardown(() => other.close())
  const before = other.provider.counters.userinfo
  const alice = new CookieJar()
  await signIn({ gatewayUrl: other.url, jar: alice, email: 'alice@example.com' })
  t.equal(other.provider.counters.userinfo, before + 1, 'sign-in read userinfo once')
  const res = await fetchWithJar(`${other.url}/admin/settings`, alice, { headers: { accept: 'application/json' } })
  t.equal(res.status, 200, 'the admins group from userinfo admits alice')
  t.equal(((await res.json()) as { headers: Record<string, string> }).headers['x-forwarded-groups'], 'admins,staff')
})

t.test('groups: userinfo is not read when the id token already carries every needed claim', async (t) => {
  const before = stack.provider.counters.userinfo
  await signIn({ gatewayUrl: stack.url, jar: new CookieJar(), email: 'alice@example.com' })
  t.equal(stack.provider.counters.userinfo, before)
})
