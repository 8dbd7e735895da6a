/**
 * The one bounded map: every per-process table keyed by something a client controls (a cookie
 * value, a session id, a peer address, a header name) is one of these, so a flood of distinct
 * keys costs a fixed amount of memory instead of growing it without limit.
 *
 * One eviction policy: entries are kept in insertion order and `set` always makes its entry the
 * newest; when a `set` takes the map past `max` entries, the oldest entry is dropped (and handed
 * to `onEvict`, for a caller that must remember something about what it forgot). A caller that
 * wants least-recently-used order calls `set` again on a hit. Reads (`get`, `has`) are Map's own,
 * with no extra work, so a hot path that mostly hits pays nothing for the bound.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly max: number
  readonly #onEvict: ((key: K, value: V) => void) | undefined

  constructor (max: number, onEvict?: (key: K, value: V) => void) {
    super()
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`BoundedMap: max must be a positive integer, got ${max}`)
    this.max = max
    this.#onEvict = onEvict
  }

  /** Sets `key` as the newest entry, then drops the oldest while the map holds more than `max`. */
  override set (key: K, value: V): this {
    super.delete(key)
    super.set(key, value)
    while (super.size > this.max) {
      const oldest = super.entries().next().value as [K, V]
      super.delete(oldest[0])
      this.#onEvict?.(oldest[0], oldest[1])
    }
    return this
  }
}
