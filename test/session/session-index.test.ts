import { Redis } from 'ioredis'
import t from 'tap'
import type { Test } from 'tap'
import { allSessionsKey, lookupIndexKey, sessionRef, sessionTag } from '../../src/session/keys.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { createRedisStore } from '../../src/session/redis-store.js'
import { createSessionIndex, indexKeys } from '../../src/session/session-index.js'
import { createSessions } from '../../src/session/sessions.js'
import { INDEX_GRACE_MS, type SessionStore } from '../../src/session/store.js'
import type { SessionRecord } from '../../src/domain/types.js'
import { startRedis } from '../helpers/redis.js'

const prefix = 'portcullis:'
const IDLE = 60_000
const EMAIL = 'Ada.Lovelace@Example.com'
const TOKENS = ['ACCESS-TOKEN-recognisable-0001', 'REFRESH-TOKEN-recognisable-0002', 'ID-TOKEN-recognisable-0003']

function record (now: number, lifetimeMs: number, email = EMAIL, sub = 'subject-1234567890'): SessionRecord {
  return {
    v: 1,
    identity: { sub, email, emailVerified: true, name: 'Ada', preferredUsername: 'ada', groups: [], hd: null, claims: {} },
    tokens: { accessToken: TOKENS[0]!, refreshToken: TOKENS[1]!, idToken: TOKENS[2]!, accessTokenExpiresAt: now + 3_600_000 },
    createdAt: now,
    expiresAt: now + lifetimeMs,
    generation: 0,
    refreshedAt: now
  }
}

function setup (store: SessionStore, now: () => number, secrets = ['first-cookie-secret-0123456789abcdef']) {
  const index = createSessionIndex({ store, keyPrefix: prefix, secrets, idleTimeoutMs: IDLE, now })
  const sessions = createSessions({ store, keyPrefix: prefix, index, now })
  return { index, sessions }
}

/** Creates `count` sessions, `batch` at a time. */
async function createMany (sessions: ReturnType<typeof setup>['sessions'], count: number, make: (i: number) => SessionRecord, ttlMs: number): Promise<void> {
  for (let i = 0; i < count; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, count - i) }, (_, j) => sessions.create(make(i + j), ttlMs, { client: '192.0.2.1', userAgent: 'test' })))
  }
}

t.test('index: a session is found by email (any case), by reference and in the list of all, with what the listing shows', async (t) => {
  let now = 1_700_000_000_000
  const store = createMemoryStore({ now: () => now })
  t.teardown(() => store.close())
  const { index, sessions } = setup(store, () => now)
  const ticket = await sessions.create(record(now, 3_600_000), IDLE, { client: '198.51.100.7', userAgent: 'Firefox/140', providerSid: 'op-session-1' })
  const other = await sessions.create(record(now, 3_600_000, 'grace@example.com', 'subject-2'), IDLE)
  const ref = sessionRef(sessionTag(ticket.sid))
  t.match(ref, /^[0-9a-f]{16}$/)

  now += 10_000
  const found = await index.find({ email: 'ada.lovelace@EXAMPLE.com' })
  t.equal(found.length, 1)
  t.match(found[0], { ref, email: EMAIL, client: '198.51.100.7', userAgent: 'Firefox/140', createdAt: now - 10_000, expiresAt: now - 10_000 + 3_600_000, providerSid: 'op-session-1' })
  t.equal(found[0]!.lastSeenAt, now - 10_000, 'last seen: when the idle timer was last set')
  await sessions.touch(ticket, IDLE)
  t.equal((await index.find({ ref }))[0]?.lastSeenAt, now, 'a touch moves last seen')
  t.same((await index.find({ all: true })).map((s) => s.email).sort(), [EMAIL, 'grace@example.com'])
  t.equal((await index.find({ providerSid: 'op-session-1' })).length, 1)
  t.equal((await index.find({ providerSid: 'op-session-1', sub: 'someone-else' })).length, 0, 'a sid with another sub names nothing')
  t.equal((await index.find({ sub: 'subject-2' }))[0]?.ref, sessionRef(sessionTag(other.sid)))
  t.same(await index.find({ email: 'nobody@example.com' }), [])
  t.same(await index.find({ ref: '0000000000000000' }), [])

  await sessions.destroy(ticket)
  t.same(await index.find({ email: EMAIL }), [], 'a destroyed session leaves the index')
  t.same(await store.indexRange(lookupIndexKey(prefix, 'email', 'x'), 0), [])
})

t.test('index: a session that ended by idle timeout is not listed, and is tidied away', async (t) => {
  let now = 1_700_000_000_000
  const store = createMemoryStore({ now: () => now })
  t.teardown(() => store.close())
  const { index, sessions } = setup(store, () => now)
  await sessions.create(record(now, 3_600_000), IDLE)
  now += IDLE
  t.same(await index.find({ email: EMAIL }), [])
  t.same(await store.indexRange(allSessionsKey(prefix), now), [], 'removed from the index of everything too')
})

t.test('index: after the cookie secrets rotate, sessions indexed under the old secret are still found and removed', async (t) => {
  const now = Date.now()
  const store = createMemoryStore()
  t.teardown(() => store.close())
  const before = setup(store, () => now, ['old-secret-0123456789abcdefghij'])
  const ticket = await before.sessions.create(record(now, 3_600_000), IDLE)
  const after = setup(store, () => now, ['new-secret-0123456789abcdefghij', 'old-secret-0123456789abcdefghij'])
  t.equal((await after.index.find({ email: EMAIL })).length, 1)
  await after.sessions.destroy(ticket)
  t.same(await after.index.find({ email: EMAIL }), [])
  t.same(await after.index.find({ all: true }), [])
  t.equal(indexKeys(['a', 'b']).length, 2)
})

t.test('index: a session that could not be indexed is not kept (a revocation could not find it)', async (t) => {
  const inner = createMemoryStore()
  t.teardown(() => inner.close())
  const store: SessionStore = { ...inner, indexAdd: async () => { throw new Error('store down') } }
  const { sessions } = setup(store, Date.now)
  await t.rejects(sessions.create(record(Date.now(), 3_600_000), IDLE), /store down/)
  t.same(await inner.indexRange(allSessionsKey(prefix), 0), [])
})

t.test('index (memory, frozen clock): 10,000 sessions that expire by themselves leave every index empty', async (t) => {
  let now = 1_700_000_000_000
  const store = createMemoryStore({ now: () => now })
  t.teardown(() => store.close())
  const { index, sessions } = setup(store, () => now)
  await createMany(sessions, 10_000, (i) => record(now, 1000 + (i % 7), `person${i % 100}@example.com`, `sub-${i % 100}`), 1000)
  t.equal((await index.find({ email: 'person5@example.com' })).length, 100)
  now += 1007 + INDEX_GRACE_MS
  // A range at time 0 prunes nothing: an empty answer means the index itself is gone.
  t.same(await store.indexRange(allSessionsKey(prefix), 0), [], 'the index of everything is gone')
  const key = indexKeys(['first-cookie-secret-0123456789abcdef'])[0]!
  t.ok(key.length === 32)
  t.same(await index.find({ all: true }), [])
  t.same(await index.find({ email: 'person5@example.com' }), [])
})

t.test('index (redis): 10,000 sessions that expire by themselves leave an empty store; a dump shows no email, id or token', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const store = createRedisStore({ url: redis.url, sentinel: null, cluster: null, password: null, keyPrefix: prefix, connectTimeoutMs: 2000, commandTimeoutMs: 5000 })
  t.teardown(() => store.close())
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const { index, sessions } = setup(store, Date.now)

  // A few long-lived sessions to dump while they exist.
  const tickets = await Promise.all([0, 1, 2].map(() => sessions.create(record(Date.now(), 3_600_000), IDLE, { client: '198.51.100.7', userAgent: 'Firefox/140', providerSid: 'op-session-recognisable' })))
  await dumpHasNone(t, raw, [EMAIL, EMAIL.toLowerCase(), 'subject-1234567890', 'op-session-recognisable', ...TOKENS, ...tickets.map((x) => x.sid)])
  for (const ticket of tickets) await sessions.destroy(ticket)
  t.equal(await raw.dbsize(), 0, 'destroying the sessions leaves nothing behind')

  const lifetime = 25_000
  const started = Date.now()
  // Each session lives `lifetime` from its own creation, as a signed-in session does.
  await createMany(sessions, 10_000, (i) => record(Date.now(), lifetime, `person${i % 100}@example.com`, `sub-${i % 100}`), lifetime)
  const last = Date.now()
  t.ok(last - started < lifetime, 'all were created before the first expired')
  t.equal(await raw.zcard(allSessionsKey(prefix)), 10_000)
  t.equal((await index.find({ email: 'person7@example.com' })).length, 100)
  const left = last + lifetime + INDEX_GRACE_MS + 500 - Date.now()
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, left)))
  // Redis expires keys lazily and in a background sweep: give the sweep a bounded moment.
  for (let i = 0; i < 50 && await raw.dbsize() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(await raw.exists(allSessionsKey(prefix)), 0, 'the index of everything expired by itself')
  const leftover = await raw.keys('*')
  t.same(leftover.length, 0, `no key of any session or index is left (${leftover.slice(0, 3).join(' ')})`)
})

/** Scans every key and value (strings and sorted-set members) for any of `secrets`. */
async function dumpHasNone (t: Test, raw: Redis, secrets: readonly string[]): Promise<void> {
  const keys = await raw.keys('*')
  t.ok(keys.length > 0, 'the store holds sessions')
  const texts: string[] = []
  for (const key of keys) {
    texts.push(key)
    const type = await raw.type(key)
    if (type === 'string') texts.push((await raw.getBuffer(key))!.toString('latin1'))
    else if (type === 'zset') texts.push(...await raw.zrange(key, '0', '-1'))
    else t.fail(`unexpected ${type} at ${key}`)
  }
  const all = texts.join('\n')
  for (const secret of secrets) t.notOk(all.includes(secret), `the dump does not contain ${secret.slice(0, 12)}…`)
}
