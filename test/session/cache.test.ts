import t from 'tap'
import { connectSessionCache, createSessionCache } from '../../src/session/cache.js'
import { createSessionEvents } from '../../src/session/events.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { newTicket } from '../../src/session/ticket.js'
import type { SessionRecord } from '../../src/domain/types.js'
import { testIdentity, testRecord } from '../fixtures/session.js'
import { createFrozenClock } from '../helpers/clock.js'

const START = 1_700_000_000_000

const clock = (): ReturnType<typeof createFrozenClock> => createFrozenClock(START)

function record (overrides: Partial<SessionRecord> = {}): SessionRecord {
  return testRecord(START, { identity: testIdentity({ sub: 'u1', email: 'u1@example.com' }), ...overrides })
}

function liveCache (options: { ttlMs?: number, maxEntries?: number, maxTombstones?: number } = {}) {
  const c = clock()
  const cache = createSessionCache({ ttlMs: options.ttlMs ?? 5000, maxEntries: options.maxEntries ?? 100, now: c.now, ...(options.maxTombstones === undefined ? {} : { maxTombstones: options.maxTombstones }) })
  cache.setLive(true)
  return { cache, ...c }
}

t.test('cache: serves a cached session until its ttl, then misses', async (t) => {
  const { cache, advance } = liveCache({ ttlMs: 5000 })
  const ticket = newTicket()
  const r = record()
  cache.set('s1', ticket, r, 60_000, cache.begin())
  t.equal(cache.get('s1', ticket), r)
  advance(4999)
  t.equal(cache.get('s1', ticket), r)
  advance(1)
  t.equal(cache.get('s1', ticket), undefined)
  t.strictSame(cache.stats, { hits: 2, misses: 1, invalidations: 0 })
})

t.test('cache: never serves a session past its absolute expiry', async (t) => {
  const { cache, advance } = liveCache({ ttlMs: 5000 })
  const ticket = newTicket()
  cache.set('s1', ticket, record({ expiresAt: START + 1000 }), 60_000)
  advance(999)
  t.ok(cache.get('s1', ticket))
  advance(1)
  t.equal(cache.get('s1', ticket), undefined)
})

t.test('cache: never serves a session longer than the store would keep it (idle timeout)', async (t) => {
  const { cache, advance } = liveCache({ ttlMs: 5000 })
  const ticket = newTicket()
  // The store said the session has 2 s left before its idle timeout removes it.
  cache.set('s1', ticket, record(), 2000)
  advance(1999)
  t.ok(cache.get('s1', ticket))
  advance(1)
  t.equal(cache.get('s1', ticket), undefined)
  // A record with no time left is not cached at all.
  cache.set('s2', ticket, record(), 0)
  t.equal(cache.get('s2', ticket), undefined)
})

t.test('cache: a ticket with another key never gets the cached record', async (t) => {
  const { cache } = liveCache()
  const ticket = newTicket()
  cache.set('s1', ticket, record(), 60_000)
  t.equal(cache.get('s1', { sid: ticket.sid, key: newTicket().key }), undefined)
  // The mismatch also drops the entry: the store, with decryption, decides next time.
  t.equal(cache.get('s1', ticket), undefined)
})

t.test('cache: an invalidated session is gone, and a read begun before the invalidation is not cached', async (t) => {
  const { cache } = liveCache()
  const ticket = newTicket()
  cache.set('s1', ticket, record(), 60_000)
  const token = cache.begin()
  cache.invalidate('s1')
  t.equal(cache.get('s1', ticket), undefined)
  // The store read that began before the sign-out completes now: it must not come back.
  cache.set('s1', ticket, record(), 60_000, token)
  t.equal(cache.get('s1', ticket), undefined)
  // A read begun after the invalidation may be cached (the store had the final word).
  cache.set('s1', ticket, record(), 60_000, cache.begin())
  t.ok(cache.get('s1', ticket))
  // Other sessions' reads in flight are not affected by this invalidation.
  const other = newTicket()
  const otherToken = cache.begin()
  cache.invalidate('s3')
  cache.set('s2', other, record(), 60_000, otherToken)
  t.ok(cache.get('s2', other))
})

t.test('cache: when tombstones overflow, every read older than the forgotten one is refused', async (t) => {
  const { cache } = liveCache({ maxTombstones: 2 })
  const ticket = newTicket()
  const token = cache.begin()
  cache.invalidate('a')
  cache.invalidate('b')
  cache.invalidate('c') // forgets 'a', raising the floor above `token`
  cache.set('a', ticket, record(), 60_000, token)
  t.equal(cache.get('a', ticket), undefined)
  cache.set('a', ticket, record(), 60_000, cache.begin())
  t.ok(cache.get('a', ticket))
})

t.test('cache: holds at most max_entries, dropping the least recently used', async (t) => {
  const { cache } = liveCache({ maxEntries: 2 })
  const [a, b, c] = [newTicket(), newTicket(), newTicket()]
  cache.set('a', a, record(), 60_000)
  cache.set('b', b, record(), 60_000)
  t.ok(cache.get('a', a)) // a is now the most recent
  cache.set('c', c, record(), 60_000)
  t.equal(cache.size, 2)
  t.ok(cache.get('a', a))
  t.equal(cache.get('b', b), undefined)
  t.ok(cache.get('c', c))
})

t.test('cache: serves nothing and stores nothing until live, and empties itself when delivery stops', async (t) => {
  const c = clock()
  const cache = createSessionCache({ ttlMs: 5000, maxEntries: 10, now: c.now })
  const ticket = newTicket()
  cache.set('s1', ticket, record(), 60_000)
  t.equal(cache.get('s1', ticket), undefined, 'not live yet: nothing stored')
  cache.setLive(true)
  cache.set('s1', ticket, record(), 60_000)
  t.ok(cache.get('s1', ticket))
  const token = cache.begin()
  cache.setLive(false)
  t.equal(cache.size, 0)
  t.equal(cache.get('s1', ticket), undefined)
  cache.set('s1', ticket, record(), 60_000, cache.begin())
  t.equal(cache.get('s1', ticket), undefined, 'down: nothing stored')
  cache.setLive(true)
  // A read begun before delivery came back may predate a lost message: refused.
  cache.set('s1', ticket, record(), 60_000, token)
  t.equal(cache.get('s1', ticket), undefined)
  cache.set('s1', ticket, record(), 60_000, cache.begin())
  t.ok(cache.get('s1', ticket))
})

t.test('cache: connected to the session events, drops refreshed and ended sessions but not released locks', async (t) => {
  const store = createMemoryStore()
  t.teardown(() => store.close())
  const events = createSessionEvents(store, 'test:events')
  const c = clock()
  const cache = connectSessionCache({ enabled: true, ttlMs: 5000, maxEntries: 10 }, events, c.now)!
  const ticket = newTicket()
  cache.set('s1', ticket, record(), 60_000)
  t.equal(cache.get('s1', ticket), undefined, 'not live before the subscription is up')
  await events.start()
  cache.set('s1', ticket, record(), 60_000)
  await events.publish('released', 's1')
  t.ok(cache.get('s1', ticket), 'a released lock changes nothing')
  await events.publish('ended', 's1')
  t.equal(cache.get('s1', ticket), undefined, 'this process\'s own event applies at once')
  cache.set('s1', ticket, record(), 60_000)
  await store.publish('test:events', 'refreshed:s1')
  for (let i = 0; i < 20 && cache.size > 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(cache.get('s1', ticket), undefined, 'another process\'s event applies when delivered')
  await events.stop()
  t.equal(events.live(), false)
  cache.set('s1', ticket, record(), 60_000)
  t.equal(cache.get('s1', ticket), undefined, 'stopped: the cache is bypassed')
  t.equal(connectSessionCache({ enabled: false, ttlMs: 5000, maxEntries: 10 }, events), undefined)
})
