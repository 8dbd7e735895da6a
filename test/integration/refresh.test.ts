import { Redis } from 'ioredis'
import t from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

const hour = 3600_000
const clock = createTestClock()
let stack: Stack
let redis: Redis

t.before(async () => {
  stack = await startStack({
    store: 'redis',
    now: clock.now,
    configure: (raw) => { raw.identity = { pass_access_token: true } }
  })
  redis = new Redis(stack.redis?.url ?? '')
})
t.teardown(async () => {
  redis.disconnect()
  await stack.close()
})

async function json (jar: CookieJar, path: string): Promise<{ status: number, body: any, headers: Headers }> {
  const response = await fetchWithJar(`${stack.url}${path}`, jar, { headers: { accept: 'application/json' } })
  const text = await response.text()
  try { return { status: response.status, body: JSON.parse(text), headers: response.headers } } catch { return { status: response.status, body: text, headers: response.headers } }
}

async function freshUser (email = 'alice@example.com'): Promise<{ jar: CookieJar, token: string }> {
  clock.reset()
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email })
  const first = await json(jar, '/token')
  return { jar, token: first.body.headers['x-forwarded-access-token'] }
}

async function dumpRedis (): Promise<string> {
  const keys = await redis.keys('*')
  let all = keys.join('\n')
  for (const key of keys) {
    const type = await redis.type(key)
    if (type === 'string') all += (await redis.getBuffer(key))?.toString('latin1') ?? ''
  }
  return all
}

t.test('refresh: a token near expiry is refreshed before the request is forwarded (Google semantics keep the refresh token)', async (t) => {
  const { jar, token } = await freshUser()
  const before = stack.provider.counters.refreshGrants
  clock.advance(hour - 30_000)
  const second = await json(jar, '/token')
  t.equal(second.status, 200)
  const refreshed = second.body.headers['x-forwarded-access-token']
  t.not(refreshed, token, 'the upstream got a new access token')
  t.equal(stack.provider.counters.refreshGrants, before + 1)
  // The provider omitted refresh_token; the old one must still be in the session and work again.
  clock.advance(hour)
  const third = await json(jar, '/token')
  t.equal(third.status, 200)
  t.not(third.body.headers['x-forwarded-access-token'], refreshed)
  t.equal(stack.provider.counters.refreshGrants, before + 2)
})

t.test('refresh: concurrent requests in one process share one refresh', async (t) => {
  const { jar } = await freshUser()
  const before = stack.provider.counters.refreshGrants
  clock.advance(hour)
  const results = await Promise.all(Array.from({ length: 50 }, () => json(jar, '/token')))
  t.same(results.map((r) => r.status), Array(50).fill(200))
  t.equal(new Set(results.map((r) => r.body.headers['x-forwarded-access-token'])).size, 1, 'all got the same new token')
  t.equal(stack.provider.counters.refreshGrants, before + 1)
})

t.test('refresh: invalid_grant ends the session everywhere (browser to sign-in, API 401, gone from Redis)', async (t) => {
  const { jar } = await freshUser()
  const keysBefore = (await redis.keys('*:session')).length
  stack.provider.failNextRefresh('invalid_grant')
  clock.advance(hour)
  const api = await json(jar, '/api/data')
  t.equal(api.status, 401)
  t.equal(api.body.error, 'PCS_SESSION_EXPIRED')
  const ended = stack.logs.filter((l) => l.msg === 'audit' && l.audit === 'session_ended').at(-1)
  t.match(ended, { audit: 'session_ended', client: '127.0.0.1', reason: 'refresh_invalid_grant', session: /^[0-9a-f]{16}$/ }, 'an audit line')
  t.equal((await redis.keys('*:session')).length, keysBefore - 1, 'session deleted from Redis')
  const nav = await fetchWithJar(`${stack.url}/page`, jar)
  t.equal(nav.status, 302)
  t.match(nav.headers.get('location'), /^\/oauth2\/start\?rd=/)
})

t.test('refresh: a provider outage keeps the session; 503 only once the token expired; recovers by itself', async (t) => {
  const { jar, token } = await freshUser()
  stack.provider.setDown(true)
  t.teardown(() => stack.provider.setDown(false))
  clock.advance(hour - 30_000) // inside the refresh window, token still valid
  const stillValid = await json(jar, '/token')
  t.equal(stillValid.status, 200)
  t.equal(stillValid.body.headers['x-forwarded-access-token'], token, 'served with the still-valid token')
  clock.advance(60_000) // now expired
  const expired = await json(jar, '/token')
  t.equal(expired.status, 503)
  t.equal(expired.body.error, 'PCS_REFRESH_UNAVAILABLE')
  t.equal(expired.headers.get('retry-after'), '5')
  stack.provider.setDown(false)
  const recovered = await json(jar, '/token')
  t.equal(recovered.status, 200)
  t.not(recovered.body.headers['x-forwarded-access-token'], token)
})

t.test('refresh: changed claims reach the upstream and the access rules at once', async (t) => {
  const { jar } = await freshUser('bob@example.com')
  stack.provider.updateAccount('dev-bob', { groups: ['staff', 'auditors'] })
  clock.advance(hour)
  const changed = await json(jar, '/who')
  t.equal(changed.status, 200)
  t.equal(changed.body.headers['x-forwarded-groups'], 'staff,auditors')
  stack.provider.updateAccount('dev-bob', { email: 'bob@elsewhere.test' })
  clock.advance(hour)
  const refused = await json(jar, '/who')
  t.equal(refused.status, 403, 'a user moved out of the allowed domain is refused')
  stack.provider.updateAccount('dev-bob', { email: 'bob@example.com', groups: ['staff'] })
})

t.test('store: Redis holds no token, email or id after sign-in and refresh', async (t) => {
  const { jar, token } = await freshUser()
  clock.advance(hour)
  const after = await json(jar, '/token')
  const dump = await dumpRedis()
  const sid = (jar.get('_portcullis') ?? '').split('.')[1] ?? 'missing'
  for (const secret of [token, after.body.headers['x-forwarded-access-token'], 'alice@example.com', sid]) {
    t.notOk(dump.includes(secret), `Redis does not contain ${secret.slice(0, 12)}…`)
  }
})
