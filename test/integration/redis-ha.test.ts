import t from 'tap'
import type { Test } from 'tap'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { FAILOVER_BOUND_MS } from '../helpers/failover.js'
import { command } from '../helpers/redis.js'
import { startCluster } from '../helpers/redis-cluster.js'
import type { Failover } from '../helpers/redis-ha.js'
import { startSentinelGroup } from '../helpers/redis-sentinel.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type RawConfig, type Stack } from '../helpers/stack.js'

/*
 * A gateway on a highly available Redis keeps its users signed in across a primary failover:
 * a session written before the failover is usable again within FAILOVER_BOUND_MS, requests in
 * between fail closed (503, never a sign-in redirect or a 401 that would mean the session was
 * lost), and refreshes (which take the refresh lock) work on the promoted primary.
 */

const hour = 3600_000

interface Topology {
  configure (raw: RawConfig): void
  /** Every key of the gateway (prefix `portcullis:`) on the current primaries. */
  keys (): Promise<string[]>
  /** Waits until the replicas have everything, then kills the primary holding `key`. */
  fail (key: string): Promise<Failover>
  /** Slot checks, for a cluster. */
  keySlot?: (key: string) => Promise<number>
}

async function whoami (stack: Stack, jar: CookieJar): Promise<{ status: number, email: string | null }> {
  const response = await fetchWithJar(`${stack.url}/whoami`, jar, { headers: { accept: 'application/json' } })
  const text = await response.text()
  let email: string | null = null
  try { email = (JSON.parse(text) as { headers?: Record<string, string> }).headers?.['x-forwarded-email'] ?? null } catch { /* not JSON */ }
  return { status: response.status, email }
}

/** The session's own keys: the record and, once it refreshed, the lock fence (the lock itself is released). */
function sessionKeysIn (keys: readonly string[]): string[] {
  return keys.filter((k) => /^portcullis:\{[A-Za-z0-9_-]{22}\}:/.test(k)).sort()
}

async function scenario (t: Test, topology: Topology): Promise<void> {
  const clock = createTestClock()
  const stack = await startStack({
    store: 'redis',
    externalRedis: true,
    now: clock.now,
    configure: (raw) => {
      topology.configure(raw)
      // Every request must reach the store here: the in-process session cache would (rightly)
      // keep serving the session through a short outage and hide the failover under test.
      raw.session.cache = { enabled: false }
    }
  })
  t.teardown(() => stack.close())
  t.equal((await fetch(`${stack.url}/ready`)).status, 200, 'ready on the HA store')

  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  t.same(await whoami(stack, jar), { status: 200, email: 'alice@example.com' }, 'signed in')

  // Refresh once, so the session's lock fence exists too; a cluster refuses the lock scripts if
  // the lock and the session were in different slots.
  const grants = stack.provider.counters.refreshGrants
  clock.advance(hour - 30_000)
  t.same(await whoami(stack, jar), { status: 200, email: 'alice@example.com' }, 'still signed in near expiry')
  t.equal(stack.provider.counters.refreshGrants, grants + 1, 'refreshed through the refresh lock')

  const own = sessionKeysIn(await topology.keys())
  t.equal(own.length, 3, `one session record, its encrypted listing data and one lock fence: ${own.join(', ')}`)
  const tag = own[0]!.slice('portcullis:'.length, own[0]!.indexOf('}') + 1)
  t.same(own, [`portcullis:${tag}:info`, `portcullis:${tag}:lock:fence`, `portcullis:${tag}:session`], 'all carry the same hash tag')
  if (topology.keySlot !== undefined) {
    const slots = await Promise.all([...own, `portcullis:${tag}:lock`].map(topology.keySlot))
    t.same(new Set(slots).size, 1, `session, lock and fence are all in slot ${slots[0]}`)
  }

  const { killed, promoted, healed } = await topology.fail(own.find((k) => k.endsWith(':session'))!)
  t.not(killed.port, promoted.port, 'a replica takes over')
  const started = Date.now()
  const seen = new Map<number, number>()
  let last = { status: 0, email: null as string | null }
  while (Date.now() - started < FAILOVER_BOUND_MS) {
    last = await whoami(stack, jar)
    seen.set(last.status, (seen.get(last.status) ?? 0) + 1)
    if (last.status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const took = Date.now() - started
  t.same(last, { status: 200, email: 'alice@example.com' }, `the session from before the failover works again after ${took} ms (bound ${FAILOVER_BOUND_MS} ms)`)
  t.same([...seen.keys()].filter((s) => s !== 200 && s !== 503), [], `in between only 503 (fail closed): ${JSON.stringify(Object.fromEntries(seen))}`)
  t.ok((seen.get(503) ?? 0) > 0, 'the outage was seen')
  await healed
  t.equal((await fetch(`${stack.url}/ready`)).status, 200, 'ready again')

  clock.advance(hour)
  t.same(await whoami(stack, jar), { status: 200, email: 'alice@example.com' }, 'still signed in at the next expiry')
  t.equal(stack.provider.counters.refreshGrants, grants + 2, 'refreshes take the lock on the promoted primary')

  const bob = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar: bob, email: 'bob@example.com' })
  t.same(await whoami(stack, bob), { status: 200, email: 'bob@example.com' }, 'new sign-ins work after the failover')
}

t.test('redis cluster (3 masters + replicas): a signed-in session survives the death of its master, and its keys share one slot', async (t) => {
  const cluster = await startCluster()
  t.teardown(() => cluster.stop())
  await scenario(t, {
    configure: (raw) => { raw.redis = { cluster: { nodes: cluster.seeds.slice(0, 3) } } },
    keys: () => cluster.keys('portcullis:*'),
    keySlot: (key) => cluster.keySlot(key),
    async fail (key) {
      await cluster.caughtUp()
      return await cluster.killMasterOf(await cluster.keySlot(key))
    }
  })
})

t.test('redis sentinel (primary, replica, 3 sentinels): a signed-in session survives the death of the primary', async (t) => {
  const group = await startSentinelGroup()
  t.teardown(() => group.stop())
  await scenario(t, {
    configure: (raw) => { raw.redis = { sentinel: { name: group.name, nodes: [...group.seeds] } } },
    keys: async () => await command((await group.primary()).port, 'KEYS', 'portcullis:*') as string[],
    async fail () {
      await group.caughtUp()
      return await group.killPrimary()
    }
  })
})
