import t from 'tap'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { wrapStore, type AroundStore, type StoreOperation } from '../../src/session/wrap-store.js'
import { runStoreContract } from './store-contract.js'

const passThrough: AroundStore = (_operation, call) => call()

// A wrapped store is still a store: every argument reaches the method it was given to.
runStoreContract(t, 'wrapped memory', async () => {
  const store = wrapStore(createMemoryStore(), passThrough)
  return { store, cleanup: () => store.close() }
})

t.test('wrapped store: every operation goes through `around` once, under its own name', async (t) => {
  const seen: StoreOperation[] = []
  const store = wrapStore(createMemoryStore(), (operation, call) => { seen.push(operation); return call() })
  t.teardown(() => store.close())
  const value = Buffer.from('v')
  await store.get('k')
  await store.getWithTtl('k')
  await store.set('k', value, 1000)
  await store.setIfAbsent('k', value, 1000)
  await store.take('k')
  await store.delete('k')
  await store.expire('k', 1000)
  await store.ttl('k')
  const token = await store.acquireLock('{s}:lock', 1000)
  await store.renewLock('{s}:lock', token ?? 0, 1000)
  await store.setIfLockHeld('{s}:k', value, 1000, '{s}:lock', token ?? 0)
  await store.releaseLock('{s}:lock', token ?? 0)
  await store.indexAdd('i', 'm', 2000, 1000)
  await store.indexRange('i', 1000)
  await store.indexRemove('i', ['m'])
  const unsubscribe = await store.subscribe('c', () => {})
  await store.publish('c', 'm')
  await unsubscribe()
  await store.ping()
  t.strictSame(seen, ['get', 'getWithTtl', 'set', 'setIfAbsent', 'take', 'delete', 'expire', 'ttl', 'acquireLock', 'renewLock',
    'setIfLockHeld', 'releaseLock', 'indexAdd', 'indexRange', 'indexRemove', 'subscribe', 'publish', 'ping'])
})

t.test('wrapped store: `around` may refuse a call before it reaches the store', async (t) => {
  const inner = createMemoryStore()
  t.teardown(() => inner.close())
  const store = wrapStore(inner, async (operation, call) => {
    if (operation === 'set') throw new Error('refused')
    return call()
  })
  await t.rejects(store.set('k', Buffer.from('v'), 1000), { message: 'refused' })
  t.equal(await inner.get('k'), null, 'the refused write never reached the store')
})

t.test('wrapped store: close closes the store, or does what the wrapper gives instead', async (t) => {
  const closedByDefault = createMemoryStore()
  await wrapStore(closedByDefault, passThrough).close()
  await t.rejects(closedByDefault.get('k'), { code: 'PCS_STORE_UNAVAILABLE' })

  const kept = createMemoryStore()
  t.teardown(() => kept.close())
  let closes = 0
  await wrapStore(kept, passThrough, async () => { closes++ }).close()
  t.equal(closes, 1)
  t.equal(await kept.get('k'), null, 'the store given its own close stays open')
})
