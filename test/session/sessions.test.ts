import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import type { Test } from 'tap'
import { seal } from '../../src/session/crypto.js'
import { sessionKeys } from '../../src/session/keys.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { createRedisStore } from '../../src/session/redis-store.js'
import { createSessions } from '../../src/session/sessions.js'
import type { SessionStore } from '../../src/session/store.js'
import { createTicketCodec, newTicket } from '../../src/session/ticket.js'
import type { SessionRecord } from '../../src/domain/types.js'
import { startRedis } from '../helpers/redis.js'
import { testIdentity, testRecord } from '../fixtures/session.js'

const NOW = 1_700_000_000_000
const prefix = 'portcullis:'

function record (overrides: Partial<SessionRecord> = {}): SessionRecord {
  return testRecord(NOW, {
    identity: testIdentity({ sub: 'subject-1234567890', email: 'ada.lovelace@example.com', name: 'Ada', preferredUsername: 'ada', groups: ['engineers'], hd: 'example.com' }),
    expiresAt: NOW + 7 * 86_400_000,
    ...overrides
  }, { accessToken: 'ACCESS-TOKEN-recognisable-0001', refreshToken: 'REFRESH-TOKEN-recognisable-0002', idToken: 'ID-TOKEN-recognisable-0003' })
}

function setup (t: Test, store: SessionStore = createMemoryStore()) {
  let now = NOW
  t.teardown(() => store.close())
  const sessions = createSessions({ store, keyPrefix: prefix, now: () => now })
  return { store, sessions, setNow: (ms: number) => { now = ms } }
}

t.test('sessions: create stores the record under a new ticket and load returns it', async (t) => {
  const { sessions } = setup(t)
  const ticket = await sessions.create(record(), 60_000)
  t.same(await sessions.load(ticket), record())
})

t.test('sessions: create draws a new id every time, never reusing one', async (t) => {
  const { sessions } = setup(t)
  const a = await sessions.create(record(), 60_000)
  const b = await sessions.create(record(), 60_000)
  t.not(a.sid, b.sid)
  t.not(a.key.toString('hex'), b.key.toString('hex'))
})

t.test('sessions: create never overwrites an existing session, even when an id collides', async (t) => {
  const inner = createMemoryStore()
  const refused: string[] = []
  // A store that reports the first key as taken, as if the random id had collided.
  const store: SessionStore = {
    ...inner,
    setIfAbsent: async (key, value, ttl) => {
      if (refused.length === 0) {
        refused.push(key)
        return false
      }
      return await inner.setIfAbsent(key, value, ttl)
    }
  }
  const { sessions } = setup(t, store)
  const ticket = await sessions.create(record(), 60_000)
  t.equal(refused.length, 1)
  t.not(sessions.keys(ticket).session, refused[0], 'the ticket returned is not the colliding one')
  t.same(await sessions.load(ticket), record())
})

t.test('sessions: load is null for a missing session, a wrong key, or a record moved to another id', async (t) => {
  const { sessions, store } = setup(t)
  const ticket = await sessions.create(record(), 60_000)
  t.equal(await sessions.load(newTicket()), null, 'missing')
  t.equal(await sessions.load({ sid: ticket.sid, key: randomBytes(32) }), null, 'wrong key')
  // Copy the sealed bytes under another session id whose ticket carries the same key.
  const other = { sid: newTicket().sid, key: ticket.key }
  await store.set(sessions.keys(other).session, (await store.get(sessions.keys(ticket).session))!, 60_000)
  t.equal(await sessions.load(other), null, 'the AAD binds the record to its own key')
})

t.test('sessions: load is null for bytes that are not a sealed, well-formed record', async (t) => {
  const { sessions, store } = setup(t)
  const ticket = newTicket()
  const key = sessions.keys(ticket).session
  await store.set(key, randomBytes(80), 60_000)
  t.equal(await sessions.load(ticket), null, 'random bytes')
  await store.set(key, seal(ticket.key, key, Buffer.from('{not json')), 60_000)
  t.equal(await sessions.load(ticket), null, 'sealed, but not JSON')
  await store.set(key, seal(ticket.key, key, Buffer.from('{"v":2}')), 60_000)
  t.equal(await sessions.load(ticket), null, 'sealed JSON of another shape')
  await store.set(key, seal(ticket.key, key, Buffer.from('null')), 60_000)
  t.equal(await sessions.load(ticket), null, 'sealed null')
})

t.test('sessions: load is null once the absolute lifetime is over, whatever the store TTL', async (t) => {
  const { sessions, setNow } = setup(t)
  const ticket = await sessions.create(record({ expiresAt: NOW + 1000 }), 60_000)
  setNow(NOW + 999)
  t.not(await sessions.load(ticket), null)
  setNow(NOW + 1000)
  t.equal(await sessions.load(ticket), null)
})

t.test('sessions: save overwrites; destroy deletes; touch extends and is false for a gone session', async (t) => {
  const { sessions, store } = setup(t)
  const ticket = await sessions.create(record(), 1000)
  await sessions.save(ticket, record({ generation: 1 }), 1000)
  t.equal((await sessions.load(ticket))?.generation, 1)
  t.equal(await sessions.touch(ticket, 50_000), true)
  t.ok(await store.ttl(sessions.keys(ticket).session) > 40_000, 'the new TTL applies')
  await sessions.destroy(ticket)
  t.equal(await sessions.load(ticket), null)
  t.equal(await sessions.touch(ticket, 50_000), false)
  await sessions.destroy(ticket)
})

t.test('sessions: saveFenced writes only while the token holds the session lock', async (t) => {
  const { sessions, store } = setup(t)
  const ticket = await sessions.create(record(), 60_000)
  const { lock } = sessions.keys(ticket)
  const token = await store.acquireLock(lock, 10_000)
  t.equal(await sessions.saveFenced(ticket, record({ generation: 1 }), 60_000, token!), true)
  t.equal((await sessions.load(ticket))?.generation, 1)
  await store.releaseLock(lock, token!)
  const next = await store.acquireLock(lock, 10_000)
  t.equal(await sessions.saveFenced(ticket, record({ generation: 2 }), 60_000, token!), false, 'a stale token is refused')
  t.equal((await sessions.load(ticket))?.generation, 1, 'and wrote nothing')
  t.equal(await sessions.saveFenced(ticket, record({ generation: 2 }), 60_000, next!), true)
  t.equal((await sessions.load(ticket))?.generation, 2)
})

t.test('sessions: keys(ticket) are the sessionKeys of its sid under the prefix', async (t) => {
  const { sessions } = setup(t)
  const ticket = newTicket()
  t.same(sessions.keys(ticket), sessionKeys(prefix, ticket.sid))
})

t.test('sessions: a dump of Redis reveals no email, token, sid or session key', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const store = createRedisStore({
    url: redis.url, keyPrefix: prefix, sentinel: null, cluster: null, password: null, connectTimeoutMs: 1000, commandTimeoutMs: 1000
  })
  const { sessions } = setup(t, store)
  const r = record()
  const ticket = await sessions.create(r, 60_000)
  // Exercise the refresh path as well, so the lock and its fence key are in the dump too.
  const token = await store.acquireLock(sessions.keys(ticket).lock, 10_000)
  t.equal(await sessions.saveFenced(ticket, record({ generation: 1 }), 60_000, token!), true)
  const cookie = createTicketCodec(['s'.repeat(32)]).encode(ticket)

  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const names = await raw.keys('*')
  t.equal(names.length, 3, 'session, lock and fence')
  const dump: Buffer[] = []
  for (const name of names) {
    dump.push(Buffer.from(name))
    dump.push((await raw.getBuffer(name))!)
  }
  const everything = Buffer.concat(dump)
  t.equal(everything.includes(Buffer.from(`${prefix}{`)), true, 'the search does find what is in the dump (key names)')
  const sidBytes = Buffer.from(ticket.sid, 'base64url')
  const secrets: Record<string, Buffer> = {
    email: Buffer.from(r.identity.email),
    'email local part': Buffer.from('ada.lovelace'),
    'access token': Buffer.from(r.tokens.accessToken),
    'refresh token': Buffer.from(r.tokens.refreshToken!),
    'id token': Buffer.from(r.tokens.idToken!),
    subject: Buffer.from(r.identity.sub),
    'sid (base64url)': Buffer.from(ticket.sid),
    'sid (raw bytes)': sidBytes,
    'sid (hex)': Buffer.from(sidBytes.toString('hex')),
    'sid (base64)': Buffer.from(sidBytes.toString('base64').replace(/=+$/, '')),
    'session key (raw bytes)': ticket.key,
    'session key (base64url)': Buffer.from(ticket.key.toString('base64url')),
    'session key (hex)': Buffer.from(ticket.key.toString('hex')),
    cookie: Buffer.from(cookie)
  }
  for (const [what, bytes] of Object.entries(secrets)) t.equal(everything.includes(bytes), false, `no ${what} in the dump`)
  // The check above must be able to fail: the record really is in there, just sealed.
  t.same(await sessions.load(ticket), record({ generation: 1 }))
})
