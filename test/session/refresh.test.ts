import t from 'tap'
import type { RefreshOutcome as FlowOutcome } from '../../src/oidc/flows.js'
import { createLogger } from '../../src/observability/logger.js'
import { createSessionEvents } from '../../src/session/events.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { createRefresher, type RefreshReport } from '../../src/session/refresh.js'
import { createSessions } from '../../src/session/sessions.js'
import type { SessionStore } from '../../src/session/store.js'
import type { SessionRecord, Tokens } from '../../src/domain/types.js'
import { createTestClock } from '../helpers/clock.js'
import { testRecord } from '../fixtures/session.js'

/*
 * The coordination rules that the end-to-end tests cannot force on a real provider: a holder that
 * lost its lock, a holder's failure seen by a waiter in another "process" (a second refresher on
 * the same store with its own event bus), the retry pause, the absolute lifetime, the reports.
 * The provider is a scripted `refresh` whose answer the test releases when it wants.
 */
const minute = 60_000
const clock = createTestClock()
const logger = createLogger({ level: 'silent', format: 'json' })

function record (overrides: Partial<SessionRecord> = {}, tokens: Partial<Tokens> = {}): SessionRecord {
  const t0 = clock.now()
  return testRecord(t0, { expiresAt: t0 + 60 * minute, ...overrides }, { accessToken: 'at-0', refreshToken: 'rt-0', accessTokenExpiresAt: t0 + 30_000, ...tokens })
}

/** A provider call that stays pending until the test answers it. */
function scripted () {
  const calls: Array<(outcome: FlowOutcome) => void> = []
  let waiting: (() => void) | null = null
  return {
    calls,
    flows: {
      refresh: () => new Promise<FlowOutcome>((resolve) => { calls.push(resolve); waiting?.() })
    },
    /** Resolves once the provider has been called `n` times. */
    async called (n: number) { while (calls.length < n) await new Promise<void>((resolve) => { waiting = resolve }) }
  }
}

const ok = (n: number): FlowOutcome => ({ ok: true, identity: record().identity, tokens: { accessToken: `at-${n}`, refreshToken: 'rt-0', idToken: null, accessTokenExpiresAt: clock.now() + 60 * minute } })
const transient: FlowOutcome = { ok: false, failure: { kind: 'transient', reason: 'network', cause: null } }

function replica (store: SessionStore, flows: { refresh: () => Promise<FlowOutcome> }, extra: { leaseMs?: number } = {}) {
  const sessions = createSessions({ store, keyPrefix: 't:', now: clock.now })
  const events = createSessionEvents(store, 't:events')
  const reports: RefreshReport[] = []
  const refresher = createRefresher({ store, sessions, events, flows, logger, refreshBeforeExpiryMs: minute, idleTimeoutMs: 24 * 60 * minute, now: clock.now, onRefresh: (r) => reports.push(r), ...extra })
  return { sessions, events, refresher, reports }
}

/**
 * Two replicas on one store: `ra` holds the refresh (its provider call is pending in `a.calls[0]`)
 * and `rb` waits for it. The test answers the call and checks both results.
 */
async function holderAndWaiter () {
  const store = createMemoryStore()
  const a = scripted()
  const b = scripted()
  const ra = replica(store, a.flows)
  const rb = replica(store, b.flows)
  await Promise.all([ra.events.start(), rb.events.start()])
  const ticket = await ra.sessions.create(record(), minute)
  const first = ra.refresher.ensureFresh(ticket, record())
  await a.called(1)
  const second = rb.refresher.ensureFresh(ticket, record())
  await new Promise((resolve) => setTimeout(resolve, 20))
  return { a, b, ra, rb, ticket, first, second, store }
}

t.beforeEach(() => clock.reset())

t.test('refresh: a waiter in another process takes the holder\'s result without calling the provider', async (t) => {
  const { a, b, ra, rb, first, second } = await holderAndWaiter()
  a.calls[0]!(ok(1))
  const [x, y] = await Promise.all([first, second])
  t.match(x, { status: 'refreshed', here: true, record: { generation: 1, tokens: { accessToken: 'at-1' } } })
  t.match(y, { status: 'refreshed', here: false, record: { generation: 1, tokens: { accessToken: 'at-1' } } })
  t.equal(b.calls.length, 0, 'the waiter never called the provider')
  t.match(ra.reports, [{ outcome: 'refreshed', grantSent: true, trigger: 'expiry', requests: 1 }])
  t.match(rb.reports, [{ outcome: 'joined', grantSent: false, providerMs: null }])
})

t.test('refresh: a holder\'s transient failure is reported to its waiters; they do not call the provider again', async (t) => {
  const { a, b, rb, first, second } = await holderAndWaiter()
  a.calls[0]!(transient)
  const [x, y] = await Promise.all([first, second])
  t.match(x, { status: 'unavailable', usable: true, reason: 'network' })
  t.match(y, { status: 'unavailable', usable: true, reason: 'holder_failed' })
  t.equal(b.calls.length, 0)
  t.match(rb.reports, [{ outcome: 'transient', reason: 'holder_failed' }])
})

t.test('refresh: after a transient failure a still-valid token is served without a new attempt; an expired one tries again', async (t) => {
  const store = createMemoryStore()
  const a = scripted()
  const ra = replica(store, a.flows)
  await ra.events.start()
  const ticket = await ra.sessions.create(record(), minute)
  const failing = ra.refresher.ensureFresh(ticket, record())
  await a.called(1)
  a.calls[0]!(transient)
  t.match(await failing, { status: 'unavailable', usable: true })
  t.match(await ra.refresher.ensureFresh(ticket, record()), { status: 'fresh' }, 'within the pause: served, no call')
  t.equal(a.calls.length, 1)
  clock.advance(31_000) // the token has expired: the pause no longer applies
  const retry = ra.refresher.ensureFresh(ticket, record())
  await a.called(2)
  a.calls[1]!(ok(2))
  t.match(await retry, { status: 'refreshed', here: true })
})

t.test('refresh: a holder that lost its lock never overwrites the session', async (t) => {
  const store = createMemoryStore()
  const a = scripted()
  // A lease too long to be renewed during the test: the loss is caused by hand below.
  const ra = replica(store, a.flows, { leaseMs: 60_000 })
  await ra.events.start()
  const ticket = await ra.sessions.create(record(), minute)
  const { lock } = ra.sessions.keys(ticket)
  const pending = ra.refresher.ensureFresh(ticket, record())
  await a.called(1)
  // The lease ran out (a store outage) and another process took the lock.
  await store.delete(lock)
  t.not(await store.acquireLock(lock, 60_000), null)
  a.calls[0]!(ok(1))
  t.match(await pending, { status: 'unavailable', reason: 'lock_lost' })
  t.match(await ra.sessions.load(ticket), { generation: 0, tokens: { accessToken: 'at-0' } }, 'the stored session is untouched')
  t.match(ra.reports, [{ outcome: 'lock_lost', grantSent: true }])
})

t.test('refresh: the refreshed session keeps its absolute lifetime', async (t) => {
  const store = createMemoryStore()
  const a = scripted()
  const ra = replica(store, a.flows)
  await ra.events.start()
  const short = record({ expiresAt: clock.now() + 10 * minute })
  const ticket = await ra.sessions.create(short, 10 * minute)
  const pending = ra.refresher.ensureFresh(ticket, short)
  await a.called(1)
  a.calls[0]!(ok(1))
  const result = await pending
  t.match(result, { status: 'refreshed', record: { expiresAt: short.expiresAt } })
  const ttl = await store.ttl(ra.sessions.keys(ticket).session)
  t.ok(ttl > 0 && ttl <= 10 * minute, `the store TTL (${ttl} ms) does not reach past the lifetime`)
})

t.test('refresh: a dead grant ends the session and its waiters see it ended', async (t) => {
  const { a, b, ra, ticket, first, second } = await holderAndWaiter()
  a.calls[0]!({ ok: false, failure: { kind: 'terminal', reason: 'invalid_grant', cause: null } })
  t.match(await first, { status: 'ended', reason: 'invalid_grant' })
  t.match(await second, { status: 'ended' })
  t.equal(await ra.sessions.load(ticket), null, 'deleted from the store')
  t.equal(b.calls.length, 0)
})

t.test('refresh: upstream rejections share one refresh per generation', async (t) => {
  const store = createMemoryStore()
  const a = scripted()
  const ra = replica(store, a.flows)
  await ra.events.start()
  const valid = record({}, { accessTokenExpiresAt: clock.now() + 60 * minute })
  const ticket = await ra.sessions.create(valid, minute)
  const x = ra.refresher.refreshRejected(ticket, valid)
  const y = ra.refresher.refreshRejected(ticket, valid)
  await a.called(1)
  a.calls[0]!(ok(1))
  t.match(await Promise.all([x, y]), [{ status: 'refreshed', record: { generation: 1 } }, { status: 'refreshed', record: { generation: 1 } }])
  t.match(await ra.refresher.refreshRejected(ticket, valid), { status: 'refreshed', here: false, record: { generation: 1 } }, 'a late rejection of the old token finds the new session')
  t.equal(a.calls.length, 1)
  t.match(ra.reports, [{ trigger: 'upstream_401', outcome: 'refreshed', requests: 2 }, { trigger: 'upstream_401', outcome: 'joined' }])
})

t.test('refresh: a revocation while a refresh is in flight ends it for the holder and the waiting replica; nothing is written back', async (t) => {
  const { a, ra, rb, ticket, first, second, store } = await holderAndWaiter()
  // What a revocation does (session/revoke.ts): the session and its lock are deleted, `ended` is announced.
  const keys = ra.sessions.keys(ticket)
  await store.delete(keys.session)
  await store.delete(keys.lock)
  await rb.events.publish('ended', keys.session)
  t.match(await second, { status: 'ended' }, 'the waiting replica sees the session ended')
  a.calls[0]!(ok(1))
  t.match(await first, { status: 'ended' }, 'the holder\'s fenced save is refused and it reports the session ended')
  t.equal(await ra.sessions.load(ticket), null, 'the refreshed session was not written back')
})
