import t from 'tap'
import { createPendingSignIns } from '../../src/limits/pending-sign-ins.js'

t.test('pending sign-ins: past per_client the client\'s oldest record is dropped', async t => {
  const pending = createPendingSignIns({ perClient: 2, total: 100, ttlMs: 60_000, now: () => 0 })
  t.same(pending.started('a', 'k1'), [])
  t.same(pending.started('a', 'k2'), [])
  t.same(pending.started('b', 'k3'), [])
  t.same(pending.started('a', 'k4'), ['k1'])
  t.same(pending.started('a', 'k5'), ['k2'])
  t.equal(pending.size(), 3)
})

t.test('pending sign-ins: past total the oldest record of anyone is dropped', async t => {
  const pending = createPendingSignIns({ perClient: 10, total: 3, ttlMs: 60_000, now: () => 0 })
  pending.started('a', 'k1')
  pending.started('b', 'k2')
  pending.started('c', 'k3')
  t.same(pending.started('d', 'k4'), ['k1'])
  t.equal(pending.size(), 3)
  // 'a' has nothing listed any more: its next record drops nothing of its own.
  t.same(pending.started('a', 'k5'), ['k2'])
})

t.test('pending sign-ins: finished and expired records are forgotten; memory stays bounded under a flood', async t => {
  let now = 0
  const pending = createPendingSignIns({ perClient: 5, total: 1000, ttlMs: 1000, now: () => now })
  pending.started('a', 'k1')
  pending.finished('k1')
  t.equal(pending.size(), 0)
  pending.started('a', 'k2')
  now = 1000
  pending.started('b', 'k3')
  t.equal(pending.size(), 1, 'the expired record was dropped from the list')
  let dropped = 0
  for (let i = 0; i < 20_000; i++) dropped += pending.started(`c${i % 3000}`, `f${i}`).length
  t.equal(pending.size(), 1000)
  t.equal(dropped, 20_000 + 1 - 1000)
})
