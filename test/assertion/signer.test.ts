import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK } from 'jose'
import t from 'tap'
import { generateSigningKey, type SigningKey } from '../../src/assertion/key.js'
import type { Keyring } from '../../src/assertion/keyring.js'
import { createAssertionSigner, type AssertionSubject } from '../../src/assertion/signer.js'
import type { Identity } from '../../src/domain/types.js'
import { createFrozenClock } from '../helpers/clock.js'


const TTL = 120_000
const ISSUER = 'https://apps.example.com'
const AUD = 'http://127.0.0.1:8080'

const identity: Identity = {
  sub: 'dev-alice',
  email: 'alice@example.com',
  emailVerified: true,
  name: 'Alice Admin',
  preferredUsername: 'alice',
  groups: ['admins', 'staff'],
  hd: 'example.com',
  claims: {}
}

function subject (sessionId = 'sid-1', generation = 1, who: Identity = identity): AssertionSubject {
  return { sessionId, generation, identity: who }
}

/** A keyring stand-in holding keys in memory; the real one is tested in keyring.test.ts. */
function fixedKeyring (first: SigningKey): { keyring: Keyring, use (key: SigningKey): void, published: JWK[] } {
  let current = first
  const published: JWK[] = [first.publicJwk]
  return {
    keyring: { signingKey: async () => current, signingKeyNow: () => current, publicKeys: async () => published },
    use (key) { current = key; published.push(key.publicJwk) },
    published
  }
}

/** A signer over a fixed keyring on a frozen clock; `options` overrides the signer's settings. */
async function setup (options: { ttlMs?: number, maxEntries?: number } = {}): Promise<{ clock: ReturnType<typeof createFrozenClock>, key: SigningKey, ring: ReturnType<typeof fixedKeyring>, signer: ReturnType<typeof createAssertionSigner> }> {
  const clock = createFrozenClock()
  const key = await generateSigningKey()
  const ring = fixedKeyring(key)
  const signer = createAssertionSigner({ keyring: ring.keyring, issuer: ISSUER, ttlMs: TTL, now: clock.now, ...options })
  return { clock, key, ring, signer }
}

t.test('signer: the assertion is an ES256 JWT with kid and exactly iss, aud, sub, email, groups, iat, exp, jti', async (t) => {
  const { clock, key, ring: { published }, signer } = await setup()
  const token = await signer.assertionFor(subject(), AUD)
  t.strictSame(decodeProtectedHeader(token), { alg: 'ES256', kid: key.kid, typ: 'JWT' })
  const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: published }), { issuer: ISSUER, audience: AUD, algorithms: ['ES256'], currentDate: new Date(clock.now()) })
  t.strictSame(Object.keys(payload).sort(), ['aud', 'email', 'exp', 'groups', 'iat', 'iss', 'jti', 'sub'])
  t.equal(payload.iss, ISSUER)
  t.equal(payload.aud, AUD)
  t.equal(payload.sub, 'dev-alice')
  t.equal(payload.email, 'alice@example.com')
  t.strictSame(payload.groups, ['admins', 'staff'])
  t.equal(payload.iat, Math.floor(clock.now() / 1000))
  t.equal(payload.exp! - payload.iat!, TTL / 1000)
  t.match(payload.jti, /^[0-9a-f-]{36}$/)
})

t.test('signer: a session reuses its assertion while more than half its lifetime is left, then gets a new one', async (t) => {
  const { clock, signer } = await setup()
  const first = await signer.assertionFor(subject(), AUD)
  for (let i = 0; i < 50; i++) t.equal(await signer.assertionFor(subject(), AUD), first)
  t.equal(signer.signed, 1, '51 requests, one signature')
  clock.advance(TTL / 2 - 2000)
  t.equal(await signer.assertionFor(subject(), AUD), first, 'still more than half left')
  clock.advance(2000)
  const second = await signer.assertionFor(subject(), AUD)
  t.not(second, first, 'half the lifetime gone: signed again')
  t.not(decodeJwt(second).jti, decodeJwt(first).jti)
  t.ok(decodeJwt(second).exp! - Math.floor(clock.now() / 1000) > TTL / 2000, 'an upstream always gets more than half a lifetime')
  t.equal(signer.signed, 2)
})

t.test('signer: the cache is per session, session generation, audience and key', async (t) => {
  const { ring, signer } = await setup()
  const base = await signer.assertionFor(subject(), AUD)
  const bob: Identity = { ...identity, sub: 'dev-bob', email: 'bob@example.com', groups: ['staff'] }
  const other = await signer.assertionFor(subject('sid-2', 1, bob), AUD)
  t.equal(decodeJwt(other).sub, 'dev-bob', 'another session never gets this one\'s assertion')
  const audience = await signer.assertionFor(subject(), 'https://other.internal:8443')
  t.equal(decodeJwt(audience).aud, 'https://other.internal:8443')
  const refreshed = await signer.assertionFor(subject('sid-1', 2, { ...identity, groups: ['staff'] }), AUD)
  t.strictSame(decodeJwt(refreshed).groups, ['staff'], 'a refreshed session (new generation) is signed again with its new claims')
  t.equal(signer.signed, 4)
  const jtis = new Set([base, other, audience, refreshed].map((token) => decodeJwt(token).jti))
  t.equal(jtis.size, 4, 'every signed assertion has its own jti')

  const k2 = await generateSigningKey()
  ring.use(k2)
  const rotated = await signer.assertionFor(subject(), AUD)
  t.equal(decodeProtectedHeader(rotated).kid, k2.kid, 'after a rotation a cached assertion of the old key is not reused')
  t.equal(signer.signed, 5)
})

t.test('signer: cachedAssertion answers without waiting exactly when assertionFor would reuse its cached token', async (t) => {
  const { clock, ring, signer } = await setup()
  t.equal(signer.cachedAssertion(subject(), AUD), null, 'nothing signed yet')
  const first = await signer.assertionFor(subject(), AUD)
  t.equal(signer.cachedAssertion(subject(), AUD), first)
  t.equal(signer.cachedAssertion(subject('sid-1', 2), AUD), null, 'another generation')
  t.equal(signer.cachedAssertion(subject('sid-2'), AUD), null, 'another session')
  t.equal(signer.cachedAssertion(subject(), 'https://other.internal:8443'), null, 'another audience')
  clock.advance(TTL / 2 - 2000)
  t.equal(signer.cachedAssertion(subject(), AUD), first, 'still more than half left')
  clock.advance(2000)
  t.equal(signer.cachedAssertion(subject(), AUD), null, 'half the lifetime gone')
  const second = await signer.assertionFor(subject(), AUD)
  t.equal(signer.cachedAssertion(subject(), AUD), second)
  ring.use(await generateSigningKey())
  t.equal(signer.cachedAssertion(subject(), AUD), null, 'after a rotation the old key\'s token is not served')
  t.equal(signer.signed, 2, 'cachedAssertion never signs')
})

t.test('signer: the cache holds at most maxEntries assertions', async (t) => {
  const { signer } = await setup({ maxEntries: 3 })
  for (const sid of ['a', 'b', 'c', 'd']) await signer.assertionFor(subject(sid), AUD)
  t.equal(signer.signed, 4)
  await signer.assertionFor(subject('d'), AUD)
  await signer.assertionFor(subject('c'), AUD)
  t.equal(signer.signed, 4, 'the newest are kept')
  await signer.assertionFor(subject('a'), AUD)
  t.equal(signer.signed, 5, 'the oldest was evicted')
})

t.test('signer: a lifetime that is not whole seconds is cut to whole seconds, never to zero', async (t) => {
  const clock = createFrozenClock()
  const { keyring } = fixedKeyring(await generateSigningKey())
  for (const [ttlMs, seconds] of [[90_500, 90], [500, 1]] as const) {
    const signer = createAssertionSigner({ keyring, issuer: ISSUER, ttlMs, now: clock.now })
    const payload = decodeJwt(await signer.assertionFor(subject(), AUD))
    t.equal(payload.exp! - payload.iat!, seconds)
  }
})
