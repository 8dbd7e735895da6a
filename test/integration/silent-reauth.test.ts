import t from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, followUntil, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

/*
 * A provider that never issues refresh tokens: at expiry a browser navigation re-runs sign-in
 * silently (`prompt=none`) and an API call gets 401. The gateway's clock is moved past expiry;
 * the provider keeps real time, so its own session (the cookie in the jar) is still valid.
 */
const hour = 3600_000
const clock = createTestClock()
let stack: Stack

t.before(async () => {
  stack = await startStack({
    store: 'redis',
    now: clock.now,
    providerOptions: { issueRefreshTokens: false },
    configure: (raw) => { raw.identity = { pass_access_token: true } }
  })
})
t.teardown(() => stack.close())

async function api (jar: CookieJar, path: string): Promise<{ status: number, body: any, headers: Headers }> {
  const response = await fetchWithJar(`${stack.url}${path}`, jar, { headers: { accept: 'application/json' } })
  return { status: response.status, body: await response.json(), headers: response.headers }
}

async function signedIn (): Promise<{ jar: CookieJar, token: string }> {
  clock.reset()
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const first = await api(jar, '/token')
  return { jar, token: first.body.headers['x-forwarded-access-token'] }
}

t.test('no refresh token: at expiry an API call gets 401 and no refresh is attempted', async (t) => {
  const { jar } = await signedIn()
  const attempts = stack.provider.counters.refreshAttempts
  clock.advance(hour - 30_000)
  const nearExpiry = await api(jar, '/token')
  t.equal(nearExpiry.status, 200, 'the still-valid token is used until it expires')
  clock.advance(60_000)
  const expired = await api(jar, '/api/data')
  t.equal(expired.status, 401)
  t.equal(expired.body.error, 'PCS_SESSION_EXPIRED')
  t.match(expired.headers.get('www-authenticate'), /^Portcullis realm=".*", sign_in=".*\/oauth2\/start\?rd=%2Fapi%2Fdata"$/)
  t.equal(stack.provider.counters.refreshAttempts, attempts, 'the provider saw no refresh request')
})

t.test('no refresh token: at expiry a browser navigation signs in again silently (prompt=none) and lands on the same page', async (t) => {
  const { jar, token } = await signedIn()
  const codes = stack.provider.counters.authorizationCodeGrants
  clock.advance(hour + 1000)
  const nav = await fetchWithJar(`${stack.url}/page?a=1`, jar)
  t.equal(nav.status, 302)
  t.equal(nav.headers.get('location'), `/oauth2/start?rd=${encodeURIComponent('/page?a=1')}&silent=1`)

  const walk = await followUntil(new URL(nav.headers.get('location') ?? '', stack.url), jar, () => false)
  const toProvider = walk.hops.map((h) => new URL(h)).find((u) => u.origin === stack.provider.issuer && u.pathname === '/auth')
  t.equal(toProvider?.searchParams.get('prompt'), 'none', 'the provider was asked not to show anything')
  t.notOk(walk.hops.some((h) => h.includes('/interaction/')), 'no provider page was shown')
  t.equal(walk.response?.status, 200)
  t.equal(new URL(walk.url).pathname + new URL(walk.url).search, '/page?a=1', 'landed back on the page')
  t.equal(stack.provider.counters.authorizationCodeGrants - codes, 1)

  const after = await api(jar, '/token')
  t.equal(after.status, 200, 'the new session works for API calls')
  t.not(after.body.headers['x-forwarded-access-token'], token)
})

t.test('no refresh token: when the provider answers login_required, the silent sign-in falls back to the normal one', async (t) => {
  const { jar } = await signedIn()
  jar.deleteWhere((c) => c.name.startsWith('pcsdev_')) // the provider session is gone
  clock.advance(hour + 1000)
  const nav = await fetchWithJar(`${stack.url}/page`, jar)
  t.match(nav.headers.get('location'), /&silent=1$/)
  const walk = await followUntil(new URL(nav.headers.get('location') ?? '', stack.url), jar, () => false)
  const starts = walk.hops.map((h) => new URL(h)).filter((u) => u.origin === stack.url && u.pathname === '/oauth2/start')
  t.same(starts.map((u) => u.searchParams.get('silent')), ['1', null], 'a silent start, then a normal one')
  const callbackError = walk.hops.map((h) => new URL(h)).find((u) => u.pathname === '/oauth2/callback')
  t.equal(callbackError?.searchParams.get('error'), 'login_required')
  t.equal(walk.response?.status, 200)
  t.match(await walk.response?.text(), 'Portcullis development sign-in', "the provider's sign-in page is shown")
})
