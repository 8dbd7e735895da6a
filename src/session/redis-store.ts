import { Cluster, Redis } from 'ioredis'
import type { RedisConfig } from '../config/types.js'
import { gatewayError, isGatewayError } from '../errors.js'
import { backoff, connect, parseNode, type Client } from './redis-connect.js'
import { watchSentinels } from './sentinel-watch.js'
import { checkTtl, INDEX_GRACE_MS, type SessionStore } from './store.js'

/*
 * The Redis implementation of the store port, and the one place ioredis errors enter the gateway.
 * How it connects (standalone, Sentinel, Cluster), and why the connections fail fast and
 * reconnect forever, is in redis-connect.ts.
 */

export interface StoreLogger {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

interface Subscription {
  readonly handler: (message: string) => void
  readonly onState: ((live: boolean) => void) | undefined
}

/** Commands defined from the Lua scripts below (ioredis caches them with EVALSHA). */
interface Scripts {
  pcsAcquire (lock: string, fence: string, leaseMs: number, fenceTtlMs: number): Promise<number | null>
  pcsRenew (lock: string, token: string, leaseMs: number): Promise<number>
  pcsRelease (lock: string, token: string): Promise<number>
  pcsSetIfLockHeld (lock: string, key: string, token: string, value: Buffer, ttlMs: number): Promise<number>
  pcsIndexAdd (key: string, member: string, score: number, now: number, graceMs: number): Promise<number>
  pcsIndexRange (key: string, now: number): Promise<string[]>
}

// The refresh lock (the hazard it prevents and how it is used: session/refresh.ts). ACQUIRE:
// the lock is free: draw a token greater than both the last one issued for this lock and the
// server clock in microseconds, store it as the lock's value, and remember it. Seeding from the
// clock keeps tokens increasing even after the fence key expired, which it does (a fence key that
// lived forever would leave one key behind per session that ever refreshed).
const ACQUIRE = `
if redis.call('exists', KEYS[1]) == 1 then return false end
local t = redis.call('time')
local last = tonumber(redis.call('get', KEYS[2]) or '0')
local token = math.max(last + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
local text = string.format('%.0f', token)
redis.call('set', KEYS[2], text, 'PX', ARGV[2])
redis.call('set', KEYS[1], text, 'PX', ARGV[1])
return token`
const RENEW = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`
const RELEASE = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`
const SET_IF_LOCK_HELD = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1`

// The session indexes (session/session-index.ts): members scored by their expiry in epoch ms of
// the gateway's clock. Expired members are dropped at every write and read, and the key's time to
// live is relative (the latest score minus the caller's now), so the clocks of the gateway and the
// server need not agree: an index whose members all expired vanishes by itself.
const INDEX_ADD = `
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[3])
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
local top = redis.call('zrange', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('pexpire', KEYS[1], math.ceil(tonumber(top[2]) - tonumber(ARGV[3]) + tonumber(ARGV[4])))
return 1`
const INDEX_RANGE = `
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
return redis.call('zrangebyscore', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')`

/** The fence key outlives its lock by this much so a quick re-acquire continues its sequence. */
const FENCE_GRACE_MS = 60_000

function defineScripts (client: Client): Client & Scripts {
  client.defineCommand('pcsAcquire', { numberOfKeys: 2, lua: ACQUIRE })
  client.defineCommand('pcsRenew', { numberOfKeys: 1, lua: RENEW })
  client.defineCommand('pcsRelease', { numberOfKeys: 1, lua: RELEASE })
  client.defineCommand('pcsSetIfLockHeld', { numberOfKeys: 2, lua: SET_IF_LOCK_HELD })
  client.defineCommand('pcsIndexAdd', { numberOfKeys: 1, lua: INDEX_ADD })
  client.defineCommand('pcsIndexRange', { numberOfKeys: 1, lua: INDEX_RANGE })
  return client as Client & Scripts
}

/**
 * Creates the Redis {@link SessionStore} for a standalone server (`url`), a Sentinel-managed
 * primary (`sentinel`) or a Cluster (`cluster`). It connects at once; commands issued before the
 * connection is ready wait for it up to the command timeout. Every failure of the backend,
 * whatever ioredis reports, rejects with `PCS_STORE_UNAVAILABLE` carrying the original as
 * `cause`, within about `commandTimeoutMs`. `onConnection` hears the command connection close
 * (false) and become ready (true).
 */
export function createRedisStore (config: RedisConfig, logger?: StoreLogger, onConnection?: (up: boolean) => void): SessionStore {
  const timeoutMs = config.commandTimeoutMs
  const client = defineScripts(connect(config))
  let subscriber: Client | null = null
  let closed = false
  const waiters = new Map<Client, Set<(err?: Error) => void>>()
  const channels = new Map<string, { handlers: Set<Subscription>, ready: Promise<void> }>()

  watch(client, 'commands')
  // The store breaker (session/breaker.ts) opens when the command connection closes, and
  // probes when it is ready again.
  if (onConnection !== undefined) {
    client.on('close', () => { if (!closed) onConnection(false) })
    client.on('ready', () => { if (!closed) onConnection(true) })
  }
  const sentinelWatch = config.sentinel === null
    ? null
    : watchSentinels({
      name: config.sentinel.name,
      nodes: config.sentinel.nodes.map(parseNode),
      password: config.sentinel.password,
      connectTimeoutMs: config.connectTimeoutMs,
      backoff,
      onSwitch: (primary) => {
        for (const c of [client, subscriber]) {
          if (!(c instanceof Redis) || c.status !== 'ready') continue
          if (c.stream.remoteAddress === primary.host && c.stream.remotePort === primary.port) continue
          // Reconnecting asks the sentinels again, which now name the new primary. Commands in
          // flight are rejected (503), not resent.
          c.disconnect(true)
          logger?.info({ store: 'redis', role: c === client ? 'commands' : 'subscriber', primary: `${primary.host}:${primary.port}` }, 'session store primary switched')
        }
      }
    })

  /**
   * Tracks a connection: callers waiting for it to be ready, and log lines on transitions only
   * (down once, back once), not on every failed reconnect attempt. One pair of listeners per
   * connection, however many callers wait, so an outage under load adds no listeners.
   */
  function watch (c: Client, role: string): void {
    const waiting = new Set<(err?: Error) => void>()
    waiters.set(c, waiting)
    const wake = (err?: Error): void => {
      const all = [...waiting]
      waiting.clear()
      for (const w of all) w(err)
    }
    c.on('ready', () => wake())
    c.on('end', () => wake(new Error('the connection is closed')))
    let down = false
    c.on('error', (err: Error) => {
      if (down || closed) return
      down = true
      logger?.warn({ store: 'redis', role, err: { message: err.message, code: (err as { code?: string }).code } }, 'session store connection failed')
    })
    c.on('ready', () => {
      if (down) logger?.info({ store: 'redis', role }, 'session store connection restored')
      down = false
    })
  }

  function unavailable (cause: unknown, operation: string): Error {
    if (isGatewayError(cause) || cause instanceof RangeError) return cause
    return gatewayError('PCS_STORE_UNAVAILABLE', { cause, details: { operation } })
  }

  /** Resolves when `c` is ready, rejects after `ms` or when the connection has ended for good. */
  function whenReady (c: Client, ms: number): Promise<void> {
    if (c.status === 'ready') return Promise.resolve()
    if (c.status === 'end' || closed) return Promise.reject(new Error('the connection is closed'))
    const waiting = waiters.get(c)!
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        waiting.delete(done)
        if (err === undefined) resolve()
        else reject(err)
      }
      const timer = setTimeout(() => done(new Error(`not connected within ${ms} ms (status ${c.status})`)), ms)
      waiting.add(done)
    })
  }

  /**
   * Runs one command under one deadline covering both the wait for a connection and the reply.
   * When the deadline passes first the command may still complete later; its result is dropped
   * (the lock scripts re-check ownership when they run, so a late one does no harm).
   */
  async function run<T> (operation: string, fn: (c: Client & Scripts) => Promise<T>, c: Client = client): Promise<T> {
    if (closed) throw unavailable(new Error('the store is closed'), operation)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    const work = whenReady(c, timeoutMs).then(() => fn(c as Client & Scripts))
    work.catch(() => {})
    try {
      return await Promise.race([work, deadline])
    } catch (err) {
      throw unavailable(err, operation)
    } finally {
      clearTimeout(timer)
    }
  }

  function sub (): Client {
    if (subscriber === null) {
      // Its own connection: a connection in subscriber mode cannot run other commands. ioredis
      // subscribes again to every channel after a reconnect.
      // The two branches are the same call: each narrows the union, since TypeScript cannot call
      // a method whose two overloaded signatures are incompatible on a `Redis | Cluster`.
      const created: Client = client instanceof Cluster ? client.duplicate() : client.duplicate()
      subscriber = created
      watch(created, 'subscriber')
      watchDelivery(created)
      created.on('message', (channel: string, message: string) => {
        const entry = channels.get(channel)
        if (entry === undefined) return
        for (const s of [...entry.handlers]) {
          try { s.handler(message) } catch { /* a failing handler must not stop the others */ }
        }
      })
    }
    return subscriber
  }

  function announce (live: boolean): void {
    for (const entry of channels.values()) {
      for (const s of [...entry.handlers]) {
        try { s.onState?.(live) } catch { /* a failing listener must not stop the others */ }
      }
    }
  }

  /*
   * Subscribers that keep state derived from messages (the session cache) must know when a
   * message may have been lost. Once the subscriber connection closes, anything published until
   * it is subscribed again never arrives, so `false` is announced at the first close. After a
   * reconnect ioredis subscribes again on its own, but only the reply to a SUBSCRIBE sent after
   * that proves the server has processed it (replies come in order): `true` waits for that.
   * A server that stalls without closing the connection (SIGSTOP, a silent partition) delivers
   * nothing either, and a subscriber connection awaits no reply that would time out: a PING
   * every second, answered within the command timeout, is the proof of life; without it the
   * connection is treated as lost and replaced.
   */
  function watchDelivery (c: Client): void {
    let lost = false
    const drop = (): void => {
      if (lost || closed) return
      lost = true
      announce(false)
    }
    c.on('close', drop)
    const heartbeat = setInterval(() => {
      if (lost || closed || channels.size === 0 || c.status !== 'ready') return
      run('heartbeat', (x) => x.ping(), c).catch(() => {
        if (closed) return
        drop()
        c.disconnect(true)
      })
    }, Math.min(1000, timeoutMs))
    heartbeat.unref()
    c.on('end', () => clearInterval(heartbeat))
    const confirm = (): void => {
      if (!lost || closed || channels.size === 0 || c.status !== 'ready') return
      run('resubscribe', (x) => x.subscribe(...channels.keys()), c).then(() => {
        if (!lost || c.status !== 'ready') return
        lost = false
        announce(true)
      }, () => { setTimeout(confirm, 1000).unref() })
    }
    c.on('ready', confirm)
  }

  return {
    get: (key) => run('get', (c) => c.getBuffer(key)),
    getWithTtl: (key) => run('getWithTtl', async (c) => {
      // One pipeline: both replies come back in one round trip.
      const replies = await c.pipeline().getBuffer(key).pttl(key).exec()
      const [getReply, ttlReply] = replies ?? []
      if (getReply?.[0] != null) throw getReply[0]
      if (ttlReply?.[0] != null) throw ttlReply[0]
      const value = getReply?.[1] as Buffer | null
      const ttl = ttlReply?.[1] as number
      // The key may expire between the two replies: then there is nothing to serve.
      if (value === null || ttl === -2) return null
      return { value, ttlMs: ttl === -1 ? Number.POSITIVE_INFINITY : ttl }
    }),
    set: async (key, value, ttlMs) => {
      const ttl = checkTtl(ttlMs)
      await run('set', (c) => c.set(key, value, 'PX', ttl))
    },
    setIfAbsent: async (key, value, ttlMs) => {
      const ttl = checkTtl(ttlMs)
      return await run('setIfAbsent', (c) => c.set(key, value, 'PX', ttl, 'NX')) === 'OK'
    },
    take: (key) => run('take', (c) => c.getdelBuffer(key)),
    delete: async (key) => { await run('delete', (c) => c.del(key)) },
    expire: async (key, ttlMs) => {
      const ttl = checkTtl(ttlMs)
      return await run('expire', (c) => c.pexpire(key, ttl)) === 1
    },
    ttl: async (key) => {
      const left = await run('ttl', (c) => c.pttl(key))
      // -2: no such key. -1: a key without expiry, which nothing written through the port is.
      if (left === -2) return -1
      return left === -1 ? Number.POSITIVE_INFINITY : left
    },

    acquireLock: async (key, leaseMs) => {
      const lease = checkTtl(leaseMs, 'leaseMs')
      const token = await run('acquireLock', (c) => c.pcsAcquire(key, `${key}:fence`, lease, lease + FENCE_GRACE_MS))
      return token === null ? null : Number(token)
    },
    renewLock: async (key, token, leaseMs) => {
      const lease = checkTtl(leaseMs, 'leaseMs')
      return await run('renewLock', (c) => c.pcsRenew(key, String(token), lease)) === 1
    },
    releaseLock: async (key, token) => { await run('releaseLock', (c) => c.pcsRelease(key, String(token))) },
    setIfLockHeld: async (key, value, ttlMs, lockKey, token) => {
      const ttl = checkTtl(ttlMs)
      return await run('setIfLockHeld', (c) => c.pcsSetIfLockHeld(lockKey, key, String(token), value, ttl)) === 1
    },

    indexAdd: async (key, member, score, now) => {
      checkTtl(score - now, 'score - now')
      await run('indexAdd', (c) => c.pcsIndexAdd(key, member, score, now, INDEX_GRACE_MS))
    },
    indexRemove: async (key, members) => {
      if (members.length === 0) return
      await run('indexRemove', (c) => c.zrem(key, ...members))
    },
    indexRange: async (key, now) => {
      const flat = await run('indexRange', (c) => c.pcsIndexRange(key, now))
      const out: Array<{ member: string, score: number }> = []
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i]!, score: Number(flat[i + 1]) })
      return out
    },

    publish: async (channel, message) => { await run('publish', (c) => c.publish(channel, message)) },
    subscribe: async (channel, handler, onState) => {
      // Checked before sub(), which would otherwise open a connection on a closed store.
      if (closed) throw unavailable(new Error('the store is closed'), 'subscribe')
      const s: Subscription = { handler, onState }
      let entry = channels.get(channel)
      if (entry === undefined) {
        const ready = run('subscribe', (c) => c.subscribe(channel), sub()).then(() => {})
        const created = { handlers: new Set<Subscription>(), ready }
        channels.set(channel, created)
        ready.catch(() => { if (channels.get(channel) === created) channels.delete(channel) })
        entry = created
      }
      entry.handlers.add(s)
      try {
        await entry.ready
      } catch (err) {
        entry.handlers.delete(s)
        throw err
      }
      const current = entry
      return async () => {
        if (!current.handlers.delete(s) || current.handlers.size > 0 || channels.get(channel) !== current || closed) return
        channels.delete(channel)
        await run('unsubscribe', (c) => c.unsubscribe(channel), sub())
      }
    },

    ping: async () => { await run('ping', (c) => c.ping()) },
    close: async () => {
      if (closed) return
      closed = true
      channels.clear()
      sentinelWatch?.close()
      const all = subscriber === null ? [client] : [client, subscriber]
      await Promise.all(all.map(async (c) => {
        let timer: NodeJS.Timeout | undefined
        try {
          // QUIT lets replies already on the way arrive; a stalled server never answers it.
          await Promise.race([c.quit(), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
        } catch {
          // Not connected: nothing to say goodbye to.
        } finally {
          clearTimeout(timer)
          c.disconnect()
        }
      }))
    }
  }
}
