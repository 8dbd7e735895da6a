import t from 'tap'
import { gatewayError, isGatewayError } from '../../src/errors.js'
import { createStoreBreaker, type BreakerState } from '../../src/session/breaker.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import type { SessionStore } from '../../src/session/store.js'
import { wrapStore } from '../../src/session/wrap-store.js'

/** A memory store that can be made to fail every call as an unreachable store does, counting the calls that reach it. */
function faultyStore (): { store: SessionStore, calls: () => number, down: (yes: boolean) => void } {
  let failing = false
  let calls = 0
  const store = wrapStore(createMemoryStore(), async (operation, call) => {
    calls++
    if (failing) throw gatewayError('PCS_STORE_UNAVAILABLE', { details: { operation } })
    return await call()
  })
  return { store, calls: () => calls, down: (yes) => { failing = yes } }
}

async function until (check: () => boolean, ms = 3000): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > ms) throw new Error('condition not reached')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('breaker: opens after `failures` store failures in a row, refuses without reaching the store, and a probe closes it', async (t) => {
  const backend = faultyStore()
  const changes: BreakerState[] = []
  const breaker = createStoreBreaker(backend.store, { failures: 3, probeIntervalMs: 20, watchIntervalMs: 60_000, onChange: (s) => changes.push(s) })
  t.teardown(() => breaker.store.close())
  await breaker.store.set('k', Buffer.from('v'), 60_000)
  backend.down(true)
  for (let i = 0; i < 2; i++) await t.rejects(breaker.store.get('k'), { code: 'PCS_STORE_UNAVAILABLE' })
  t.equal(breaker.state(), 'closed', 'two failures are not enough')
  await t.rejects(breaker.store.get('k'), { code: 'PCS_STORE_UNAVAILABLE' })
  t.equal(breaker.state(), 'open')
  t.same(changes, ['open'])

  // Refused at once, without a call to the store; probes are the only calls, one at a time.
  const before = backend.calls()
  const refusals = await Promise.all(Array.from({ length: 100 }, async () => await breaker.store.get('k').then(() => null, (err: unknown) => err)))
  t.ok(refusals.every((err) => isGatewayError(err) && err.code === 'PCS_STORE_UNAVAILABLE' && err.details?.breaker === 'open'))
  t.ok(backend.calls() - before <= 1, `at most one probe ran meanwhile (${backend.calls() - before} calls)`)

  backend.down(false)
  await until(() => breaker.state() === 'closed')
  t.same(changes, ['open', 'closed'])
  t.same(await breaker.store.get('k'), Buffer.from('v'), 'calls reach the store again')
})

t.test('breaker: a success between failures resets the count; errors that are not an outage never count', async (t) => {
  const backend = faultyStore()
  const breaker = createStoreBreaker(backend.store, { failures: 2, watchIntervalMs: 60_000 })
  t.teardown(() => breaker.store.close())
  backend.down(true)
  await t.rejects(breaker.store.get('a'))
  backend.down(false)
  await breaker.store.get('a')
  backend.down(true)
  await t.rejects(breaker.store.get('a'))
  t.equal(breaker.state(), 'closed', 'failures were not in a row')
  backend.down(false)
  for (let i = 0; i < 5; i++) await t.rejects(breaker.store.set('a', Buffer.from('x'), 0), RangeError)
  t.equal(breaker.state(), 'closed', 'a caller bug is not a store outage')
})

t.test('breaker: a closed connection opens it at once; the watch probe notices a silent outage with no traffic', async (t) => {
  const backend = faultyStore()
  const breaker = createStoreBreaker(backend.store, { failures: 2, probeIntervalMs: 10, watchIntervalMs: 20 })
  t.teardown(() => breaker.store.close())
  breaker.connection(false)
  t.equal(breaker.state(), 'open', 'open on the connection closing, before any call failed')
  await until(() => breaker.state() === 'closed')
  t.pass('closed by a probe while the store answers')
  backend.down(true)
  await until(() => breaker.state() === 'open')
  t.pass('opened by failed watch probes alone')
})
