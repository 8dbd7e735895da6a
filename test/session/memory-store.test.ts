import t from 'tap'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { runStoreContract } from './store-contract.js'

runStoreContract(t, 'memory', async () => {
  const store = createMemoryStore()
  return { store, cleanup: () => store.close() }
})

t.test('memory: expiry follows the injected clock, without waiting', async (t) => {
  let now = 1_000_000
  const store = createMemoryStore({ now: () => now })
  t.teardown(() => store.close())
  await store.set('a', Buffer.from('x'), 1000)
  now += 999
  t.equal(await store.ttl('a'), 1)
  t.equal((await store.get('a'))?.toString(), 'x')
  now += 1
  t.equal(await store.get('a'), null)
  const token = await store.acquireLock('lock', 500)
  now += 500
  t.equal(await store.renewLock('lock', token!, 500), false, 'a lease ends on the clock too')
})

t.test('memory: the sweep removes expired entries nobody reads', async (t) => {
  let now = 0
  const store = createMemoryStore({ now: () => now, sweepIntervalMs: 10 })
  t.teardown(() => store.close())
  await store.set('a', Buffer.from('x'), 100)
  await store.set('b', Buffer.from('y'), 10_000)
  now = 200
  await new Promise((resolve) => setTimeout(resolve, 50))
  // Moving the clock back shows whether the entry was removed or only hidden by the read check.
  now = 0
  t.equal(await store.get('a'), null)
  t.equal((await store.get('b'))?.toString(), 'y')
})
