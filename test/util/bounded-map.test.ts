import t from 'tap'
import { BoundedMap } from '../../src/util/bounded-map.js'

t.test('bounded map: holds at most max entries and drops the oldest first', async (t) => {
  const map = new BoundedMap<string, number>(3)
  for (const [i, key] of ['a', 'b', 'c', 'd', 'e'].entries()) map.set(key, i)
  t.equal(map.size, 3)
  t.strictSame([...map.keys()], ['c', 'd', 'e'])
  t.equal(map.get('a'), undefined)
  t.equal(map.get('e'), 4)
})

t.test('bounded map: set makes an entry the newest, so a re-set on a hit keeps it (least recently used)', async (t) => {
  const map = new BoundedMap<string, number>(2)
  map.set('a', 1).set('b', 2)
  map.set('a', 10)
  map.set('c', 3)
  t.strictSame([...map.entries()], [['a', 10], ['c', 3]], 'b, the least recently set, went first')
})

t.test('bounded map: onEvict hears every dropped entry, and only those', async (t) => {
  const evicted: Array<[string, number]> = []
  const map = new BoundedMap<string, number>(2, (key, value) => { evicted.push([key, value]) })
  map.set('a', 1).set('b', 2).set('b', 3).set('c', 4)
  map.delete('b')
  map.set('d', 5)
  t.strictSame(evicted, [['a', 1]], 'a delete or a re-set is not an eviction; the size never passed 2 afterwards')
  map.set('e', 6)
  t.strictSame(evicted, [['a', 1], ['c', 4]])
})

t.test('bounded map: a flood of distinct keys stays within the bound', async (t) => {
  const map = new BoundedMap<number, number>(1000)
  for (let i = 0; i < 100_000; i++) map.set(i, i)
  t.equal(map.size, 1000)
  t.equal(map.get(99_000), 99_000)
  t.equal(map.get(98_999), undefined)
})

t.test('bounded map: refuses a bound that is not a positive integer', async (t) => {
  for (const max of [0, -1, 1.5, Number.NaN]) t.throws(() => new BoundedMap(max), RangeError, String(max))
})
