import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, followUntil, signIn, signInUntilCallback } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
t.before(async () => { stack = await startStack({ store: 'redis' }) })
t.teardown(async () => { await stack.close() })

async function upstreamView (jar: CookieJar, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: any, response: Response }> {
  const response = await fetchWithJar(`${stack.url}${path}`, jar, { headers: { accept: 'application/json', ...headers } })
  const text = await response.text()
  let body: any = text
  try { body = JSON.parse(text) } catch {}
  return { status: response.status, body, response }
}

t.test('sign-in: a deep link lands back on the exact path and query, and the upstream sees the identity', async (t) => {
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com', startPath: '/deep/link?a=1&b=two%20words' })
  t.equal(result.landedPath, '/deep/link?a=1&b=two%20words')
  t.equal(result.status, 200)
  const { status, body } = await upstreamView(jar, '/deep/link?a=1')
  t.equal(status, 200)
  t.equal(body.path, '/deep/link')
  t.equal(body.headers['x-forwarded-email'], 'alice@example.com')
  t.equal(body.headers['x-forwarded-user'], 'dev-alice')
  t.equal(body.headers['x-forwarded-groups'], 'admins,staff')
  t.equal(stack.provider.counters.authorizationCodeGrants >= 1, true)
})

t.test('sign-in: the session cookie is HttpOnly, SameSite and holds only an opaque ticket', async (t) => {
  const jar = new CookieJar()
  const { callbackUrl } = await signInUntilCallback({ gatewayUrl: stack.url, jar, email: 'bob@example.com' })
  const response = await fetchWithJar(callbackUrl, jar)
  t.equal(response.status, 302)
  const setCookie = response.headers.getSetCookie().find((c) => c.startsWith('_portcullis='))
  t.ok(setCookie, 'session cookie set')
  t.match(setCookie, /HttpOnly/i)
  t.match(setCookie, /SameSite=Lax/i)
  t.match(setCookie, /^_portcullis=v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.\d+\.[A-Za-z0-9_-]+;/)
  // Its parts are random bytes in base64url (which may spell anything, `bob` included) and the
  // session's expiry: decoded, none holds the email or a JSON object (a JWT's parts are base64url JSON).
  const parts = setCookie!.slice('_portcullis=v2.'.length, setCookie!.indexOf(';')).split('.')
  for (const part of parts) {
    const bytes = Buffer.from(part, 'base64url')
    t.notOk(bytes.includes('bob@example.com') || part.includes('bob@example.com'), 'no email in the cookie')
    let json = true
    try { JSON.parse(bytes.toString('utf8')) } catch { json = false }
    t.notOk(json, 'no JSON (no JWT) in the cookie')
  }
})

t.test('unauthenticated: a browser navigation is redirected to sign-in with the path kept', async (t) => {
  const response = await fetch(`${stack.url}/reports/q3?sort=desc`, { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml' } })
  t.equal(response.status, 302)
  t.equal(response.headers.get('location'), `/oauth2/start?rd=${encodeURIComponent('/reports/q3?sort=desc')}`)
  t.equal(response.headers.get('x-portcullis-generated'), 'true')
})

t.test('unauthenticated: non-navigation requests and api routes get 401 JSON with a sign-in URL', async (t) => {
  for (const [path, accept] of [['/anything', '*/*'], ['/anything', 'application/json'], ['/api/whoami', 'text/html'], ['/anything', '']] as const) {
    const response = await fetch(`${stack.url}${path}`, { redirect: 'manual', headers: accept === '' ? {} : { accept } })
    t.equal(response.status, 401, `${path} with Accept ${accept || '(none)'}`)
    t.match(response.headers.get('www-authenticate'), /^Portcullis realm=/)
    const body = await response.json() as Record<string, unknown>
    t.equal(body.error, 'PCS_UNAUTHENTICATED')
    t.equal(body.sign_in, `${stack.url}/oauth2/start?rd=${encodeURIComponent(path)}`)
  }
})

t.test('several tabs signing in at once all succeed, each with a binding cookie of its own that its callback clears', async (t) => {
  const jar = new CookieJar()
  const first = await signInUntilCallback({ gatewayUrl: stack.url, jar, email: 'alice@example.com', startPath: '/tab-one' })
  const second = await signInUntilCallback({ gatewayUrl: stack.url, jar, email: 'alice@example.com', startPath: '/tab-two' })
  const loginCookies = jar.all().filter((c) => c.name.startsWith('_portcullis_login'))
  t.equal(loginCookies.length, 2, 'one binding cookie per pending sign-in')
  const a = await fetchWithJar(first.callbackUrl, jar)
  const b = await fetchWithJar(second.callbackUrl, jar)
  t.equal(a.status, 302)
  t.equal(a.headers.get('location'), '/tab-one')
  t.equal(b.status, 302)
  t.equal(b.headers.get('location'), '/tab-two')
  t.equal(jar.all().filter((c) => c.name.startsWith('_portcullis_login')).length, 0, 'every binding cookie is cleared at its callback')
})

t.test('start: a binding value the client sent is never adopted, and the oldest pending sign-ins are evicted beyond the cap', async (t) => {
  const planted = 'A'.repeat(43)
  const res = await fetch(`${stack.url}/oauth2/start?rd=/x`, { redirect: 'manual', headers: { accept: 'text/html', cookie: `_portcullis_login=${planted}` } })
  t.equal(res.status, 302)
  const set = res.headers.getSetCookie()
  const binding = set.find((c) => /^_portcullis_login_[A-Za-z0-9_-]{12}=/.test(c))
  t.ok(binding, 'a binding cookie of its own')
  t.notMatch(binding ?? '', planted, 'the planted value is not adopted')
  t.ok(set.some((c) => c.startsWith('_portcullis_login=;')), 'the old single binding cookie is cleared')

  const jar = new CookieJar()
  for (let i = 0; i < 8; i++) await fetchWithJar(`${stack.url}/oauth2/start?rd=/tab-${i}`, jar)
  t.equal(jar.all().filter((c) => c.name.startsWith('_portcullis_login_')).length, 6, 'at most six pending sign-ins per browser')
})

t.test('callback: a replayed callback gets 400 and no new session', async (t) => {
  const jar = new CookieJar()
  const { callbackUrl } = await signInUntilCallback({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const first = await fetchWithJar(callbackUrl, jar)
  t.equal(first.status, 302)
  const replayJar = new CookieJar()
  for (const c of jar.all()) if (c.name.startsWith('_portcullis_login')) replayJar.setCookie(stack.url, `${c.name}=${c.value}; Path=/oauth2`)
  const replay = await fetchWithJar(callbackUrl, replayJar)
  t.equal(replay.status, 400)
  t.equal(replay.headers.get('x-portcullis-error'), 'PCS_LOGIN_STATE_INVALID')
  t.notOk(replay.headers.getSetCookie().some((c) => c.startsWith('_portcullis=')), 'no session cookie')
})

t.test('callback: tampered state, tampered code, a foreign browser and provider errors are 4xx, never 5xx', async (t) => {
  const jar = new CookieJar()
  const { callbackUrl } = await signInUntilCallback({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const url = new URL(callbackUrl)

  const badState = new URL(url)
  badState.searchParams.set('state', 'forged-state')
  const r1 = await fetchWithJar(badState, jar)
  t.equal(r1.status, 400)

  // Another browser (no binding cookie) presenting the valid callback cannot use it: it is sent
  // to sign in for itself (once), and gets no session from the callback.
  const foreign = new CookieJar()
  const r2 = await fetchWithJar(url, foreign)
  t.equal(r2.status, 302)
  t.equal(r2.headers.get('location'), '/oauth2/start?rd=%2F&retry=1')
  t.notOk(foreign.all().some((c) => c.name === '_portcullis'), 'no session')

  const jar2 = new CookieJar()
  const { callbackUrl: cb2 } = await signInUntilCallback({ gatewayUrl: stack.url, jar: jar2, email: 'alice@example.com' })
  const badCode = new URL(cb2)
  badCode.searchParams.set('code', 'tampered-code')
  const r3 = await fetchWithJar(badCode, jar2)
  t.equal(r3.status, 302, 'a refused code restarts the sign-in once')
  t.equal(r3.headers.get('location'), '/oauth2/start?rd=%2F&retry=1')
  // The restarted sign-in fails the same way: now the error is shown.
  const { callbackUrl: cb2b } = await signInUntilCallback({ gatewayUrl: stack.url, jar: jar2, email: 'alice@example.com', startPath: '/oauth2/start?rd=%2F&retry=1' })
  const badAgain = new URL(cb2b)
  badAgain.searchParams.set('code', 'tampered-code')
  const r3b = await fetchWithJar(badAgain, jar2)
  t.equal(r3b.status, 400)
  t.equal(r3b.headers.get('x-portcullis-error'), 'PCS_LOGIN_CODE_INVALID')

  const jar3 = new CookieJar()
  const { callbackUrl: cb3 } = await signInUntilCallback({ gatewayUrl: stack.url, jar: jar3, email: 'alice@example.com' })
  const denied = new URL(cb3)
  denied.searchParams.delete('code')
  denied.searchParams.set('error', 'access_denied')
  const r4 = await fetchWithJar(denied, jar3)
  t.equal(r4.status, 403)
  t.equal(r4.headers.get('x-portcullis-error'), 'PCS_LOGIN_CANCELLED')
  const cancelled = await r4.text()
  t.match(cancelled, /<h1 id="title">Sign-in cancelled<\/h1>/)
  t.notMatch(cancelled, /Access denied/i, 'a person\'s own cancel is not "access denied"')

  const r5 = await fetchWithJar(`${stack.url}/oauth2/callback`, jar3)
  t.equal(r5.status, 400)
  const r6 = await fetchWithJar(`${stack.url}/oauth2/callback?state=${'x'.repeat(5000)}&code=y`, jar3)
  t.equal(r6.status, 400)
})

t.test('signed in but not allowed: 403 page names the account and offers sign-out', async (t) => {
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl: stack.url, jar, email: 'mallory@evil.test' })
  t.equal(result.status, 403)
  t.match(result.body, /signed in as <strong>mallory@evil\.test<\/strong>/)
  t.match(result.body, /action="\/oauth2\/sign_out\?switch=1"/)
  const api = await upstreamView(jar, '/api/whoami')
  t.equal(api.status, 403)
  t.equal(api.body.error, 'PCS_FORBIDDEN')
})

t.test('userinfo: JSON identity when signed in, 401 otherwise', async (t) => {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'bob@example.com' })
  const res = await fetchWithJar(`${stack.url}/oauth2/userinfo`, jar, { headers: { accept: 'application/json' } })
  t.equal(res.status, 200)
  t.same(await res.json(), { user: 'dev-bob', email: 'bob@example.com', preferred_username: 'bob', groups: ['staff'] })
  const anon = await fetch(`${stack.url}/oauth2/userinfo`)
  t.equal(anon.status, 401)
})

t.test('start: rd is validated (an open redirect target becomes /)', async (t) => {
  for (const rd of ['//evil.test', 'https://evil.test/', '/\\evil.test', '/%2f%2fevil.test']) {
    const jar = new CookieJar()
    const res = await fetchWithJar(`${stack.url}/oauth2/start?rd=${encodeURIComponent(rd)}`, jar)
    t.equal(res.status, 302)
    const { callbackUrl } = await signInUntilCallback({ gatewayUrl: stack.url, jar, email: 'bob@example.com', startPath: `/oauth2/start?rd=${encodeURIComponent(rd)}` })
    const done = await fetchWithJar(callbackUrl, jar)
    t.equal(done.headers.get('location'), '/', `rd ${rd}`)
  }
})

t.test('a cookie-less session cannot be conjured: tampered and oversized cookies are refused and cleared', async (t) => {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const good = jar.all().find((c) => c.name === '_portcullis')?.value ?? ''
  const parts = good.split('.')
  const flipped = parts.slice(0, 3).join('.') + '.' + (parts[3]?.startsWith('A') ? 'B' : 'A') + (parts[3] ?? '').slice(1)
  for (const value of [flipped, `${parts[0]}.${parts[2]}.${parts[1]}.${parts[3]}`, 'v1.x.y.z', 'A'.repeat(5000), '']) {
    const res = await fetch(`${stack.url}/private`, { headers: { cookie: `_portcullis=${value}`, accept: 'application/json' }, redirect: 'manual' })
    t.equal(res.status, 401, `cookie ${value.slice(0, 20)}…`)
  }
  const tampered = await fetch(`${stack.url}/private`, { headers: { cookie: `_portcullis=${flipped}`, accept: 'text/html' }, redirect: 'manual' })
  t.equal(tampered.status, 302)
  t.ok(tampered.headers.getSetCookie().some((c) => /^_portcullis=;/.test(c)), 'bad cookie cleared')
  const giant = await fetch(`${stack.url}/private`, { headers: { cookie: `_portcullis=${'A'.repeat(20000)}`, accept: 'application/json' }, redirect: 'manual' })
  t.ok(giant.status >= 400 && giant.status < 500, `oversized cookie header answered ${giant.status}`)
})

t.test('followUntil stays bounded', async (t) => {
  const res = await followUntil(`${stack.url}/ping`, new CookieJar(), () => false)
  t.equal(res.response?.status, 200)
})

t.test('pages.sign_in: button shows a branded page whose link (not a form) continues to the provider', async (t) => {
  const buttonStack = await startStack({ store: 'memory', provider: stack.provider, configure: (raw) => { raw.pages = { sign_in: 'button', brand: { name: 'Acme' } } } })
  t.teardown(() => buttonStack.close())
  const page = await fetch(`${buttonStack.url}/oauth2/start?rd=%2Freports`, { redirect: 'manual', headers: { accept: 'text/html' } })
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, /<h1 id="title">Sign in to Acme<\/h1>/)
  t.match(html, /<a class="button primary" href="\/oauth2\/start\?rd=%2Freports&#38;go=1">Continue with Google<\/a>/)
  t.notMatch(html, /<form/, 'a link: a form\'s redirect chain to the provider would break form-action')
  t.notOk(page.headers.getSetCookie().some((c) => c.startsWith('_portcullis_login')), 'nothing pending until the person continues')
  const go = await fetch(`${buttonStack.url}/oauth2/start?rd=%2Freports&go=1`, { redirect: 'manual', headers: { accept: 'text/html' } })
  t.equal(go.status, 302)
  t.ok(go.headers.get('location')?.startsWith(buttonStack.provider.url))
  const api = await fetch(`${buttonStack.url}/oauth2/start?rd=%2Freports`, { redirect: 'manual', headers: { accept: 'application/json' } })
  t.equal(api.status, 302, 'a non-browser client goes straight on')
})
