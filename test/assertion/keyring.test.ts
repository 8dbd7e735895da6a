import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createKeySealer, loadKeyFile, type SigningKey } from '../../src/assertion/key.js'
import { createKeyring, LEAD_MS, SYNC_MS, type Keyring } from '../../src/assertion/keyring.js'
import { keyringKeys } from '../../src/session/keys.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import type { SessionStore } from '../../src/session/store.js'
import { createFrozenClock } from '../helpers/clock.js'

type FrozenClock = ReturnType<typeof createFrozenClock>

const TTL = 120_000
const ROTATE = 3_600_000
const SECRET = 'cookie-secret-0123456789abcdefghijklmnop'
const KEYS = keyringKeys('test:')

interface Logged { level: string, msg: string, obj: object }

function setup (): { clock: FrozenClock, store: SessionStore, logs: Logged[], ring: (opts?: { fileKey?: SigningKey, secrets?: string[], store?: SessionStore }) => Keyring } {
  const clock = createFrozenClock()
  const store = createMemoryStore({ now: clock.now })
  const logs: Logged[] = []
  const logger = {
    warn: (obj: object, msg: string) => { logs.push({ level: 'warn', msg, obj }) },
    info: (obj: object, msg: string) => { logs.push({ level: 'info', msg, obj }) }
  }
  return {
    clock,
    store,
    logs,
    ring: (opts = {}) => createKeyring({
      store: opts.store ?? store,
      keys: KEYS,
      sealer: createKeySealer(opts.secrets ?? [SECRET]),
      fileKey: opts.fileKey ?? null,
      ttlMs: TTL,
      rotateMs: ROTATE,
      now: clock.now,
      logger
    })
  }
}

/** Two replicas' keyrings on one store, agreeing on the first key. */
async function twoReplicas (t: Test): Promise<ReturnType<typeof setup> & { a: Keyring, b: Keyring, k1: string }> {
  const replicas = setup()
  t.teardown(() => replicas.store.close())
  const a = replicas.ring()
  const b = replicas.ring()
  const k1 = (await a.signingKey()).kid
  t.equal((await b.signingKey()).kid, k1, 'both replicas sign with the first key')
  return { ...replicas, a, b, k1 }
}

async function kids (ring: Keyring): Promise<string[]> {
  return (await ring.publicKeys()).map((k) => k.kid!).sort()
}

async function keyFile (): Promise<SigningKey> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-keyring-'))
  const path = join(dir, 'key.pem')
  writeFileSync(path, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
  return await loadKeyFile(path)
}

t.test('keyring: processes sharing a store sign with one generated key, created once', async (t) => {
  const { store, logs, ring } = setup()
  t.teardown(() => store.close())
  const a = ring()
  const b = ring()
  const keys = await Promise.all([...Array.from({ length: 10 }, () => a.signingKey()), ...Array.from({ length: 10 }, () => b.signingKey())])
  t.equal(new Set(keys.map((k) => k.kid)).size, 1)
  t.strictSame(await kids(a), [keys[0]!.kid])
  t.strictSame(await kids(b), [keys[0]!.kid])
  t.equal(logs.filter((l) => l.msg === 'new assertion signing key').length, 1)
})

t.test('keyring: the store holds the public key and a sealed private key, never the private key in clear', async (t) => {
  const { store, ring } = setup()
  t.teardown(() => store.close())
  const key = await ring().signingKey()
  const record = (await store.get(KEYS.ring))!.toString('latin1')
  const d = key.privateKey.export({ format: 'jwk' }).d!
  t.equal(record.includes(d), false)
  t.equal(record.includes(key.publicJwk.x!), true)
  t.ok(await store.ttl(KEYS.ring) > 0, 'the record expires on its own when nobody renews it')
})

t.test('keyring: a generated key rotates; the next key is published LEAD before it signs and the old one stays until its last assertion expired', async (t) => {
  const { clock, a, b, k1 } = await twoReplicas(t)

  clock.advance(ROTATE - LEAD_MS - SYNC_MS)
  t.equal((await a.signingKey()).kid, k1)
  t.strictSame(await kids(a), [k1], 'nothing is announced before the lead time')

  clock.advance(SYNC_MS)
  t.equal((await a.signingKey()).kid, k1, 'the announced key does not sign yet')
  const announced = await kids(a)
  t.equal(announced.length, 2)
  const k2 = announced.find((k) => k !== k1)!
  t.equal((await b.signingKey()).kid, k1)
  t.strictSame(await kids(b), announced, 'every process sees the next key ahead of its use')

  clock.advance(LEAD_MS - 1000)
  t.equal((await a.signingKey()).kid, k1, 'one second before the switch the old key signs')
  t.equal((await b.signingKey()).kid, k1)
  clock.advance(1000)
  t.equal((await a.signingKey()).kid, k2, 'the switch happens at the announced time')
  t.equal((await b.signingKey()).kid, k2, 'a process switches on its own clock, from what it already read')
  t.strictSame(await kids(a), announced, 'the old key is still published')

  clock.advance(TTL + 2 * SYNC_MS - 1000)
  t.strictSame(await kids(a), announced, 'until the last assertion signed with it expired')
  clock.advance(2000)
  t.strictSame(await kids(a), [k2], 'then it is dropped')
  t.equal((await a.signingKey()).kid, k2)
})

t.test('keyring: a key file replaced at restart: the old public key stays published until its last assertion expired', async (t) => {
  const { clock, store, ring } = setup()
  t.teardown(() => store.close())
  const key1 = await keyFile()
  const key2 = await keyFile()
  const before = ring({ fileKey: key1 })
  t.equal((await before.signingKey()).kid, key1.kid)
  t.strictSame(await kids(before), [key1.kid])

  clock.advance(10_000)
  const after = ring({ fileKey: key2 })
  t.equal((await after.signingKey()).kid, key2.kid, 'the new key signs at once')
  t.strictSame(await kids(after), [key1.kid, key2.kid].sort(), 'next to the old one')

  // The old process kept signing until 10 s ago: its key stays ttl + 2 syncs after that.
  clock.advance(TTL + 2 * SYNC_MS - 10_000 - 1000)
  t.strictSame(await kids(after), [key1.kid, key2.kid].sort())
  clock.advance(2000)
  t.strictSame(await kids(after), [key2.kid])
})

t.test('keyring: during a rolling change both key files sign and both stay published', async (t) => {
  const { clock, store, ring } = setup()
  t.teardown(() => store.close())
  const key1 = await keyFile()
  const key2 = await keyFile()
  const old = ring({ fileKey: key1 })
  const fresh = ring({ fileKey: key2 })
  for (let i = 0; i < 10; i++) {
    t.equal((await old.signingKey()).kid, key1.kid)
    t.equal((await fresh.signingKey()).kid, key2.kid)
    clock.advance(SYNC_MS)
  }
  t.strictSame(await kids(fresh), [key1.kid, key2.kid].sort(), `still both after ${10 * SYNC_MS} ms`)
})

t.test('keyring: fails closed when the store is unreachable and no published key covers an assertion lifetime', async (t) => {
  const { clock, store, ring } = setup()
  const down = createMemoryStore()
  await down.close()
  const never = ring({ store: down })
  await t.rejects(never.signingKey(), { code: 'PCS_STORE_UNAVAILABLE' })
  await t.rejects(never.publicKeys(), { code: 'PCS_STORE_UNAVAILABLE' })

  const a = ring({ fileKey: await keyFile() })
  const kid = (await a.signingKey()).kid
  await store.close()
  clock.advance(2 * SYNC_MS - 1000)
  t.equal((await a.signingKey()).kid, kid, 'a key published for at least one more assertion lifetime still signs')
  clock.advance(2000)
  await t.rejects(a.signingKey(), { code: 'PCS_STORE_UNAVAILABLE' }, 'past that, nothing is signed')
})

t.test('keyring: a key sealed under other cookie secrets is not used; that process publishes its own', async (t) => {
  const { store, logs, ring } = setup()
  t.teardown(() => store.close())
  const a = ring()
  const b = ring({ secrets: ['other-secret-0123456789abcdefghijklmnopq'] })
  const k1 = (await a.signingKey()).kid
  const k2 = (await b.signingKey()).kid
  t.not(k2, k1)
  t.strictSame(await kids(b), [k1, k2].sort(), 'both keys verify')
  t.ok(logs.some((l) => l.level === 'warn' && l.msg === 'assertion key in the store cannot be opened with these cookie secrets'))
})

t.test('keyring: a damaged record is replaced by a working one', async (t) => {
  const { store, ring } = setup()
  t.teardown(() => store.close())
  await store.set(KEYS.ring, Buffer.from('{"v":1,"keys":[{"kid":5}]} trailing'), 60_000)
  const a = ring()
  const key = await a.signingKey()
  t.strictSame(await kids(a), [key.kid])
})

t.test('keyring: an idle gateway keeps its generated key across quiet spells shorter than the rotation', async (t) => {
  const { clock, store, logs, ring } = setup()
  t.teardown(() => store.close())
  const kid = (await ring().signingKey()).kid
  clock.advance(ROTATE / 2)
  const later = ring()
  t.equal((await later.signingKey()).kid, kid)
  t.strictSame(await kids(later), [kid])
  t.equal(logs.filter((l) => l.msg === 'new assertion signing key').length, 1)
})

t.test('keyring: deleting the record (a compromised key) drops the key from the JWKS and a new one takes over', async (t) => {
  const { clock, store, a, b, k1 } = await twoReplicas(t)
  await store.delete(KEYS.ring)
  clock.advance(6000)
  t.strictSame(await kids(a), [], 'the JWKS no longer lists it once re-read')
  const k2 = (await a.signingKey()).kid
  t.not(k2, k1, 'the process that saw the deletion signs with a new key at once')
  clock.advance(SYNC_MS)
  t.equal((await b.signingKey()).kid, k1, 'another process may use its cached key until its next sync completes')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await b.signingKey()).kid, k2, 'then it moves to the new key')
  t.strictSame(await kids(b), [k2])
})

t.test('keyring: only public members of a key leave the record, whatever was written there', async (t) => {
  const { clock, store, ring } = setup()
  t.teardown(() => store.close())
  const leaky = { kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', d: 'private-scalar', kid: 'foreign', alg: 'ES256', use: 'sig' }
  const record = { v: 1, keys: [{ kid: 'foreign', jwk: leaky, activeFrom: clock.now(), notAfter: clock.now() + 600_000 }] }
  await store.set(KEYS.ring, Buffer.from(JSON.stringify(record)), 600_000)
  const a = ring()
  await a.signingKey()
  const published = await a.publicKeys()
  t.equal(published.length, 2)
  t.strictSame(published.find((k) => k.kid === 'foreign'), { kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', kid: 'foreign', alg: 'ES256', use: 'sig' })
  t.equal(JSON.stringify(published).includes('private-scalar'), false)
})

t.test('keyring: during an outage a still-published key signs, with one warning per sync interval, not one per request', async (t) => {
  const { clock, store, logs, ring } = setup()
  const a = ring({ fileKey: await keyFile() })
  const kid = (await a.signingKey()).kid
  await store.close()
  clock.advance(SYNC_MS + 1000)
  for (let i = 0; i < 20; i++) {
    t.equal((await a.signingKey()).kid, kid)
    await new Promise((resolve) => setImmediate(resolve))
    clock.advance(100)
  }
  const warnings = logs.filter((l) => l.msg.startsWith('assertion keyring sync failed'))
  t.equal(warnings.length, 1)
})

t.test('keyring: signingKeyNow gives the key signingKey would, and null whenever signingKey would have to read the store', async (t) => {
  const { clock, store, ring } = setup()
  t.teardown(() => store.close())
  const a = ring()
  t.equal(a.signingKeyNow(), null, 'nothing read yet')
  const key = await a.signingKey()
  t.equal(a.signingKeyNow()?.kid, key.kid)
  clock.advance(SYNC_MS - 1)
  t.equal(a.signingKeyNow()?.kid, key.kid, 'within the sync interval')
  clock.advance(1)
  t.equal(a.signingKeyNow(), null, 'due for a sync: left to signingKey, which starts it')
  t.equal((await a.signingKey()).kid, key.kid)
})
