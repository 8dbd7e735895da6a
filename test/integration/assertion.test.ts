import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import { Redis } from 'ioredis'
import t from 'tap'
import { startDemoApp } from '../../demo/upstream.js'
import { buildGateway } from '../../src/app.js'
import { LEAD_MS, SYNC_MS } from '../../src/assertion/keyring.js'
import { createTestClock } from '../helpers/clock.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { baseRawConfig, configFrom, startStack, type Stack } from '../helpers/stack.js'

/*
 * The signed assertion end to end: real gateways, the development provider, real Redis, and the
 * assertion verified the way an application would, with jose fetching the JWKS over HTTP.
 */

const TTL_SECONDS = 120
const HEADER = 'x-portcullis-assertion'

async function upstreamHeaders (stack: Stack, jar: CookieJar | null, path = '/who', headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const init = { headers: { accept: 'application/json', ...headers } }
  const res = jar === null ? await fetch(`${stack.url}${path}`, { ...init, redirect: 'manual' }) : await fetchWithJar(`${stack.url}${path}`, jar, init)
  if (res.status !== 200) throw new Error(`${path}: status ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { headers: Record<string, string> }).headers
}

async function assertionOf (stack: Stack, jar: CookieJar, path = '/who', header = HEADER): Promise<string> {
  const token = (await upstreamHeaders(stack, jar, path))[header]
  if (token === undefined) throw new Error(`no ${header} upstream`)
  return token
}

function jwks (stack: Stack): ReturnType<typeof createRemoteJWKSet> {
  return createRemoteJWKSet(new URL(`${stack.url}/oauth2/jwks.json`))
}

async function publishedKids (stack: Stack): Promise<string[]> {
  const res = await fetch(`${stack.url}/oauth2/jwks.json`)
  return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort()
}

async function verify (token: string, stack: Stack, options: { keysFrom?: Stack, at?: number } = {}): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, jwks(options.keysFrom ?? stack), {
    issuer: stack.config.server.publicUrl,
    audience: new URL(stack.upstreamUrl).origin,
    algorithms: ['ES256'],
    ...(options.at === undefined ? {} : { currentDate: new Date(options.at) })
  })
  return payload
}

function keyFile (): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-assertion-it-'))
  const path = join(dir, 'assertion.pem')
  writeFileSync(path, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' }) as string)
  return path
}

t.test('two replicas on one Redis', async (t) => {
  const a = await startStack({
    store: 'redis',
    configure: (raw) => { raw.routes.push({ path: '/based/', upstream: `${raw.routes[0].upstream}/base` }) }
  })
  t.teardown(() => a.close())
  const b = await startStack({ store: 'redis', redis: a.redis!, upstreamUrl: a.upstreamUrl })
  t.teardown(() => b.close())
  const alice = new CookieJar()
  await signIn({ gatewayUrl: a.url, jar: alice, email: 'alice@example.com' })

  t.test('the assertion verifies with jose against the JWKS fetched over HTTP, with exactly the promised claims', async (t) => {
    const token = await assertionOf(a, alice)
    const header = decodeProtectedHeader(token)
    t.strictSame(header, { alg: 'ES256', kid: header.kid, typ: 'JWT' })
    t.strictSame(await publishedKids(a), [header.kid])
    const payload = await verify(token, a)
    t.strictSame(Object.keys(payload).sort(), ['aud', 'email', 'exp', 'groups', 'iat', 'iss', 'jti', 'sub'])
    t.equal(payload.iss, a.url)
    t.equal(payload.aud, a.upstreamUrl, 'aud is the upstream origin')
    t.equal(payload.sub, 'dev-alice')
    t.equal(payload.email, 'alice@example.com')
    t.strictSame(payload.groups, ['admins', 'staff'])
    t.equal(payload.exp! - payload.iat!, TTL_SECONDS)
    t.ok(Math.abs(payload.iat! - Date.now() / 1000) < 30, 'iat is now')
  })

  t.test('aud is the upstream origin, without the route\'s base path', async (t) => {
    const token = await assertionOf(a, alice, '/based/x')
    t.equal(decodeJwt(token).aud, a.upstreamUrl)
  })

  t.test('the JWKS is public, cacheable for a short time, and holds public keys only', async (t) => {
    const res = await fetch(`${a.url}/oauth2/jwks.json`)
    t.equal(res.status, 200)
    t.equal(res.headers.get('cache-control'), 'public, max-age=60')
    t.equal(res.headers.get('content-type'), 'application/jwk-set+json; charset=utf-8')
    const body = await res.json() as { keys: Array<Record<string, unknown>> }
    t.equal(body.keys.length, 1)
    t.strictSame(Object.keys(body.keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
    t.equal(body.keys[0]!.alg, 'ES256')
    t.equal(body.keys[0]!.use, 'sig')
    const logged = a.logs.filter((l) => l.path === '/oauth2/jwks.json')
    t.equal(logged.at(-1)?.outcome, 'gateway', 'logged like every other gateway endpoint')
  })

  t.test('a session reuses its assertion; another session gets its own, with its own jti', async (t) => {
    const first = await assertionOf(a, alice)
    t.equal(await assertionOf(a, alice), first)
    const bob = new CookieJar()
    await signIn({ gatewayUrl: a.url, jar: bob, email: 'bob@example.com' })
    const other = await assertionOf(a, bob)
    const payload = await verify(other, a)
    t.equal(payload.sub, 'dev-bob')
    t.strictSame(payload.groups, ['staff'])
    t.not(payload.jti, decodeJwt(first).jti)
  })

  t.test('a client-sent assertion header never reaches the upstream, in any spelling', async (t) => {
    const headers = await upstreamHeaders(a, alice, '/who', { 'X-Portcullis-Assertion': 'forged' })
    t.not(headers[HEADER], 'forged')
    t.equal((await verify(headers[HEADER]!, a)).sub, 'dev-alice', 'the upstream gets the gateway\'s own')
    const pub = await upstreamHeaders(a, null, '/public/x', { 'X-Portcullis-Assertion': 'forged' })
    t.equal(pub[HEADER], undefined, 'a public route carries no assertion at all')

    // fetch refuses `_` in header names: send the underscore variant raw.
    const raw = await new Promise<any>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: new URL(a.url).port, path: '/who', headers: { accept: 'application/json', cookie: alice.header(a.url) ?? '', X_Portcullis_Assertion: 'forged' } }, (res) => {
        let data = ''
        res.on('data', (c) => { data += c })
        res.on('end', () => resolve(JSON.parse(data)))
      })
      req.on('error', reject)
      req.end()
    })
    t.equal(raw.headers.x_portcullis_assertion, undefined)
    t.not(raw.headers[HEADER], 'forged')
  })

  t.test('two replicas sign with the same key: either one\'s JWKS verifies the other\'s assertion', async (t) => {
    const jar = new CookieJar()
    await signIn({ gatewayUrl: b.url, jar, email: 'alice@example.com' })
    const fromB = await assertionOf(b, jar)
    const fromA = await assertionOf(a, alice)
    t.equal(decodeProtectedHeader(fromB).kid, decodeProtectedHeader(fromA).kid)
    t.strictSame(await publishedKids(b), await publishedKids(a))
    t.equal((await verify(fromB, b, { keysFrom: a })).iss, b.url)
    t.equal((await verify(fromA, a, { keysFrom: b })).iss, a.url)
  })

  t.test('after a config reload the new and the unchanged routes carry assertions for their own upstream', async (t) => {
    const other = await startDemoApp({ host: '127.0.0.1', port: 0 })
    t.teardown(() => other.close())
    const otherOrigin = new URL(other.url).origin
    const raw = structuredClone(a.raw)
    raw.routes.push({ path: '/moved/', upstream: otherOrigin })
    const plan = a.gateway.reload(configFrom(raw))
    t.strictSame(plan.reloaded, ['routes'])
    t.equal(decodeJwt(await assertionOf(a, alice, '/moved/x')).aud, otherOrigin)
    t.equal((await verify(await assertionOf(a, alice), a)).aud, a.upstreamUrl)
  })

  t.test('userinfo: exactly {user, email, preferred_username, groups} when signed in; 401 JSON otherwise', async (t) => {
    const res = await fetchWithJar(`${a.url}/oauth2/userinfo`, alice, { headers: { accept: 'application/json' } })
    t.equal(res.status, 200)
    t.equal(res.headers.get('cache-control'), 'no-store')
    t.strictSame(await res.json(), { user: 'dev-alice', email: 'alice@example.com', preferred_username: 'alice', groups: ['admins', 'staff'] })
    const anon = await fetch(`${a.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } })
    t.equal(anon.status, 401)
    const body = await anon.json() as Record<string, unknown>
    t.equal(body.error, 'PCS_UNAUTHENTICATED')
    t.equal(body.sign_in, `${a.url}/oauth2/start`)
  })
})

t.test('key file rotation: replaced key file and restart; the old key verifies until its assertions expired', async (t) => {
  const redis: RedisServer = await startRedis()
  t.teardown(() => redis.stop())
  const app = await startDemoApp({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const upstreamUrl = app.url.replace(/\/$/, '')
  const clock = createTestClock()
  const withKey = (path: string) => (raw: Record<string, any>): void => {
    raw.identity = { assertion: { key_file: path, header: 'X-App-Assertion' } }
  }
  const before = await startStack({ store: 'redis', redis, upstreamUrl, now: clock.now, configure: withKey(keyFile()) })
  const jar = new CookieJar()
  await signIn({ gatewayUrl: before.url, jar, email: 'alice@example.com' })
  const headers = await upstreamHeaders(before, jar, '/who', { 'X-App-Assertion': 'forged', 'X-Portcullis-Assertion': 'forged' })
  t.equal(headers[HEADER], undefined, 'the default header name stays reserved: a client copy is dropped')
  const old = headers['x-app-assertion']!
  const oldKid = decodeProtectedHeader(old).kid!
  t.strictSame(await publishedKids(before), [oldKid])
  await before.close()

  // The same address, the same Redis: the session survives the restart, the key does not.
  const port = Number(new URL(before.url).port)
  const after = await startStack({ store: 'redis', redis, port, upstreamUrl, now: clock.now, configure: withKey(keyFile()) })
  t.teardown(() => after.close())
  const fresh = await assertionOf(after, jar, '/who', 'x-app-assertion')
  const newKid = decodeProtectedHeader(fresh).kid!
  t.not(newKid, oldKid, 'new assertions use the new key')
  t.strictSame(await publishedKids(after), [oldKid, newKid].sort(), 'the old key is still published')
  t.equal((await verify(old, after, { at: clock.now() })).sub, 'dev-alice', 'an assertion of the old key still verifies')
  t.equal((await verify(fresh, after, { at: clock.now() })).sub, 'dev-alice')

  // Once every assertion of the old key has expired, the key leaves the JWKS.
  clock.advance(TTL_SECONDS * 1000 + 2 * SYNC_MS + 5000)
  t.strictSame(await publishedKids(after), [newKid])
  const oldExp = decodeJwt(old).exp! * 1000
  await t.rejects(verify(old, after, { at: oldExp - 1000 }), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
})

t.test('a generated key rotates: announced ahead, then used; old assertions verify until they expire', async (t) => {
  const clock = createTestClock()
  const stack = await startStack({ store: 'memory', now: clock.now, configure: (raw) => { raw.identity = { assertion: { rotate: '1h' } } } })
  t.teardown(() => stack.close())
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const first = await assertionOf(stack, jar)
  const k1 = decodeProtectedHeader(first).kid!
  t.strictSame(await publishedKids(stack), [k1])

  clock.advance(3_600_000 - LEAD_MS)
  t.equal(decodeProtectedHeader(await assertionOf(stack, jar)).kid, k1, 'the old key signs while the new one is announced')
  const announced = await publishedKids(stack)
  t.equal(announced.length, 2)
  const k2 = announced.find((k) => k !== k1)!

  // Margins of seconds: the test clock also moves with real time.
  clock.advance(LEAD_MS - 10_000)
  const last = await assertionOf(stack, jar)
  t.equal(decodeProtectedHeader(last).kid, k1, 'just before the switch the old key signs')
  clock.advance(10_000)
  const next = await assertionOf(stack, jar)
  t.equal(decodeProtectedHeader(next).kid, k2, 'after the switch the new key signs')
  t.strictSame(await publishedKids(stack), announced)
  t.equal((await verify(last, stack, { at: clock.now() })).sub, 'dev-alice', 'the last assertion of the old key still verifies')
  t.equal((await verify(next, stack, { at: clock.now() })).sub, 'dev-alice')

  clock.advance(TTL_SECONDS * 1000 + 2 * SYNC_MS + 5000)
  t.strictSame(await publishedKids(stack), [k2], 'the old key leaves once its assertions expired')
})

t.test('with the assertion disabled no header is sent and the JWKS is empty', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.identity = { assertion: { enabled: false } } } })
  t.teardown(() => stack.close())
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  const headers = await upstreamHeaders(stack, jar, '/who', { 'X-Portcullis-Assertion': 'forged' })
  t.equal(headers[HEADER], undefined)
  t.equal(headers['x-forwarded-email'], 'alice@example.com')
  const res = await fetch(`${stack.url}/oauth2/jwks.json`)
  t.equal(res.status, 200)
  t.strictSame(await res.json(), { keys: [] })
})

t.test('a key file that is not an EC P-256 private key stops start-up with an error naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-assertion-bad-'))
  const path = join(dir, 'rsa.pem')
  writeFileSync(path, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
  // The provider and upstream come from a working stack, so the failed start leaves nothing running.
  const ok = await startStack({ store: 'memory' })
  t.teardown(() => ok.close())
  await t.rejects(startStack({ store: 'memory', provider: ok.provider, upstreamUrl: ok.upstreamUrl, configure: (raw) => { raw.identity = { assertion: { key_file: path } } } }), {
    code: 'PCS_CONFIG_INVALID',
    message: `identity.assertion.key_file: ${path} is not an EC P-256 private key (ES256 needs the P-256 curve)`
  })
})

t.test('a bad key file stops start-up before anything is opened: no Redis connection is left behind', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-assertion-start-'))
  const key = join(dir, 'not-a-key.pem')
  writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')
  const raw = baseRawConfig({ publicUrl: 'http://127.0.0.1:1', port: 0, issuer: 'http://127.0.0.1:1', upstream: 'http://127.0.0.1:1', store: 'redis', redisUrl: redis.url })
  raw.identity = { assertion: { key_file: key } }
  await t.rejects(buildGateway(configFrom(raw)), {
    code: 'PCS_CONFIG_INVALID',
    message: `identity.assertion.key_file: ${key} is not a PEM private key (expected an unencrypted EC P-256 key)`
  })
  // An open connection would keep `portcullis serve` from exiting after printing the error.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const probe = new Redis(redis.url)
  t.teardown(() => probe.disconnect())
  const clients = await probe.client('LIST') as string
  t.equal(clients.includes('name=portcullis'), false, clients)
})
