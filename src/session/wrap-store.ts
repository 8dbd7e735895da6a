import type { SessionStore } from './store.js'

/** Every method of the port but `close`: the operations a wrapper treats alike. */
export type StoreOperation = Exclude<keyof SessionStore, 'close'>

/**
 * Runs one store operation for a wrapper: `call` performs it on the wrapped store and resolves
 * with its result; the wrapper may measure it, refuse it or watch its outcome around it.
 */
export type AroundStore = <R>(operation: StoreOperation, call: () => Promise<R>) => Promise<R>

/**
 * Returns a store whose every operation goes through `around` to `store`, and whose `close` is
 * `close` (default: closing `store`). Each method is written out, so a method added to the port
 * fails to compile here instead of silently missing from a wrapped store (metrics, the breaker).
 */
export function wrapStore (store: SessionStore, around: AroundStore, close: () => Promise<void> = () => store.close()): SessionStore {
  return {
    get: (key) => around('get', () => store.get(key)),
    getWithTtl: (key) => around('getWithTtl', () => store.getWithTtl(key)),
    set: (key, value, ttlMs) => around('set', () => store.set(key, value, ttlMs)),
    setIfAbsent: (key, value, ttlMs) => around('setIfAbsent', () => store.setIfAbsent(key, value, ttlMs)),
    take: (key) => around('take', () => store.take(key)),
    delete: (key) => around('delete', () => store.delete(key)),
    expire: (key, ttlMs) => around('expire', () => store.expire(key, ttlMs)),
    ttl: (key) => around('ttl', () => store.ttl(key)),
    acquireLock: (key, leaseMs) => around('acquireLock', () => store.acquireLock(key, leaseMs)),
    renewLock: (key, token, leaseMs) => around('renewLock', () => store.renewLock(key, token, leaseMs)),
    releaseLock: (key, token) => around('releaseLock', () => store.releaseLock(key, token)),
    setIfLockHeld: (key, value, ttlMs, lockKey, token) => around('setIfLockHeld', () => store.setIfLockHeld(key, value, ttlMs, lockKey, token)),
    indexAdd: (key, member, score, now) => around('indexAdd', () => store.indexAdd(key, member, score, now)),
    indexRemove: (key, members) => around('indexRemove', () => store.indexRemove(key, members)),
    indexRange: (key, now) => around('indexRange', () => store.indexRange(key, now)),
    publish: (channel, message) => around('publish', () => store.publish(channel, message)),
    subscribe: (channel, handler, onState) => around('subscribe', () => store.subscribe(channel, handler, onState)),
    ping: () => around('ping', () => store.ping()),
    close
  }
}
