import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { DEMO_CLIENT_ID } from '../../demo/accounts.js'
import type { DevProvider } from '../../demo/provider.js'
import { startStack, type RawConfig, type Stack } from '../helpers/stack.js'

const minute = 60_000
const clock = createTestClock()

function groupRoutes (raw: RawConfig): void {
  const upstream = raw.routes[0].upstream
  raw.routes.push(
    { path: '/admin/', upstream, allow: { groups: ['admins@example.com'] } },
    { path: '/staff/', upstream, allow: { groups: ['staff@example.com'] }, bearer: true }
  )
}

async function get (stack: Stack, jar: CookieJar, path: string): Promise<{ status: number, groups: string | null }> {
  const response = await fetchWithJar(`${stack.url}${path}`, jar, { headers: { accept: 'application/json' } })
  const text = await response.text()
  let groups: string | null = null
  try { groups = JSON.parse(text).headers['x-forwarded-groups'] ?? null } catch {}
  return { status: response.status, groups }
}

async function signedIn (stack: Stack, email: string): Promise<CookieJar> {
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl: stack.url, jar, email })
  if (result.status !== 200) throw new Error(`sign-in of ${email} ended with ${result.status}`)
  return jar
}

function audits (stack: Stack, reason: string): number {
  return stack.logs.filter((l) => l.audit === 'groups_unavailable' && l.reason === reason).length
}

/** The development provider and a gateway in front of it whose groups come from its Google API double. */
async function stackWithGroups (groups: (provider: DevProvider) => Record<string, unknown>): Promise<Stack> {
  return await startStack({
    store: 'memory',
    now: clock.now,
    configure: (raw, provider) => {
      raw.provider.groups = { api_root: provider.issuer, ...groups(provider) }
      groupRoutes(raw)
    }
  })
}

t.test('groups: cloud_identity', async (t) => {
  const stack = await stackWithGroups(() => ({ source: 'cloud_identity', max_age: '90m', timeout: '1s' }))
  t.teardown(() => stack.close())
  const apis = stack.provider.googleApis

  t.test('transitive groups at sign-in, over several pages, feed rules and headers', async (t) => {
    clock.reset()
    const before = apis.counters.searchTransitiveGroups
    const alice = await signedIn(stack, 'alice@example.com')
    // alice: admins and eng directly, staff through admins: 3 groups at 2 a page.
    t.equal(apis.counters.searchTransitiveGroups - before, 2, 'two pages asked for')
    const admin = await get(stack, alice, '/admin/x')
    t.equal(admin.status, 200)
    t.equal(admin.groups, 'admins@example.com,eng@example.com,staff@example.com')
    t.equal((await get(stack, alice, '/staff/x')).status, 200, 'an indirect membership counts')
    const bob = await signedIn(stack, 'bob@example.com')
    t.equal((await get(stack, bob, '/admin/x')).status, 403)
    t.equal((await get(stack, bob, '/staff/x')).status, 200)
    const userinfo = await fetchWithJar(`${stack.url}/oauth2/userinfo`, bob, { headers: { accept: 'application/json' } })
    t.strictSame(((await userinfo.json()) as { groups: string[] }).groups, ['staff@example.com'])
  })

  t.test('a group removed at Google is gone after the next refresh', async (t) => {
    clock.reset()
    const alice = await signedIn(stack, 'alice@example.com')
    t.equal((await get(stack, alice, '/admin/x')).status, 200)
    apis.removeMember('admins@example.com', 'alice@example.com')
    t.teardown(() => apis.addMember('admins@example.com', 'alice@example.com'))
    t.equal((await get(stack, alice, '/admin/x')).status, 200, 'until the refresh, the fetched groups hold')
    clock.advance(60 * minute - 30_000)
    const after = await get(stack, alice, '/admin/x')
    t.equal(after.status, 403, 'the refresh fetched the groups again')
    t.equal((await get(stack, alice, '/staff/x')).status, 403, 'staff came only through admins')
    t.equal((await get(stack, alice, '/x')).status, 200, 'the email rule still decides')
  })

  for (const [name, failure, reason] of [
    ['403 PERMISSION_DENIED', { status: 403 }, 'forbidden'],
    ['429 after every retry', { status: 429, times: 3, retryAfterSeconds: 0 }, 'rate_limited'],
    ['500', { status: 500, times: 3 }, 'server_error'],
    ['503', { status: 503, times: 3 }, 'server_error']
  ] as const) {
    t.test(`sign-in while the API answers ${name}: group rules deny, others decide, audit says why`, async (t) => {
      clock.reset()
      const audited = audits(stack, reason)
      apis.failNext(failure)
      const alice = await signedIn(stack, 'alice@example.com')
      t.equal((await get(stack, alice, '/admin/x')).status, 403)
      t.equal((await get(stack, alice, '/x')).status, 200)
      t.equal(audits(stack, reason), audited + 1)
    })
  }

  t.test('sign-in while the API is slower than groups.timeout fails closed', async (t) => {
    clock.reset()
    const audited = audits(stack, 'timeout')
    apis.setDelay(1500)
    t.teardown(() => apis.setDelay(0))
    const alice = await signedIn(stack, 'alice@example.com')
    apis.setDelay(0)
    t.equal((await get(stack, alice, '/admin/x')).status, 403)
    t.equal(audits(stack, 'timeout'), audited + 1)
  })

  t.test('one 429 is retried after backoff and the groups arrive', async (t) => {
    clock.reset()
    apis.failNext({ status: 429, retryAfterSeconds: 0 })
    const alice = await signedIn(stack, 'alice@example.com')
    t.equal((await get(stack, alice, '/admin/x')).status, 200)
  })

  t.test('a failing refresh keeps the last good groups until max_age, never past it', async (t) => {
    clock.reset()
    const alice = await signedIn(stack, 'alice@example.com')
    clock.advance(60 * minute - 30_000)
    apis.failNext({ status: 500, times: 3 })
    t.equal((await get(stack, alice, '/admin/x')).status, 200, 'kept: fetched 59.5 minutes ago, max_age 90m')
    clock.advance(30 * minute - 60_000)
    t.equal((await get(stack, alice, '/admin/x')).status, 200, 'still within max_age')
    clock.advance(2 * minute)
    apis.failNext({ status: 500, times: 3 })
    t.equal((await get(stack, alice, '/admin/x')).status, 403, 'past max_age the groups are gone')
    t.equal((await get(stack, alice, '/x')).status, 200)
  })
})

t.test('groups: with the provider down, groups are never served past max_age', async (t) => {
  const stack = await stackWithGroups(() => ({ source: 'cloud_identity', max_age: '10m', timeout: '1s' }))
  t.teardown(() => stack.close())
  clock.reset()
  const alice = await signedIn(stack, 'alice@example.com')
  t.equal((await get(stack, alice, '/admin/x')).status, 200)
  stack.provider.setDown(true)
  t.teardown(() => stack.provider.setDown(false))
  clock.advance(9 * minute + 10_000)
  // A refresh is due for the groups; it fails, and the still-valid access token serves the request.
  t.equal((await get(stack, alice, '/admin/x')).status, 200, 'within max_age the fetched groups hold')
  clock.advance(minute)
  const past = await get(stack, alice, '/admin/x')
  t.equal(past.status, 403, 'past max_age they are gone although no refresh succeeded')
  t.equal((await get(stack, alice, '/x')).status, 200, 'the email rule still decides')
  stack.provider.setDown(false)
  clock.advance(10_000) // past the refresher's pause after a failure
  t.equal((await get(stack, alice, '/admin/x')).status, 200, 'the next refresh fetches them again')
})

t.test('groups: admin_directory with a service account acting as an admin', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sa-'))
  const keyFile = join(dir, 'key.json')
  const stack = await stackWithGroups((provider) => {
    writeFileSync(keyFile, JSON.stringify(provider.googleApis.serviceAccountKey('groups-reader@portcullis-dev.iam.gserviceaccount.com')))
    return { source: 'admin_directory', service_account_key_file: keyFile, impersonate: 'alice@example.com', timeout: '2s' }
  })
  t.teardown(() => stack.close())
  const apis = stack.provider.googleApis
  clock.reset()

  t.test('direct groups at sign-in, over several pages', async (t) => {
    const before = apis.counters.directoryGroupsList
    const alice = await signedIn(stack, 'alice@example.com')
    const admin = await get(stack, alice, '/admin/x')
    t.equal(admin.status, 200)
    t.equal(admin.groups, 'admins@example.com,eng@example.com', 'groups.list with userKey is direct memberships only')
    t.equal(apis.counters.directoryGroupsList - before, 1, 'two groups fit one page of 2')
    apis.setPageSize(1)
    t.teardown(() => apis.setPageSize(2))
    const again = apis.counters.directoryGroupsList
    const second = await signedIn(stack, 'alice@example.com')
    t.equal((await get(stack, second, '/admin/x')).status, 200)
    t.equal(apis.counters.directoryGroupsList - again, 2, 'one group a page: two pages')
    const bob = await signedIn(stack, 'bob@example.com')
    t.equal((await get(stack, bob, '/staff/x')).status, 200)
    t.equal((await get(stack, bob, '/admin/x')).status, 403)
  })

  t.test('a bearer ID token of a Workspace user gets that user\'s groups through the service account', async (t) => {
    const call = async (sub: string): Promise<Response> => await fetch(`${stack.url}/staff/x`, {
      headers: { accept: 'application/json', authorization: `Bearer ${await stack.provider.mintIdToken(sub, DEMO_CLIENT_ID)}` }
    })
    const bob = await call('dev-bob')
    t.equal(bob.status, 200)
    t.equal(((await bob.json()) as { headers: Record<string, string> }).headers['x-forwarded-groups'], 'staff@example.com')
    t.equal(bob.headers.get('set-cookie'), null)
    t.equal((await call('dev-alice')).status, 403, 'alice is in staff only through admins, which the Directory does not list')
  })

  t.test('a 403 from the Directory API fails closed', async (t) => {
    apis.failNext({ status: 403 })
    const alice = await signedIn(stack, 'alice@example.com')
    t.equal((await get(stack, alice, '/admin/x')).status, 403)
    t.ok(audits(stack, 'forbidden') >= 1)
  })

  t.test('the token endpoint failing fails closed', async (t) => {
    clock.advance(2 * 60 * minute) // past the cached service account token
    const audited = audits(stack, 'server_error')
    apis.failNext({ status: 500, times: 3, token: true })
    const alice = await signedIn(stack, 'alice@example.com')
    t.equal((await get(stack, alice, '/admin/x')).status, 403)
    t.equal((await get(stack, alice, '/x')).status, 200)
    t.equal(audits(stack, 'server_error'), audited + 1)
  })

})
