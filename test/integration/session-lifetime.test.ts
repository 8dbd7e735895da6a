import t from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack } from '../helpers/stack.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function status (url: string, cookie: string): Promise<number> {
  const response = await fetch(url, { headers: { cookie, accept: 'application/json' } })
  await response.body?.cancel()
  return response.status
}

t.test('idle timeout: activity keeps a session alive past the idle timeout; inactivity ends it', async (t) => {
  const stack = await startStack({ store: 'redis', configure: (raw) => { raw.session.idle_timeout = '3s' } })
  t.teardown(() => stack.close())
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const cookie = jar.header(stack.url) ?? ''
  await sleep(1500)
  t.equal(await status(`${stack.url}/api/a`, cookie), 200, 'active after 1.5 s')
  await sleep(2000)
  t.equal(await status(`${stack.url}/api/b`, cookie), 200, 'still active 3.5 s after sign-in, because it was used')
  await sleep(4000)
  t.equal(await status(`${stack.url}/api/c`, cookie), 401, 'ended after 4 s without a request')
})

t.test('absolute lifetime: a session ends at its lifetime however active it is, refresh token or not', async (t) => {
  const clock = createTestClock()
  const stack = await startStack({ store: 'memory', now: clock.now, configure: (raw) => { raw.session.lifetime = '8h'; raw.session.idle_timeout = '4h' } })
  t.teardown(() => stack.close())
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const cookie = jar.header(stack.url) ?? ''
  clock.advance(3 * 3600_000)
  t.equal(await status(`${stack.url}/api/a`, cookie), 200, 'alive after 3 h (refreshed on the way)')
  clock.advance(4 * 3600_000)
  t.equal(await status(`${stack.url}/api/a`, cookie), 200, 'alive after 7 h')
  clock.advance(3600_000 + 1000)
  t.equal(await status(`${stack.url}/api/b`, cookie), 401, 'ended after 8 h')
  const page = await fetch(`${stack.url}/dashboard`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' })
  t.equal(page.status, 302, 'a browser is sent to sign in again')
})

t.test('lifetime end: a session past its absolute lifetime answers PCS_SESSION_EXPIRED, from the ticket once the store forgot it', async (t) => {
  const clock = createTestClock()
  const stack = await startStack({ store: 'memory', now: clock.now, configure: (raw) => { raw.session.lifetime = '2h'; raw.session.idle_timeout = '1h' } })
  t.teardown(() => stack.close())
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const cookie = jar.header(stack.url) ?? ''
  clock.advance(50 * 60_000)
  t.equal((await fetch(`${stack.url}/api/x`, { headers: { cookie, accept: 'application/json' } })).status, 200, 'used within the idle timeout')
  clock.advance(70 * 60_000 + 1000)
  // The first request finds the record past its lifetime; it is deleted, so the second one
  // finds nothing in the store and only the signed expiry in the ticket tells why.
  for (const attempt of ['record past its lifetime', 'record gone']) {
    const res = await fetch(`${stack.url}/api/x`, { headers: { cookie, accept: 'application/json' } })
    t.equal(res.status, 401, attempt)
    t.equal(res.headers.get('x-portcullis-error'), 'PCS_SESSION_EXPIRED', attempt)
    t.equal(((await res.json()) as { error: string }).error, 'PCS_SESSION_EXPIRED', attempt)
  }
  const auth = await fetch(`${stack.url}/oauth2/auth`, { headers: { cookie, accept: 'application/json' } })
  t.equal(auth.headers.get('x-portcullis-error'), 'PCS_SESSION_EXPIRED', 'forward-auth says the same')
  // A session that ended otherwise (signed out) within its lifetime is only unauthenticated.
  const other = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar: other, email: 'bob@example.com' })
  const bobCookie = other.header(stack.url) ?? ''
  const signedOut = await fetchWithJar(`${stack.url}/oauth2/sign_out`, other, { method: 'POST', headers: { origin: stack.url } })
  t.equal(signedOut.status, 303)
  const gone = await fetch(`${stack.url}/api/x`, { headers: { cookie: bobCookie, accept: 'application/json' } })
  t.equal(gone.status, 401)
  t.equal(gone.headers.get('x-portcullis-error'), 'PCS_UNAUTHENTICATED', 'absence within the lifetime is not expiry')
})

t.test('a new sign-in gets a new session id and ends the session the browser had', async (t) => {
  const stack = await startStack({ store: 'redis' })
  t.teardown(() => stack.close())
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const first = jar.get('_portcullis') ?? ''
  await signIn({ gatewayUrl: stack.url, jar, email: 'bob@example.com', startPath: '/oauth2/start?rd=/' })
  const second = jar.get('_portcullis') ?? ''
  t.not(second.split('.')[1], first.split('.')[1], 'a different session id')
  t.equal(await status(`${stack.url}/api/a`, `_portcullis=${first}`), 401, 'the previous session is gone')
  const who = await fetchWithJar(`${stack.url}/oauth2/userinfo`, jar, { headers: { accept: 'application/json' } })
  t.equal(((await who.json()) as { email: string }).email, 'bob@example.com')
})
