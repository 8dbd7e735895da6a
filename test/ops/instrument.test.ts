import t from 'tap'
import { instrumentStore } from '../../src/ops/instrument.js'
import { createMemoryStore } from '../../src/session/memory-store.js'

t.test('instrumented store: behaves like the store, times every operation and counts failures', async (t) => {
  const calls: Array<[string, boolean]> = []
  const store = instrumentStore(createMemoryStore(), { store: (operation, durationMs, failed) => { t.ok(durationMs >= 0); calls.push([operation, failed]) } })
  await store.set('k', Buffer.from('v'), 10_000)
  t.equal((await store.get('k'))?.toString(), 'v')
  const token = await store.acquireLock('{s}:lock', 5000)
  t.type(token, 'number')
  t.equal(await store.acquireLock('{s}:lock', 5000), null, 'the lock semantics pass through')
  t.equal((await store.take('k'))?.toString(), 'v')
  t.equal(await store.get('k'), null)
  t.strictSame(calls, [['set', false], ['get', false], ['acquireLock', false], ['acquireLock', false], ['take', false], ['get', false]])

  await t.rejects(store.set('k', Buffer.from('v'), 0), RangeError, 'errors keep their type')
  await store.close()
  await t.rejects(store.get('k'), { code: 'PCS_STORE_UNAVAILABLE' })
  t.strictSame(calls.at(-1), ['get', true], 'a rejected operation counts as a failure')
})
