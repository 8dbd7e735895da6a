/**
 * Proxied WebSockets follow their session: closed with code 1008 when the session ends by
 * sign-out, a failed refresh, its lifetime or idle timeout, and when a reload no longer allows it.
 */
import t from 'tap'
import WebSocket from 'ws'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { configFrom, startStack, type Stack } from '../helpers/stack.js'

interface Closed { readonly code: number, readonly reason: string, readonly at: number }

async function signedIn (stack: Stack, email = 'alice@example.com'): Promise<CookieJar> {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email })
  return jar
}

/** Opens a WebSocket with the jar's cookies, waits for the greeting; `closed` resolves on close. */
async function openSocket (stack: Stack, jar: CookieJar): Promise<{ ws: WebSocket, closed: Promise<Closed> }> {
  const ws = new WebSocket(`${stack.url.replace('http', 'ws')}/ws`, { headers: { cookie: jar.header(stack.url) ?? '' } })
  const closed = new Promise<Closed>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve())
    ws.once('error', reject)
  })
  return { ws, closed }
}

/** The close, or null when none came within `ms`. */
async function closedWithin (closed: Promise<Closed>, ms: number): Promise<Closed | null> {
  return await Promise.race([closed, new Promise<null>((resolve) => setTimeout(resolve, ms, null))])
}

t.test('sign-out, a failed refresh and a reload that no longer allows the identity each close the socket with 1008', async (t) => {
  const stack = await startStack({ store: 'memory', providerOptions: { accessTokenTtlSeconds: 30 } })
  t.teardown(() => stack.close())

  const jar = await signedIn(stack)
  const { closed } = await openSocket(stack, jar)
  const other = await openSocket(stack, await signedIn(stack))
  const signOut = await fetchWithJar(`${stack.url}/oauth2/sign_out`, jar, { method: 'POST', headers: { origin: stack.url } })
  t.equal(signOut.status, 303)
  t.match(await closedWithin(closed, 1000), { code: 1008, reason: 'session_ended' }, 'sign-out closes the session\'s socket')
  t.equal(await closedWithin(other.closed, 200), null, 'another session\'s socket stays open')
  t.ok(stack.logs.some((l) => l.audit === 'session_ended' && l.sockets === 1), 'the close is audited')

  // The access token has 30 s left, under refresh_before_expiry: the next request refreshes it.
  const refreshJar = await signedIn(stack)
  const refreshing = await openSocket(stack, refreshJar)
  stack.provider.failNextRefresh('invalid_grant')
  const refused = await fetchWithJar(`${stack.url}/api/whoami`, refreshJar, { headers: { accept: 'application/json' } })
  t.equal(refused.status, 401, 'the refresh failed for good')
  t.match(await closedWithin(refreshing.closed, 1000), { code: 1008 }, 'the failed refresh closes the socket')

  const bobJar = await signedIn(stack, 'bob@example.com')
  const bob = await openSocket(stack, bobJar)
  const raw = structuredClone(stack.raw)
  raw.access = { emails: ['alice@example.com'] }
  stack.gateway.reload(configFrom(raw))
  t.match(await closedWithin(bob.closed, 1000), { code: 1008, reason: 'not_allowed_after_reload' }, 'a reload that no longer allows bob closes his socket')
  t.equal(await closedWithin(other.closed, 200), null, 'alice is still allowed: her socket stays')
  other.ws.close()
})

t.test('the lifetime and the idle timeout close the socket with 1008 when they are reached', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.session.lifetime = '2s'; raw.session.idle_timeout = '2s' } })
  t.teardown(() => stack.close())
  const jar = await signedIn(stack)
  const signedInAt = Date.now()
  const { closed } = await openSocket(stack, jar)
  const got = await closedWithin(closed, 4000)
  t.equal(got?.code, 1008)
  t.match(got?.reason, /^(lifetime_over|idle_timeout)$/)
  t.ok(got !== null && got.at >= signedInAt + 1900 && got.at <= signedInAt + 3200, `closed when the session ended (${got === null ? '-' : got.at - signedInAt} ms after sign-in)`)

  const idle = await startStack({ store: 'memory', configure: (raw) => { raw.session.idle_timeout = '2s' } })
  t.teardown(() => idle.close())
  const idleJar = await signedIn(idle)
  const opened = await openSocket(idle, idleJar)
  const openedAt = Date.now()
  const idleClosed = await closedWithin(opened.closed, 4000)
  t.match(idleClosed, { code: 1008, reason: 'idle_timeout' })
  t.ok(idleClosed !== null && idleClosed.at <= openedAt + 3200, 'closed within a second of the idle timeout')
})
