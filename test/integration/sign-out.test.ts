import { Redis } from 'ioredis'
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
let redis: Redis
t.before(async () => {
  stack = await startStack({ store: 'redis' })
  redis = new Redis(stack.redis!.url, { lazyConnect: false, maxRetriesPerRequest: 1 })
})
t.teardown(async () => {
  redis.disconnect()
  await stack.close()
})

const prefix = 'portcullis:'
async function sessionKeyCount (): Promise<number> {
  return (await redis.keys(`${prefix}*:session`)).length
}

async function signedIn (): Promise<{ jar: CookieJar, cookie: string }> {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const cookie = jar.header(stack.url) ?? ''
  return { jar, cookie }
}

async function waitFor (check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  for (const until = Date.now() + timeoutMs; Date.now() < until;) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

t.test('sign-out: POST deletes the session, clears the cookie, revokes the token and ends on the signed-out page', async (t) => {
  const { jar, cookie } = await signedIn()
  const keysBefore = await sessionKeyCount()
  t.ok(keysBefore >= 1, 'the session is in Redis')
  const revocationsBefore = stack.provider.counters.revocations

  const response = await fetchWithJar(`${stack.url}/oauth2/sign_out?rd=${encodeURIComponent('/bye?x=1')}`, jar, {
    method: 'POST',
    headers: { origin: stack.url }
  })
  t.equal(response.status, 303)
  t.equal(response.headers.get('location'), '/oauth2/signed_out?rd=%2Fbye%3Fx%3D1', 'a same-origin page, never a chain on to the provider')
  const cleared = response.headers.getSetCookie().find((line) => line.startsWith(`${stack.config.session.cookie.name}=`))
  t.ok(cleared, 'a Set-Cookie clears the session cookie')
  t.match(cleared ?? '', /Expires=Thu, 01 Jan 1970|Max-Age=0/i)
  t.equal(jar.get(stack.config.session.cookie.name), undefined, 'the browser dropped it')
  t.equal(await sessionKeyCount(), keysBefore - 1, 'the session is gone from Redis')
  t.ok(await waitFor(() => stack.provider.counters.revocations === revocationsBefore + 1, 5000), 'the provider received one revocation')

  // Replaying the old cookie after sign-out gets nothing.
  const replay = await fetch(`${stack.url}/api/whoami`, { headers: { cookie, accept: 'application/json' } })
  t.equal(replay.status, 401)
  t.equal(((await replay.json()) as { error: string }).error, 'PCS_UNAUTHENTICATED')
  const replayPage = await fetch(`${stack.url}/deep`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' })
  t.equal(replayPage.status, 302)
  t.match(replayPage.headers.get('location'), /\/oauth2\/start\?rd=%2Fdeep/)

  const signedOut = await fetchWithJar(`${stack.url}${response.headers.get('location')}`, jar)
  t.equal(signedOut.status, 200)
  const html = await signedOut.text()
  t.match(html, /<h1 id="title">You are signed out<\/h1>/)
  t.match(html, /<a class="button primary" href="\/oauth2\/start\?rd=%2Fbye%3Fx%3D1">Sign in again<\/a>/, 'sign in again, back to rd')
})

t.test('sign-out: a cross-site POST is refused with 403 and the session survives', async (t) => {
  const { jar } = await signedIn()
  const attempts: Array<Record<string, string>> = [{ origin: 'https://evil.test' }, { origin: 'null' }, { referer: 'https://evil.test/page' }]
  for (const headers of attempts) {
    const response = await fetchWithJar(`${stack.url}/oauth2/sign_out`, jar, { method: 'POST', headers: { ...headers, accept: 'application/json' } })
    t.equal(response.status, 403, JSON.stringify(headers))
    t.equal(((await response.json()) as { error: string }).error, 'PCS_CROSS_SITE')
  }
  const still = await fetchWithJar(`${stack.url}/api/whoami`, jar, { headers: { accept: 'application/json' } })
  t.equal(still.status, 200, 'still signed in')
})

t.test('sign-out: rd must be a same-origin path; anything else becomes /', async (t) => {
  for (const rd of ['//evil.test/', '/\\evil.test', 'https://evil.test/', 'javascript:alert(1)', '/%2F%2Fevil.test', ' //evil.test']) {
    const { jar } = await signedIn()
    const response = await fetchWithJar(`${stack.url}/oauth2/sign_out?rd=${encodeURIComponent(rd)}`, jar, { method: 'POST', headers: { origin: stack.url } })
    t.equal(response.status, 303, rd)
    t.equal(response.headers.get('location'), '/oauth2/signed_out?rd=%2F', `${rd} → /`)
  }
})

t.test('sign-out: GET shows a confirmation page naming the account and changes nothing', async (t) => {
  const { jar } = await signedIn()
  const keys = await sessionKeyCount()
  const page = await fetchWithJar(`${stack.url}/oauth2/sign_out?rd=/x`, jar, { headers: { accept: 'text/html' } })
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, /alice@example\.com/)
  t.match(html, /<form method="post" action="\/oauth2\/sign_out\?rd=%2Fx"/)
  t.equal(page.headers.get('content-security-policy')?.includes("form-action 'self'"), true)
  t.equal(await sessionKeyCount(), keys, 'no session was deleted by GET')
  const still = await fetchWithJar(`${stack.url}/api/whoami`, jar, { headers: { accept: 'application/json' } })
  t.equal(still.status, 200)
})

t.test('sign-out without a session still clears the cookie and ends on the signed-out page', async (t) => {
  const response = await fetch(`${stack.url}/oauth2/sign_out?rd=/home`, { method: 'POST', redirect: 'manual', headers: { origin: stack.url, cookie: `${stack.config.session.cookie.name}=garbage` } })
  t.equal(response.status, 303)
  t.equal(response.headers.get('location'), '/oauth2/signed_out?rd=%2Fhome')
  t.ok(response.headers.getSetCookie().some((line) => line.startsWith(`${stack.config.session.cookie.name}=;`)))
})

t.test('use another account: POST with switch=1 signs out and continues, as a navigation, to a sign-in with prompt=select_account', async (t) => {
  const { jar } = await signedIn()
  const response = await fetchWithJar(`${stack.url}/oauth2/sign_out?switch=1`, jar, { method: 'POST', headers: { origin: stack.url, referer: `${stack.url}/reports/q3?x=1` } })
  t.equal(response.status, 200, 'a page of our own, not a redirect chain to the provider')
  const html = await response.text()
  t.match(html, /<meta http-equiv="refresh" content="0;url=\/oauth2\/start\?rd=%2Freports%2Fq3%3Fx%3D1&#38;prompt=select_account">/)
  t.equal(jar.get(stack.config.session.cookie.name), undefined, 'signed out')
  const start = await fetchWithJar(`${stack.url}/oauth2/start?rd=%2Freports&prompt=select_account`, jar)
  t.equal(new URL(start.headers.get('location') ?? '').searchParams.get('prompt'), 'select_account consent', 'the provider is asked to show its account chooser')
})

t.test('signed-out page: signed in meanwhile, it offers the sign-out instead of claiming a sign-out', async (t) => {
  const { jar } = await signedIn()
  const response = await fetchWithJar(`${stack.url}/oauth2/signed_out?rd=/x`, jar)
  t.equal(response.status, 303)
  t.equal(response.headers.get('location'), '/oauth2/sign_out?rd=%2Fx')
})

t.test('rp_initiated_logout: the POST answers our page continuing to the provider\'s end_session_endpoint; without one (Google) it ends on the signed-out page', async (t) => {
  for (const offered of [true, false]) {
    const rp = await startStack({ store: 'memory', providerOptions: { rpInitiatedLogout: offered }, configure: (raw) => { raw.provider.rp_initiated_logout = true } })
    t.teardown(() => rp.close())
    const jar = new CookieJar()
    await signIn({ gatewayUrl: rp.url, jar, email: 'alice@example.com' })
    const response = await fetchWithJar(`${rp.url}/oauth2/sign_out?rd=%2Freports`, jar, { method: 'POST', headers: { origin: rp.url } })
    t.equal(jar.get(rp.config.session.cookie.name), undefined, 'signed out here first')
    if (!offered) {
      t.equal(response.status, 303, 'no end_session_endpoint: straight to the signed-out page')
      t.equal(response.headers.get('location'), '/oauth2/signed_out?rd=%2Freports')
      continue
    }
    t.equal(response.status, 200, 'a page of our own origin, not a redirect chain after the form POST')
    const html = await response.text()
    const target = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(html)?.[1]?.replaceAll('&#38;', '&')
    t.ok(target, 'continues by itself, as a navigation')
    const url = new URL(target ?? 'http://invalid')
    t.equal(url.origin, rp.provider.url)
    t.equal(url.searchParams.get('post_logout_redirect_uri'), `${rp.url}/oauth2/signed_out`)
    t.equal(url.searchParams.get('state'), '/reports')
    t.equal(url.searchParams.get('id_token_hint')?.split('.').length, 3, 'the kept id token as the hint')
  }
})
