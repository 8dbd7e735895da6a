import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { command } from '../helpers/redis.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

/*
 * Sign-in under abuse, against a real redis-server and the real test provider: the rate limit
 * per client address (through trusted proxies), the pending sign-in bound, the `rd` cap, and the
 * audit lines of a sign-in's life.
 */

let stack: Stack
t.before(async () => {
  stack = await startStack({
    store: 'redis',
    configure: (raw) => {
      raw.server.trusted_proxies = ['127.0.0.1']
      raw.server.rate_limit = { sign_in: 5, window: '1m' }
      raw.server.pending_sign_ins = { per_client: 3 }
      raw.routes.push({ path: '/admin/', upstream: raw.routes[0].upstream, allow: { emails: ['nobody@example.com'] } })
    }
  })
})
t.teardown(() => stack.close())

const start = (from: string, rd = '/x'): Promise<Response> =>
  fetch(`${stack.url}/oauth2/start?rd=${encodeURIComponent(rd)}`, { redirect: 'manual', headers: { 'x-forwarded-for': from, 'user-agent': 'flood/1' } })

async function loginKeys (): Promise<string[]> {
  return (await command(stack.redis!.port, 'KEYS', `${stack.config.redis.keyPrefix}*login*`)) as string[]
}

const audits = (event: string): Array<Record<string, unknown>> => stack.logs.filter((l) => l.msg === 'audit' && l.audit === event)

t.test('rate limit: past server.rate_limit.sign_in a client gets 429 with Retry-After; other clients do not', async (t) => {
  for (let i = 0; i < 5; i++) t.equal((await start('198.51.100.1')).status, 302, `start ${i + 1}`)
  const refused = await start('198.51.100.1')
  t.equal(refused.status, 429)
  t.equal(refused.headers.get('x-portcullis-error'), 'PCS_RATE_LIMITED')
  const retry = Number(refused.headers.get('retry-after'))
  t.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`)
  t.equal((await fetch(`${stack.url}/oauth2/callback?state=x&code=y`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 429, 'callbacks count too')
  t.equal((await start('198.51.100.2')).status, 302, 'another address behind the trusted proxy has its own count')
  t.equal((await fetch(`${stack.url}/ping`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 200, 'other endpoints are not limited')
  const line = audits('rate_limited').find((l) => l.client === '198.51.100.1')
  t.match(line, { audit: 'rate_limited', client: '198.51.100.1', userAgent: 'flood/1', reason: 'sign_in_start' })
})

t.test('pending sign-ins: at most per_client records per client address stay in Redis', async (t) => {
  const before = (await loginKeys()).length
  for (let i = 0; i < 5; i++) t.equal((await start('198.51.100.3', `/p${i}`)).status, 302)
  // Deletions of dropped records are not awaited by the request: bounded wait.
  let keys: string[] = []
  for (let i = 0; i < 50; i++) {
    keys = await loginKeys()
    if (keys.length <= before + 3) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.ok(keys.length <= before + 3, `${keys.length - before} new pending records for one client (bound 3)`)
})

t.test('rd: a landing path over 2048 characters lands on / ; sign-in, forbidden and sign-out are audited', async (t) => {
  const jar = new CookieJar()
  const long = '/public/' + 'a'.repeat(2100)
  const landed = await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com', startPath: `/oauth2/start?rd=${encodeURIComponent(long)}` })
  t.equal(landed.landedPath, '/')
  const ok = await signIn({ gatewayUrl: stack.url, jar: new CookieJar(), email: 'alice@example.com', startPath: `/oauth2/start?rd=${encodeURIComponent('/public/' + 'a'.repeat(2000))}` })
  t.equal(ok.landedPath.length, 2008, 'a shorter one is kept')

  const signedIn = audits('sign_in').at(-2)
  t.match(signedIn, { audit: 'sign_in', client: '127.0.0.1', email: 'alice@example.com' })
  t.match(signedIn?.session, /^[0-9a-f]{16}$/)

  const denied = await fetchWithJar(`${stack.url}/admin/x`, jar, { headers: { accept: 'application/json' } })
  t.equal(denied.status, 403)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(audits('forbidden').at(-1), { audit: 'forbidden', email: 'alice@example.com', session: signedIn?.session, client: '127.0.0.1' })

  const out = await fetchWithJar(`${stack.url}/oauth2/sign_out`, jar, { method: 'POST', headers: { origin: stack.url } })
  t.equal(out.status, 303)
  t.match(audits('sign_out').at(-1), { audit: 'sign_out', email: 'alice@example.com', session: signedIn?.session })

  const refused = await fetch(`${stack.url}/oauth2/callback?state=nope&code=x`, { headers: { 'x-forwarded-for': '198.51.100.9' } })
  t.equal(refused.status, 400)
  t.match(audits('sign_in_refused').at(-1), { audit: 'sign_in_refused', client: '198.51.100.9', reason: 'bad_state' })

  const text = stack.logText()
  for (const cookie of jar.header(stack.url)?.split('; ') ?? []) t.notOk(text.includes(cookie.split('=')[1] ?? '~'), 'no cookie value in the log')
})
