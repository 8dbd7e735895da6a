import type { JWK } from 'jose'
import { gatewayError } from '../errors.js'
import type { KeyringKeys } from '../session/keys.js'
import type { SessionStore } from '../session/store.js'
import { generateSigningKey, type KeySealer, type SigningKey } from './key.js'

/*
 * The assertion keyring, shared by every gateway process through the store: one record listing
 * each published key with the time it starts signing (`activeFrom`) and the time it may leave
 * the JWKS (`notAfter`), plus the sealed private part of generated keys.
 *
 * The invariant everything here serves: an assertion is only ever signed with a key that the
 * record promises to publish until after that assertion expires. A process signs with a key only
 * while the `notAfter` it last read is at least one assertion lifetime away, and every process
 * pushes the `notAfter` of the key it signs with forward at each sync (every SYNC_MS), to
 * `now + ttl + 2 * SYNC_MS`. So a key stops being published only once nobody has signed with it
 * for a full assertion lifetime, whatever happened: a key file replaced and the gateway
 * restarted, a rolling deployment where old and new processes sign side by side, a process
 * killed mid-way. `notAfter` only ever grows, and expired entries are dropped on the next write.
 *
 * Generated keys rotate every `rotate`, and each is kept for its whole scheduled life (so an
 * idle gateway does not lose it). The next key is written LEAD_MS before it starts
 * signing, so every process has read it (it syncs every SYNC_MS) and every verifier can have
 * fetched it (JWKS max-age, or a refetch on an unknown `kid`) before the first assertion it
 * signs arrives; each process then switches at `activeFrom` on its own clock, without a
 * round-trip. A key from `key_file` cannot be announced ahead of its restart: it is published
 * before its first signature, and verifiers pick it up by refetching on the unknown `kid`.
 *
 * Updates are read-modify-write of one record, so they run under the store lock with a fenced
 * write (`setIfLockHeld`): two processes starting together cannot both generate a first key, and
 * a process that stalled past its lease cannot overwrite a newer record with an older one.
 */

/** How often a process re-reads the record and renews the key it signs with. */
export const SYNC_MS = 30_000
/** How long before it signs a generated key is published. */
export const LEAD_MS = 10 * 60_000
/** How long the JWKS endpoint serves the record it last read before reading it again. */
const PUBLIC_FRESH_MS = 5000
const LOCK_LEASE_MS = 5000
const LOCK_ATTEMPTS = 10
/** Least time between background syncs after one failed, so an outage is not hammered per request. */
const RETRY_MS = 1000

/** Only the public members of a JWK leave the record, whatever a writer put there. */
function publicMembers ({ kty, crv, x, y, kid, alg, use }: JWK): JWK {
  return { kty, crv, x, y, kid, alg, use }
}

interface Entry {
  readonly kid: string
  readonly jwk: JWK
  readonly activeFrom: number
  notAfter: number
  /** Sealed private key; only for generated keys. */
  readonly sealed?: string
}

export interface KeyringOptions {
  readonly store: SessionStore
  readonly keys: KeyringKeys
  readonly sealer: KeySealer
  /** The key from `key_file`, or null to generate keys and share them through the store. */
  readonly fileKey: SigningKey | null
  readonly ttlMs: number
  readonly rotateMs: number
  readonly now: () => number
  readonly logger: { warn (obj: object, msg: string): void, info (obj: object, msg: string): void }
}

export interface Keyring {
  /**
   * The key to sign with now, published until at least one assertion lifetime from now. Rejects
   * with PCS_STORE_UNAVAILABLE when the store cannot be reached and no such key is known.
   */
  signingKey (): Promise<SigningKey>
  /**
   * The key {@link Keyring.signingKey} would resolve with, when it is known without waiting and
   * needs no renewal started; otherwise null (call `signingKey`). Never starts any work.
   */
  signingKeyNow (): SigningKey | null
  /** The public keys to publish in the JWKS: every key of the record not past its `notAfter`. */
  publicKeys (): Promise<JWK[]>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function parseRing (bytes: Buffer | null): Entry[] {
  if (bytes === null) return []
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { v?: unknown, keys?: unknown }
    if (doc.v !== 1 || !Array.isArray(doc.keys)) return []
    return (doc.keys as Entry[]).filter((e) => typeof e?.kid === 'string' && typeof e.jwk === 'object' &&
      Number.isFinite(e.activeFrom) && Number.isFinite(e.notAfter))
  } catch {
    return []
  }
}

/** Creates the shared {@link Keyring}. Nothing is read or written until it is first used. */
export function createKeyring (options: KeyringOptions): Keyring {
  const { store, keys, sealer, fileKey, ttlMs, rotateMs, now, logger } = options
  /** Where a key in use must stay published until, seen from time `t`. */
  const cover = (t: number): number => t + ttlMs + 2 * SYNC_MS
  /** Generated keys this process could open (null: it cannot, e.g. other cookie secrets). */
  const opened = new Map<string, SigningKey | null>()
  let cached: { entries: Entry[], syncedAt: number } | null = null
  let readAt = -Infinity
  let inflight: Promise<void> | null = null
  let retryAt = -Infinity
  let warnedAt = -Infinity

  async function openAll (entries: readonly Entry[]): Promise<void> {
    for (const e of entries) {
      if (e.sealed === undefined || opened.has(e.kid)) continue
      const key = await sealer.open(e.kid, e.sealed)
      if (key === null) logger.warn({ kid: e.kid }, 'assertion key in the store cannot be opened with these cookie secrets')
      opened.set(e.kid, key)
    }
  }

  /** The newest generated key this process can sign with, active at `t` (or, `future`, after it). */
  function latestGenerated (entries: readonly Entry[], t: number, future: boolean): Entry | undefined {
    let best: Entry | undefined
    for (const e of entries) {
      if (opened.get(e.kid) == null || (e.activeFrom > t) !== future) continue
      if (best === undefined || e.activeFrom > best.activeFrom) best = e
    }
    return best
  }

  async function newEntry (activeFrom: number): Promise<Entry> {
    const key = await generateSigningKey()
    opened.set(key.kid, key)
    logger.info({ kid: key.kid, activeFrom: new Date(activeFrom).toISOString() }, 'new assertion signing key')
    // Kept for its whole scheduled life, used or not: an idle gateway keeps its key rather than
    // generating a new one (unknown to every verifier) after each quiet spell.
    return { kid: key.kid, jwk: key.publicJwk, activeFrom, notAfter: cover(activeFrom + rotateMs), sealed: sealer.seal(key) }
  }

  /** The record as this process wants it at `t`: expired keys out, its own key in and renewed. */
  async function plan (current: Entry[], t: number): Promise<Entry[]> {
    const entries = current.filter((e) => e.notAfter > t)
    if (fileKey !== null) {
      const mine = entries.find((e) => e.kid === fileKey.kid)
      if (mine === undefined) entries.push({ kid: fileKey.kid, jwk: fileKey.publicJwk, activeFrom: t, notAfter: cover(t) })
      else mine.notAfter = Math.max(mine.notAfter, cover(t))
      return entries
    }
    await openAll(entries)
    let active = latestGenerated(entries, t, false)
    if (active === undefined) {
      active = await newEntry(t)
      entries.push(active)
    }
    active.notAfter = Math.max(active.notAfter, cover(t))
    if (latestGenerated(entries, t, true) === undefined && t >= active.activeFrom + rotateMs - LEAD_MS) {
      entries.push(await newEntry(Math.max(t + LEAD_MS, active.activeFrom + rotateMs)))
    }
    return entries
  }

  async function read (): Promise<Entry[]> {
    return parseRing(await store.get(keys.ring))
  }

  /** One locked read-modify-write; when the lock stays taken, what its holder wrote is read. */
  async function update (): Promise<Entry[]> {
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      const token = await store.acquireLock(keys.lock, LOCK_LEASE_MS)
      if (token === null) {
        await sleep(20 * (attempt + 1))
        continue
      }
      try {
        const t = now()
        const entries = await plan(await read(), t)
        const until = Math.max(...entries.map((e) => e.notAfter))
        const record = Buffer.from(JSON.stringify({ v: 1, keys: entries }), 'utf8')
        if (await store.setIfLockHeld(keys.ring, record, Math.max(1, until - t), keys.lock, token)) return entries
      } finally {
        await store.releaseLock(keys.lock, token).catch(() => {})
      }
    }
    const entries = await read()
    await openAll(entries)
    return entries
  }

  /** Syncs with the store, once at a time in this process. */
  function sync (): Promise<void> {
    inflight ??= (async () => {
      try {
        const entries = await update()
        cached = { entries, syncedAt: now() }
        readAt = cached.syncedAt
      } finally {
        inflight = null
      }
    })()
    return inflight
  }

  /** The key to sign with at `t` from the last record read, or null when none is covered. */
  function pick (t: number): SigningKey | null {
    if (cached === null) return null
    if (fileKey !== null) {
      const mine = cached.entries.find((e) => e.kid === fileKey.kid)
      return mine !== undefined && mine.notAfter >= t + ttlMs ? fileKey : null
    }
    const active = latestGenerated(cached.entries, t, false)
    return active !== undefined && active.notAfter >= t + ttlMs ? opened.get(active.kid) ?? null : null
  }

  return {
    signingKeyNow () {
      const t = now()
      if (cached === null || t - cached.syncedAt >= SYNC_MS) return null
      return pick(t)
    },

    async signingKey () {
      const t = now()
      const stale = cached === null || t - cached.syncedAt >= SYNC_MS
      let key = pick(t)
      if (key === null) {
        // Nothing covered is known (first use, an outage, the record deleted): sync and wait.
        await sync()
        key = pick(now())
      } else if (stale && t >= retryAt) {
        // A covered key is known: sign with it now and let the renewal finish on its own.
        sync().catch((err: unknown) => {
          retryAt = now() + RETRY_MS
          if (now() - warnedAt < SYNC_MS) return
          warnedAt = now()
          logger.warn({ err: { message: (err as Error).message } }, 'assertion keyring sync failed; signing with the key still published')
        })
      }
      if (key === null) throw gatewayError('PCS_STORE_UNAVAILABLE', { message: 'No published assertion signing key is available' })
      return key
    },

    async publicKeys () {
      const t = now()
      if (cached === null || t - cached.syncedAt >= SYNC_MS) {
        await sync()
      } else if (t - readAt >= PUBLIC_FRESH_MS) {
        // Other processes may have published a key since: serve what the store holds now.
        const entries = await read()
        await openAll(entries)
        cached = { entries, syncedAt: cached.syncedAt }
        readAt = t
      }
      return (cached?.entries ?? []).filter((e) => e.notAfter > t).map((e) => publicMembers(e.jwk))
    }
  }
}
