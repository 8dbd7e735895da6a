import { Redis } from 'ioredis'
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type RawConfig, type Stack } from '../helpers/stack.js'

/*
 * Two gateway replicas on one real redis-server, each with its session cache: a cached session
 * costs no Redis command, and a sign-out on one replica is refused on the other within 100 ms.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

let a: Stack
let b: Stack
let admin: Redis
t.before(async () => {
  // The assertion keyring reads the store in the background; off so command counts are the sessions'.
  const noAssertion = (raw: RawConfig): void => { raw.identity = { assertion: { enabled: false } } }
  a = await startStack({ store: 'redis', configure: noAssertion })
  b = await startStack({ store: 'redis', redis: a.redis!, provider: a.provider, upstreamUrl: a.upstreamUrl, configure: noAssertion })
  admin = new Redis(a.redis!.url, { maxRetriesPerRequest: 0 })
})
t.teardown(async () => {
  admin.disconnect()
  await b.close()
  await a.close()
})

async function status (url: string, cookie: string): Promise<number> {
  const response = await fetch(`${url}/who`, { headers: { accept: 'application/json', cookie }, signal: AbortSignal.timeout(5000) })
  await response.body?.cancel()
  return response.status
}

/** Calls per command name from INFO commandstats. */
async function commandCalls (): Promise<Record<string, number>> {
  const info = await admin.info('commandstats')
  const out: Record<string, number> = {}
  for (const m of info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2])
  return out
}

function delta (before: Record<string, number>, after: Record<string, number>, name: string): number {
  return (after[name] ?? 0) - (before[name] ?? 0)
}

async function signedInCookie (email: string): Promise<{ jar: CookieJar, cookie: string }> {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: a.url, jar, email })
  return { jar, cookie: jar.header(a.url) ?? '' }
}

t.test('session cache: an uncached session costs one round trip (GET and PTTL pipelined), a cached one none', async (t) => {
  const { cookie } = await signedInCookie('alice@example.com')
  const before = await commandCalls()
  t.equal(await status(b.url, cookie), 200)
  const afterFirst = await commandCalls()
  t.equal(delta(before, afterFirst, 'get'), 1, 'the first request on B reads the session once')
  t.equal(delta(before, afterFirst, 'pttl'), 1)
  for (let i = 0; i < 20; i++) t.equal(await status(b.url, cookie), 200)
  const afterMany = await commandCalls()
  t.equal(delta(afterFirst, afterMany, 'get'), 0, 'cached requests send no GET')
  t.equal(delta(afterFirst, afterMany, 'pttl'), 0)
  t.equal(delta(afterFirst, afterMany, 'pexpire'), 0, 'and no idle-timeout touch on every request')
})

t.test('session cache: a sign-out on replica A is refused on replica B within 100 ms', async (t) => {
  const { jar, cookie } = await signedInCookie('bob@example.com')
  // B has the session cached.
  t.equal(await status(b.url, cookie), 200)
  t.equal(await status(b.url, cookie), 200)
  const signOut = await fetchWithJar(`${a.url}/oauth2/sign_out`, jar, { method: 'POST', headers: { origin: a.url } })
  t.equal(signOut.status, 303)
  const signedOutAt = Date.now()
  let refusedAfter = -1
  // Bounded: at most 2 s of polling.
  for (let i = 0; i < 400; i++) {
    if (await status(b.url, cookie) === 401) {
      refusedAfter = Date.now() - signedOutAt
      break
    }
    await sleep(5)
  }
  t.ok(refusedAfter >= 0 && refusedAfter <= 100, `refused on B ${refusedAfter} ms after the sign-out on A`)
  t.equal(await status(a.url, cookie), 401)
})

t.test('session cache: while the event channel is down the cache is bypassed (fail closed), and it recovers', async (t) => {
  const { cookie } = await signedInCookie('alice@example.com')
  t.equal(await status(b.url, cookie), 200)
  t.equal(await status(b.url, cookie), 200)
  await a.redis!.stop()
  // The drop is noticed when the socket closes; from then on every request needs the store.
  let first503 = -1
  for (let i = 0; i < 100 && first503 < 0; i++) {
    if (await status(b.url, cookie) === 503) first503 = i
    else await sleep(10)
  }
  t.ok(first503 >= 0, 'B answers 503 once Redis is gone, although the session was cached')
  for (let i = 0; i < 5; i++) t.equal(await status(b.url, cookie), 503, 'never served from the cache while down')
  await a.redis!.restart()
  let back = false
  // Both replicas: each one's store breaker closes once its own connection is back.
  for (let i = 0; i < 100 && !back; i++) {
    back = await status(b.url, cookie) === 200 && await status(a.url, cookie) === 200
    if (!back) await sleep(100)
  }
  t.ok(back, 'served again once Redis is back')
})

t.test('access log: one line per request with its request id, written without the cookie or any token', async (t) => {
  const { cookie } = await signedInCookie('alice@example.com')
  t.equal(await status(b.url, cookie), 200)
  const line = b.logs.filter((l) => l.msg === 'request' && l.path === '/who').at(-1)
  t.match(line, { level: 'info', method: 'GET', path: '/who', status: 200, user: 'dev-alice', outcome: 'proxied' })
  t.match(line?.requestId, /^[0-9a-f-]{36}$/)
  const value = cookie.split('=')[1]!
  t.notOk(b.logText().includes(value), 'the cookie value is in no log line')
})

t.test('redis: a session takes at most 2 KB', async (t) => {
  await signedInCookie('alice@example.com')
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', 'portcullis:*:session', 'COUNT', 1000)
    cursor = next
    keys.push(...found)
  } while (cursor !== '0')
  t.ok(keys.length > 0)
  for (const key of keys) {
    const bytes = Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))
    t.ok(bytes > 0 && bytes <= 2048, `${bytes} bytes`)
  }
})
