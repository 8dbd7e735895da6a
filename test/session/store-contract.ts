import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { INDEX_GRACE_MS, type SessionStore } from '../../src/session/store.js'

/*
 * The behaviour every SessionStore must have, run against each implementation. Each subtest
 * gets a fresh store and its own key prefix, so the tests neither see nor disturb each other.
 * Lock keys carry a hash tag, as `sessionKeys` gives them: in Redis Cluster a lock, its fence
 * counter and the key it guards must share a hash slot.
 */

export type MakeStore = () => Promise<{ store: SessionStore, cleanup: () => Promise<void> }>

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves with the messages received once `count` have arrived, or with what came after `ms`. */
function collect (count: number, ms: number): { handler: (m: string) => void, done: Promise<string[]> } {
  const got: string[] = []
  let finish: () => void = () => {}
  const done = new Promise<string[]>((resolve) => {
    const timer = setTimeout(() => resolve(got), ms)
    finish = () => { clearTimeout(timer); resolve(got) }
  })
  return { handler: (m) => { got.push(m); if (got.length >= count) finish() }, done }
}

/** Registers the store contract as subtests of `t`, named `<name>: <rule>`. */
export function runStoreContract (t: Test, name: string, makeStore: MakeStore): void {
  function test (rule: string, body: (store: SessionStore, k: (suffix: string) => string, t: Test) => Promise<void>): void {
    t.test(`${name}: ${rule}`, async (t) => {
      const { store, cleanup } = await makeStore()
      t.teardown(cleanup)
      const prefix = `contract:${randomBytes(6).toString('hex')}:`
      await body(store, (suffix) => prefix + suffix, t)
    })
  }

  test('get returns exactly the bytes set, and null for a missing key', async (store, k, t) => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    await store.set(k('a'), every, 10_000)
    t.same(await store.get(k('a')), every)
    t.equal(await store.get(k('missing')), null)
  })

  test('getWithTtl returns the value and its remaining time to live, and null for a missing key', async (store, k, t) => {
    await store.set(k('a'), Buffer.from('value'), 10_000)
    const entry = await store.getWithTtl(k('a'))
    t.equal(entry?.value.toString(), 'value')
    t.ok(entry !== null && entry.ttlMs > 9_000 && entry.ttlMs <= 10_000, `ttl ${entry?.ttlMs} is within (9000, 10000]`)
    t.equal(await store.getWithTtl(k('missing')), null)
    await store.set(k('short'), Buffer.from('x'), 60)
    await sleep(150)
    t.equal(await store.getWithTtl(k('short')), null)
  })

  test('set overwrites and a caller changing its buffer afterwards does not change the stored value', async (store, k, t) => {
    const value = Buffer.from('first')
    await store.set(k('a'), value, 10_000)
    value.write('XXXXX')
    t.equal((await store.get(k('a')))?.toString(), 'first')
    await store.set(k('a'), Buffer.from('second'), 10_000)
    t.equal((await store.get(k('a')))?.toString(), 'second')
  })

  test('a value is gone once its time to live has passed', async (store, k, t) => {
    await store.set(k('short'), Buffer.from('x'), 60)
    await store.set(k('long'), Buffer.from('y'), 10_000)
    t.equal((await store.get(k('short')))?.toString(), 'x')
    await sleep(150)
    t.equal(await store.get(k('short')), null)
    t.equal(await store.ttl(k('short')), -1)
    t.equal((await store.get(k('long')))?.toString(), 'y')
  })

  test('a time to live that is not positive is refused with a RangeError', async (store, k, t) => {
    await t.rejects(store.set(k('a'), Buffer.from('x'), 0), RangeError)
    await t.rejects(store.set(k('a'), Buffer.from('x'), -5), RangeError)
    await t.rejects(store.setIfAbsent(k('a'), Buffer.from('x'), Number.NaN), RangeError)
    await t.rejects(store.acquireLock(k('{l}:lock'), 0), RangeError)
    t.equal(await store.get(k('a')), null)
  })

  test('ttl reports the remaining milliseconds, and -1 for a missing key', async (store, k, t) => {
    await store.set(k('a'), Buffer.from('x'), 5000)
    const left = await store.ttl(k('a'))
    t.ok(left > 4000 && left <= 5000, `ttl ${left} within (4000, 5000]`)
    t.equal(await store.ttl(k('missing')), -1)
  })

  test('setIfAbsent stores only when the key is free (again after expiry)', async (store, k, t) => {
    t.equal(await store.setIfAbsent(k('a'), Buffer.from('one'), 80), true)
    t.equal(await store.setIfAbsent(k('a'), Buffer.from('two'), 10_000), false)
    t.equal((await store.get(k('a')))?.toString(), 'one')
    await sleep(150)
    t.equal(await store.setIfAbsent(k('a'), Buffer.from('three'), 10_000), true)
    t.equal((await store.get(k('a')))?.toString(), 'three')
  })

  test('take returns the value once and deletes it', async (store, k, t) => {
    await store.set(k('a'), Buffer.from('once'), 10_000)
    t.equal((await store.take(k('a')))?.toString(), 'once')
    t.equal(await store.take(k('a')), null)
    t.equal(await store.get(k('a')), null)
  })

  test('take is single use under concurrency: 20 parallel takes, exactly one gets the value', async (store, k, t) => {
    await store.set(k('a'), Buffer.from('prize'), 10_000)
    const results = await Promise.all(Array.from({ length: 20 }, () => store.take(k('a'))))
    const winners = results.filter((r) => r !== null)
    t.equal(winners.length, 1)
    t.equal(winners[0]?.toString(), 'prize')
  })

  test('delete removes a key and a missing key is not an error', async (store, k, t) => {
    await store.set(k('a'), Buffer.from('x'), 10_000)
    await store.delete(k('a'))
    t.equal(await store.get(k('a')), null)
    await store.delete(k('never'))
    t.equal(await store.get(k('never')), null)
  })

  test('expire sets a new time to live and is false for a missing key', async (store, k, t) => {
    await store.set(k('a'), Buffer.from('x'), 100)
    t.equal(await store.expire(k('a'), 10_000), true)
    const left = await store.ttl(k('a'))
    t.ok(left > 9000, `ttl ${left} extended`)
    await sleep(150)
    t.equal((await store.get(k('a')))?.toString(), 'x')
    t.equal(await store.expire(k('a'), 50), true)
    await sleep(120)
    t.equal(await store.get(k('a')), null)
    t.equal(await store.expire(k('a'), 10_000), false)
  })

  test('locks are exclusive: 20 parallel acquires, exactly one gets a token', async (store, k, t) => {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => store.acquireLock(k('{l}:lock'), 10_000)))
    const won = tokens.filter((x) => x !== null)
    t.equal(won.length, 1)
    t.ok(Number.isSafeInteger(won[0]) && won[0]! > 0, 'the token is a positive safe integer')
  })

  test('fencing tokens strictly increase across release, expiry and re-acquire', async (store, k, t) => {
    const seen: number[] = []
    for (let i = 0; i < 5; i++) {
      const token = await store.acquireLock(k('{l}:lock'), 10_000)
      t.not(token, null)
      seen.push(token!)
      await store.releaseLock(k('{l}:lock'), token!)
    }
    const short = await store.acquireLock(k('{l}:lock'), 60)
    t.not(short, null)
    seen.push(short!)
    await sleep(150)
    const after = await store.acquireLock(k('{l}:lock'), 10_000)
    t.not(after, null, 'an expired lease frees the lock')
    seen.push(after!)
    for (let i = 1; i < seen.length; i++) t.ok(seen[i]! > seen[i - 1]!, `token ${i} (${seen[i]}) > token ${i - 1} (${seen[i - 1]})`)
  })

  test('releaseLock frees the lock only for the holder token', async (store, k, t) => {
    const token = await store.acquireLock(k('{l}:lock'), 10_000)
    await store.releaseLock(k('{l}:lock'), token! + 1)
    t.equal(await store.acquireLock(k('{l}:lock'), 10_000), null, 'a wrong token does not release')
    await store.releaseLock(k('{l}:lock'), token!)
    t.not(await store.acquireLock(k('{l}:lock'), 10_000), null, 'the holder releases')
  })

  test('renewLock extends the holder lease and is false once the lock is lost', async (store, k, t) => {
    const token = await store.acquireLock(k('{l}:lock'), 100)
    t.equal(await store.renewLock(k('{l}:lock'), token!, 10_000), true)
    await sleep(200)
    t.equal(await store.acquireLock(k('{l}:lock'), 10_000), null, 'the renewed lease is still held')
    t.equal(await store.renewLock(k('{l}:lock'), token! + 1, 10_000), false, 'a wrong token cannot renew')

    const short = await store.acquireLock(k('{o}:lock'), 60)
    await sleep(150)
    t.equal(await store.renewLock(k('{o}:lock'), short!, 10_000), false, 'renew after expiry is refused')
    const next = await store.acquireLock(k('{o}:lock'), 10_000)
    t.not(next, null)
    t.equal(await store.renewLock(k('{o}:lock'), short!, 10_000), false, 'renew after another took it is refused')
    t.equal(await store.renewLock(k('{o}:lock'), next!, 10_000), true)
  })

  test('setIfLockHeld writes while the token holds the lock and is refused after it was lost', async (store, k, t) => {
    const lock = k('{tag}:lock')
    const key = k('{tag}:session')
    const first = await store.acquireLock(lock, 80)
    t.equal(await store.setIfLockHeld(key, Buffer.from('by-first'), 10_000, lock, first!), true)
    t.equal((await store.get(key))?.toString(), 'by-first')
    t.ok(await store.ttl(key) > 9000, 'written with the given time to live')

    await sleep(150)
    const second = await store.acquireLock(lock, 10_000)
    t.not(second, null)
    t.equal(await store.setIfLockHeld(key, Buffer.from('stale'), 10_000, lock, first!), false)
    t.equal((await store.get(key))?.toString(), 'by-first', 'the stale holder wrote nothing')
    t.equal(await store.setIfLockHeld(key, Buffer.from('by-second'), 10_000, lock, second!), true)
    t.equal((await store.get(key))?.toString(), 'by-second')

    await store.releaseLock(lock, second!)
    t.equal(await store.setIfLockHeld(key, Buffer.from('nobody'), 10_000, lock, second!), false, 'a released lock fences too')
    t.equal((await store.get(key))?.toString(), 'by-second')
  })

  test('indexAdd adds and moves members; indexRange lists live ones lowest score first', async (store, k, t) => {
    const index = k('{ix}:index')
    const now = Date.now()
    await store.indexAdd(index, 'b', now + 20_000, now)
    await store.indexAdd(index, 'a', now + 10_000, now)
    await store.indexAdd(index, 'c', now + 30_000, now)
    t.same(await store.indexRange(index, now), [{ member: 'a', score: now + 10_000 }, { member: 'b', score: now + 20_000 }, { member: 'c', score: now + 30_000 }])
    await store.indexAdd(index, 'a', now + 40_000, now)
    t.same((await store.indexRange(index, now)).map((e) => e.member), ['b', 'c', 'a'], 'adding again moves the member')
    t.same(await store.indexRange(k('{ix}:missing'), now), [], 'a missing index is empty')
  })

  test('indexRange and indexAdd drop members whose score has passed', async (store, k, t) => {
    const index = k('{ix}:index')
    const now = Date.now()
    await store.indexAdd(index, 'old', now + 1000, now)
    await store.indexAdd(index, 'new', now + 60_000, now)
    t.same((await store.indexRange(index, now + 1000)).map((e) => e.member), ['new'], 'a score at or below now does not count')
    t.same((await store.indexRange(index, now)).map((e) => e.member), ['new'], 'and was dropped from the index, not only hidden')
    await store.indexAdd(index, 'later', now + 120_000, now + 60_000)
    t.same((await store.indexRange(index, now)).map((e) => e.member), ['later'], 'a write drops passed members too')
  })

  test('indexRemove removes the given members and a missing one is not an error', async (store, k, t) => {
    const index = k('{ix}:index')
    const now = Date.now()
    await store.indexAdd(index, 'a', now + 10_000, now)
    await store.indexAdd(index, 'b', now + 10_000, now)
    await store.indexRemove(index, ['a', 'missing'])
    t.same((await store.indexRange(index, now)).map((e) => e.member), ['b'])
    await store.indexRemove(k('{ix}:nothing'), ['x'])
    await store.indexRemove(index, [])
    await store.delete(index)
    t.same(await store.indexRange(index, now), [], 'delete removes an index too')
  })

  test('an index whose members all expired disappears by itself, without any read', async (store, k, t) => {
    const index = k('{ix}:index')
    const now = Date.now()
    await store.indexAdd(index, 'a', now + 50, now)
    await store.indexAdd(index, 'b', now + 100, now)
    await sleep(100 + INDEX_GRACE_MS + 200)
    // A range at time 0 prunes nothing: an empty answer means the index itself is gone.
    t.same(await store.indexRange(index, 0), [])
  })

  test('an index score must lie after now', async (store, k, t) => {
    const now = Date.now()
    await t.rejects(store.indexAdd(k('{ix}:index'), 'a', now, now), RangeError)
    await t.rejects(store.indexAdd(k('{ix}:index'), 'a', now - 5, now), RangeError)
  })

  test('publish reaches every subscriber of the channel, asynchronously, and only that channel', async (store, k, t) => {
    const a = collect(2, 3000)
    const b = collect(2, 3000)
    const other = collect(1, 300)
    let inPublish = false
    let calledInsidePublish = false
    await store.subscribe(k('chan'), (m) => { if (inPublish) calledInsidePublish = true; a.handler(m) })
    await store.subscribe(k('chan'), b.handler)
    await store.subscribe(k('other'), other.handler)
    inPublish = true
    const p = store.publish(k('chan'), 'one')
    inPublish = false
    await p
    await store.publish(k('chan'), 'two')
    // Both arrive, in either order: a cluster may deliver a message published through another
    // node after one published later through the subscriber's own node.
    t.same((await a.done).sort(), ['one', 'two'])
    t.same((await b.done).sort(), ['one', 'two'])
    t.same(await other.done, [])
    t.equal(calledInsidePublish, false)
  })

  test('unsubscribe stops delivery to that handler only', async (store, k, t) => {
    const kept = collect(2, 3000)
    const dropped: string[] = []
    const stop = await store.subscribe(k('chan'), (m) => dropped.push(m))
    await store.subscribe(k('chan'), kept.handler)
    await store.publish(k('chan'), 'before')
    await sleep(100)
    await stop()
    await stop()
    await store.publish(k('chan'), 'after')
    t.same((await kept.done).sort(), ['after', 'before'])
    t.same(dropped, ['before'])
  })

  test('after the last handler unsubscribes, a new subscription still receives', async (store, k, t) => {
    const stop = await store.subscribe(k('chan'), () => {})
    await stop()
    const again = collect(1, 3000)
    await store.subscribe(k('chan'), again.handler)
    await store.publish(k('chan'), 'hello')
    t.same(await again.done, ['hello'])
    await store.publish(k('nobody-listens'), 'x')
  })

  test('ping resolves while the store works; after close every call is refused as unavailable', async (store, k, t) => {
    await store.ping()
    await store.close()
    await t.rejects(store.ping(), { code: 'PCS_STORE_UNAVAILABLE' })
    await t.rejects(store.get(k('a')), { code: 'PCS_STORE_UNAVAILABLE' })
    await t.rejects(store.set(k('a'), Buffer.from('x'), 1000), { code: 'PCS_STORE_UNAVAILABLE' })
  })
}
