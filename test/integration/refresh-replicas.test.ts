import t, { type Test } from 'tap'
import { fetchWithJar } from '../helpers/signin.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { burst, getJson, logMark, refreshLogs, settledRefreshLogs, signInReplica, sleepUntil, startReplicas, type Replicas } from '../helpers/replicas.js'

/*
 * Two gateway processes, one Redis, one provider with short-lived access tokens, real clocks.
 * Every test waits for a real expiry (a few seconds), then drives both processes at once.
 */

let redisServer: RedisServer
t.before(async () => { redisServer = await startRedis() })
t.teardown(async () => { await redisServer.stop() })

async function replicas (t: Test, options: Omit<Parameters<typeof startReplicas>[0], 'redis'> = {}): Promise<Replicas> {
  const r = await startReplicas({ redis: redisServer, ...options })
  t.teardown(() => r.close())
  return r
}

async function sessionKeys (r: Replicas): Promise<number> {
  return (await r.redis.keys('*:session')).length
}

function tokenOf (result: { body: any }): string {
  return result.body?.headers?.['x-forwarded-access-token']
}

t.test('refresh: 200 concurrent requests over two gateway processes right after expiry cause exactly one refresh grant (Google semantics)', async (t) => {
  const r = await replicas(t, { providerOptions: { accessTokenTtlSeconds: 3 } })
  const { jar, signedInAt } = await signInReplica(r)
  const first = await getJson(r.gateways[1].url, '/token', jar)
  t.equal(first.status, 200, 'the second process accepts the session')
  r.provider.setAccessTokenTtl(3600)
  await sleepUntil(signedInAt + 3200)
  const grants = r.provider.counters.refreshGrants
  const attempts = r.provider.counters.refreshAttempts
  const mark = logMark(r)
  const results = await burst(r, jar, 200)
  t.same(results.map((x) => x.status), Array(200).fill(200), 'all 200 requests succeed')
  const tokens = new Set(results.map(tokenOf))
  t.equal(tokens.size, 1, 'every request was forwarded with the same token')
  t.not([...tokens][0], tokenOf(first), 'and it is the refreshed one')
  t.equal(r.provider.counters.refreshGrants - grants, 1, 'the provider issued exactly one refresh grant')
  t.equal(r.provider.counters.refreshAttempts - attempts, 1, 'and received exactly one refresh request')

  const lines = await settledRefreshLogs(r, (ls) => ls.some((l) => l.refreshGrant === true) && ls.some((l) => l.refresh === 'joined'), mark)
  t.equal(lines.filter((l) => l.refreshGrant === true).length, 1, 'one log line reports the grant')
  t.same(lines.filter((l) => l.refresh === 'refreshed').length, 1)
  t.ok(lines.every((l) => l.refresh === 'refreshed' || l.refresh === 'joined'), 'every other coordination joined it')
  t.ok(lines.every((l) => typeof l.refreshWaitedMs === 'number' && typeof l.refreshRequests === 'number'), 'lock waits and shared requests are log fields')
  t.ok(r.gateways.every((g, i) => g.lines.slice(mark[i]).some((l) => l.refresh === 'refreshed' || l.refresh === 'joined')), 'both processes took part')
})

t.test('refresh: with refresh-token rotation, 200 concurrent requests over two processes cause one grant per expiry and the rotated token is kept', async (t) => {
  const r = await replicas(t, { providerOptions: { accessTokenTtlSeconds: 3, rotateRefreshTokens: true } })
  const { jar, signedInAt } = await signInReplica(r)
  // The first refreshed token lives 6 s, so a second expiry follows: it can only be refreshed
  // with the rotated refresh token, since the provider refuses the first one once it was used.
  r.provider.setAccessTokenTtl(6)
  await sleepUntil(signedInAt + 3200)
  const grants = r.provider.counters.refreshGrants
  const round1Start = Date.now()
  const round1 = await burst(r, jar, 200)
  t.same(round1.map((x) => x.status), Array(200).fill(200), 'round 1: all 200 succeed')
  t.equal(new Set(round1.map(tokenOf)).size, 1)
  t.equal(r.provider.counters.refreshGrants - grants, 1, 'round 1: exactly one refresh grant')

  r.provider.setAccessTokenTtl(3600)
  await sleepUntil(round1Start + 6200)
  const round2 = await burst(r, jar, 200)
  t.same(round2.map((x) => x.status), Array(200).fill(200), 'round 2: all 200 succeed with the rotated refresh token')
  t.equal(new Set(round2.map(tokenOf)).size, 1)
  t.not(tokenOf(round2[0]!), tokenOf(round1[0]!))
  t.equal(r.provider.counters.refreshGrants - grants, 2, 'round 2: exactly one more refresh grant')
  t.equal(refreshLogs(r).filter((l) => l.refresh === 'ended').length, 0, 'no session was ended')
})

t.test('refresh: a token endpoint slower than the lock lease still yields exactly one refresh', async (t) => {
  const r = await replicas(t, { providerOptions: { accessTokenTtlSeconds: 3 } })
  const { jar, signedInAt } = await signInReplica(r)
  r.provider.setAccessTokenTtl(3600)
  // The lease is 5 s; the provider takes 7 s. Without lease renewal the other process would
  // take the expired lock and send a second grant with the same refresh token.
  r.provider.setTokenDelay(7000)
  await sleepUntil(signedInAt + 3200)
  const grants = r.provider.counters.refreshAttempts
  const mark = logMark(r)
  const results = await burst(r, jar, 20)
  t.same(results.map((x) => x.status), Array(20).fill(200), 'every request waited and succeeded')
  t.equal(new Set(results.map(tokenOf)).size, 1)
  t.equal(r.provider.counters.refreshAttempts - grants, 1, 'exactly one refresh request reached the provider')
  const lines = await settledRefreshLogs(r, (ls) => ls.some((l) => l.refreshGrant === true) && ls.some((l) => l.refresh === 'joined'), mark)
  const holder = lines.filter((l) => l.refreshGrant === true)
  t.equal(holder.length, 1)
  t.ok(Number(holder[0]?.refreshProviderMs) > 5000, 'the provider call outlasted the lease')
  const waiters = lines.filter((l) => l.refresh === 'joined')
  t.ok(waiters.some((l) => Number(l.refreshWaitedMs) > 5000), 'the other process waited past the lease for the result')
})

t.test('refresh: provider down keeps the session, 503 with Retry-After only once the token expired, recovery when it is back', async (t) => {
  const r = await replicas(t, {
    providerOptions: { accessTokenTtlSeconds: 6 },
    configure: (raw) => { raw.session.refresh_before_expiry = '4s' }
  })
  const { jar, signedInAt } = await signInReplica(r)
  r.provider.setAccessTokenTtl(3600)
  const sessions = await sessionKeys(r)
  r.provider.setDown(true)
  t.teardown(() => r.provider.setDown(false))

  await sleepUntil(signedInAt + 2500) // inside the refresh window; the token is still valid
  const valid = [await getJson(r.gateways[0].url, '/token', jar), await getJson(r.gateways[1].url, '/token', jar)]
  t.same(valid.map((x) => x.status), [200, 200], 'served with the still-valid token on both processes')
  t.equal(tokenOf(valid[0]!), tokenOf(valid[1]!))
  const old = tokenOf(valid[0]!)

  await sleepUntil(signedInAt + 6300) // expired
  const expired = [await getJson(r.gateways[0].url, '/token', jar), await getJson(r.gateways[1].url, '/token', jar)]
  t.same(expired.map((x) => x.status), [503, 503], '503 once the token expired')
  t.same(expired.map((x) => x.body.error), ['PCS_REFRESH_UNAVAILABLE', 'PCS_REFRESH_UNAVAILABLE'])
  t.same(expired.map((x) => x.headers.get('retry-after')), ['5', '5'])
  t.equal(await sessionKeys(r), sessions, 'the session is kept in Redis')

  const grants = r.provider.counters.refreshGrants
  r.provider.setDown(false)
  const back = [await getJson(r.gateways[1].url, '/token', jar), await getJson(r.gateways[0].url, '/token', jar)]
  t.same(back.map((x) => x.status), [200, 200], 'the next requests refresh and succeed')
  t.not(tokenOf(back[0]!), old)
  t.equal(tokenOf(back[0]!), tokenOf(back[1]!))
  t.equal(r.provider.counters.refreshGrants - grants, 1)
  const lines = await settledRefreshLogs(r, (ls) => ls.some((l) => l.refresh === 'transient'))
  t.ok(lines.some((l) => l.refresh === 'transient'), 'the failures are logged as transient')
})

t.test('refresh: invalid_grant ends the session in every process (gone from Redis, API 401, browser to sign-in)', async (t) => {
  const r = await replicas(t, { providerOptions: { accessTokenTtlSeconds: 3 } })
  const { jar, signedInAt } = await signInReplica(r)
  const sessions = await sessionKeys(r)
  r.provider.failNextRefresh('invalid_grant')
  await sleepUntil(signedInAt + 3200)
  const attempts = r.provider.counters.refreshAttempts
  const results = await burst(r, jar, 20, '/api/data')
  t.same(results.map((x) => x.status), Array(20).fill(401), 'every API request gets 401')
  // A request that reads the session after it was deleted finds none: also 401, its own code.
  t.ok(results.every((x) => x.body.error === 'PCS_SESSION_EXPIRED' || x.body.error === 'PCS_UNAUTHENTICATED'), 'every 401 is the gateway\'s')
  t.ok(results.some((x) => x.body.error === 'PCS_SESSION_EXPIRED'), 'the requests that met the refresh say the session ended')
  t.equal(r.provider.counters.refreshAttempts - attempts, 1, 'the dead grant was tried once, not once per process')
  t.equal(await sessionKeys(r), sessions - 1, 'the session is gone from Redis')
  for (const g of r.gateways) {
    const nav = await fetchWithJar(`${g.url}/page?x=1`, jar)
    t.equal(nav.status, 302, 'a browser navigation is sent to sign in')
    t.equal(nav.headers.get('location'), `/oauth2/start?rd=${encodeURIComponent('/page?x=1')}`)
  }
})

t.test('refresh: changed claims reach the upstream and the access rules after the next refresh, in every process', async (t) => {
  const r = await replicas(t, { providerOptions: { accessTokenTtlSeconds: 3 } })
  const { jar, signedInAt } = await signInReplica(r, 'bob@example.com')
  const before = await getJson(r.gateways[1].url, '/who', jar)
  t.equal(before.body.headers['x-forwarded-groups'], 'staff')
  r.provider.updateAccount('dev-bob', { groups: ['staff', 'auditors'] })
  t.teardown(() => r.provider.updateAccount('dev-bob', { email: 'bob@example.com', groups: ['staff'] }))
  await sleepUntil(signedInAt + 3200)
  const refreshedAt = Date.now()
  const after = await burst(r, jar, 10, '/who')
  t.same([...new Set(after.map((x) => x.body.headers['x-forwarded-groups']))], ['staff,auditors'], 'both processes forward the new groups')

  r.provider.updateAccount('dev-bob', { email: 'bob@elsewhere.test' })
  await sleepUntil(refreshedAt + 3200)
  const refused = await burst(r, jar, 10, '/who')
  t.same([...new Set(refused.map((x) => x.status))], [403], 'a user moved out of the allowed domain is refused at once')
})
