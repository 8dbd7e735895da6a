import t from 'tap'
import type { Test } from 'tap'
import type { RedisConfig } from '../../src/config/types.js'
import { createRedisStore } from '../../src/session/redis-store.js'
import type { SessionStore } from '../../src/session/store.js'
import { startRedis, startSentinel, type RedisServer } from '../helpers/redis.js'
import { pickedPort } from '../helpers/listen.js'
import { runStoreContract } from './store-contract.js'

const COMMAND_TIMEOUT_MS = 1000

function configFor (url: string): RedisConfig {
  return {
    url,
    keyPrefix: 'test:',
    sentinel: null,
    cluster: null,
    password: null,
    connectTimeoutMs: 1000,
    commandTimeoutMs: COMMAND_TIMEOUT_MS
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls ping every 100 ms for up to 10 s; resolves with how long recovery took, or -1. */
async function recovered (store: SessionStore): Promise<number> {
  const started = Date.now()
  for (let i = 0; i < 100; i++) {
    try {
      await store.ping()
      return Date.now() - started
    } catch {
      await sleep(100)
    }
  }
  return -1
}

/** Every port method, each expected to be refused while the store is down or stalled. */
function everyMethod (store: SessionStore): Record<string, () => Promise<unknown>> {
  return {
    get: () => store.get('k'),
    set: () => store.set('k', Buffer.from('x'), 1000),
    setIfAbsent: () => store.setIfAbsent('k', Buffer.from('x'), 1000),
    take: () => store.take('k'),
    delete: () => store.delete('k'),
    expire: () => store.expire('k', 1000),
    ttl: () => store.ttl('k'),
    acquireLock: () => store.acquireLock('{x}:lock', 1000),
    renewLock: () => store.renewLock('{x}:lock', 1, 1000),
    releaseLock: () => store.releaseLock('{x}:lock', 1),
    setIfLockHeld: () => store.setIfLockHeld('{x}:s', Buffer.from('x'), 1000, '{x}:lock', 1),
    publish: () => store.publish('c', 'm'),
    subscribe: () => store.subscribe('fresh-channel', () => {}),
    ping: () => store.ping()
  }
}

async function assertAllUnavailable (t: Test, store: SessionStore, within: number): Promise<void> {
  await Promise.all(Object.entries(everyMethod(store)).map(async ([name, call]) => {
    const started = Date.now()
    let error: unknown = null
    try {
      await call()
    } catch (err) {
      error = err
    }
    const took = Date.now() - started
    t.match(error, { name: 'GatewayError', code: 'PCS_STORE_UNAVAILABLE', status: 503 }, `${name} is refused as PCS_STORE_UNAVAILABLE`)
    t.ok((error as Error | null)?.cause instanceof Error, `${name} keeps the cause`)
    t.ok(took < within, `${name} answered in ${took} ms (< ${within} ms)`)
  }))
}

type Mode = 'standalone' | 'cluster'

/** A redis-server and a store on it, both torn down with the test. */
async function fixture (t: Test, mode: Mode = 'standalone'): Promise<{ redis: RedisServer, store: SessionStore }> {
  const redis = await startRedis({ cluster: mode === 'cluster' })
  const config = mode === 'cluster'
    ? { ...configFor(redis.url), url: null, cluster: { nodes: [`127.0.0.1:${redis.port}`] } }
    : configFor(redis.url)
  const store = createRedisStore(config)
  t.teardown(async () => {
    await store.close()
    await redis.stop()
  })
  await store.ping()
  return { redis, store }
}

t.test('contract', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  runStoreContract(t, 'redis', async () => {
    const store = createRedisStore(configFor(redis.url))
    return { store, cleanup: () => store.close() }
  })
})

t.test('contract, cluster mode (one node owning every slot)', async (t) => {
  const redis = await startRedis({ cluster: true })
  t.teardown(() => redis.stop())
  runStoreContract(t, 'redis cluster', async () => {
    const store = createRedisStore({ ...configFor(redis.url), url: null, cluster: { nodes: [`127.0.0.1:${redis.port}`] } })
    return { store, cleanup: () => store.close() }
  })
})

t.test('contract, sentinel mode', async (t) => {
  const redis = await startRedis()
  const sentinel = await startSentinel(redis, 'portcullis-primary')
  t.teardown(async () => {
    await sentinel.stop()
    await redis.stop()
  })
  runStoreContract(t, 'redis sentinel', async () => {
    const store = createRedisStore({
      ...configFor(redis.url),
      url: null,
      sentinel: { name: sentinel.name, nodes: [`127.0.0.1:${sentinel.port}`], password: null }
    })
    return { store, cleanup: () => store.close() }
  })
})

for (const mode of ['standalone', 'cluster'] as const) {
  t.test(`redis (${mode}): with the server stopped every method is refused within 3 s, and it recovers after restart with its data`, async (t) => {
    const { redis, store } = await fixture(t, mode)
    await store.set('kept', Buffer.from('before'), 60_000)
    await redis.stop()
    await assertAllUnavailable(t, store, 3000)
    // Refused again on a second round: a down store keeps failing fast, not only the first time.
    await assertAllUnavailable(t, store, 3000)
    await redis.restart()
    const took = await recovered(store)
    t.ok(took >= 0, `usable again after the restart (took ${took} ms)`)
    t.equal((await store.get('kept'))?.toString(), 'before')
  })

  t.test(`redis (${mode}): with the server stalled (SIGSTOP) every method is refused within 3 s, and it recovers after SIGCONT with its data`, async (t) => {
    const { redis, store } = await fixture(t, mode)
    await store.set('kept', Buffer.from('before'), 60_000)
    redis.pause()
    try {
      await assertAllUnavailable(t, store, 3000)
    } finally {
      redis.resume()
    }
    const took = await recovered(store)
    t.ok(took >= 0, `usable again after resume (took ${took} ms)`)
    t.equal((await store.get('kept'))?.toString(), 'before')
    await store.set('after', Buffer.from('x'), 60_000)
    t.equal((await store.get('after'))?.toString(), 'x')
  })
}

t.test('redis: a connection that stops answering is dropped and replaced, not kept until TCP keepalive gives up', async (t) => {
  const redis = await startRedis()
  const logs: Array<{ level: string, obj: Record<string, unknown>, msg: string }> = []
  const logger = {
    warn: (obj: object, msg: string) => { logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }) },
    info: (obj: object, msg: string) => { logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }) }
  }
  const store = createRedisStore(configFor(redis.url), logger)
  t.teardown(async () => {
    await store.close()
    await redis.stop()
  })
  await store.ping()
  redis.pause()
  try {
    await t.rejects(store.ping(), { code: 'PCS_STORE_UNAVAILABLE' })
    // Past twice the command timeout with a reply still owed, the socket is given up on.
    await sleep(2 * COMMAND_TIMEOUT_MS + 500)
  } finally {
    redis.resume()
  }
  t.ok(await recovered(store) >= 0, 'usable again after resume')
  const failed = logs.filter((l) => l.msg === 'session store connection failed')
  t.equal(failed.length, 1, 'the outage is logged once, not at every reconnect attempt')
  t.match(failed[0]?.obj, { store: 'redis', role: 'commands', err: { message: /Socket timeout/ } })
  for (let i = 0; i < 50 && !logs.some((l) => l.msg === 'session store connection restored'); i++) await sleep(100)
  t.match(logs.at(-1), { level: 'info', msg: 'session store connection restored', obj: { role: 'commands' } })
})

t.test('redis: a subscription survives a server restart', async (t) => {
  const { redis, store } = await fixture(t)
  const got: string[] = []
  await store.subscribe('events', (m) => got.push(m))
  await redis.restart()
  t.ok(await recovered(store) >= 0)
  // The subscriber connection reconnects on its own schedule: publish until a message arrives.
  for (let i = 0; i < 100 && got.length === 0; i++) {
    await store.publish('events', `after-restart-${i}`).catch(() => {})
    await sleep(100)
  }
  t.match(got[0], /^after-restart-\d+$/)
})

t.test('redis: a subscriber hears delivery stop when the connection drops, and resume only once subscribed again', async (t) => {
  const { redis, store } = await fixture(t)
  const states: boolean[] = []
  const got: string[] = []
  await store.subscribe('events', (m) => got.push(m), (live) => states.push(live))
  t.strictSame(states, [], 'nothing is announced while the subscription is healthy')
  await redis.stop()
  for (let i = 0; i < 50 && states.length === 0; i++) await sleep(100)
  t.strictSame(states, [false], 'the drop is announced once')
  await redis.restart()
  for (let i = 0; i < 100 && states.length < 2; i++) await sleep(100)
  t.strictSame(states, [false, true])
  // Once live again, a message published now is delivered: the subscription is in place.
  await store.publish('events', 'after')
  for (let i = 0; i < 50 && got.length === 0; i++) await sleep(20)
  t.strictSame(got, ['after'])
})

t.test('redis: a store created while the server is down fails fast, then connects by itself once it is up', async (t) => {
  // The store connects before redis-server exists, so its port is picked (helpers/listen.ts).
  const port = await pickedPort()
  const store = createRedisStore(configFor(`redis://127.0.0.1:${port}/0`))
  t.teardown(() => store.close())
  const started = Date.now()
  await t.rejects(store.get('k'), { code: 'PCS_STORE_UNAVAILABLE' })
  t.ok(Date.now() - started < 3000, 'refused within 3 s')
  const redis = await startRedis({ port })
  t.teardown(() => redis.stop())
  t.ok(await recovered(store) >= 0, 'the same store works once the server is up')
  await store.set('k', Buffer.from('v'), 10_000)
  t.equal((await store.get('k'))?.toString(), 'v')
})

t.test('redis: close returns within a bounded time even when the server is stalled', async (t) => {
  const { redis, store } = await fixture(t)
  await store.subscribe('c', () => {})
  redis.pause()
  t.teardown(() => redis.resume())
  const started = Date.now()
  await store.close()
  const took = Date.now() - started
  t.ok(took < COMMAND_TIMEOUT_MS + 1000, `closed in ${took} ms`)
  await t.rejects(store.get('k'), { code: 'PCS_STORE_UNAVAILABLE' })
})

t.test('redis: lock keys and their fence share one hash slot and the fence expires', async (t) => {
  const { store } = await fixture(t)
  const token = await store.acquireLock('p:{abc}:lock', 1000)
  t.ok(token !== null && token > 1_000_000_000_000_000, 'tokens are seeded from the server clock in microseconds')
  const fenceTtl = await store.ttl('p:{abc}:lock:fence')
  t.ok(fenceTtl > 0 && fenceTtl <= 61_000, `the fence key expires (ttl ${fenceTtl})`)
})
