import { createHmac, createPublicKey } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import { DEMO_CLIENT_ID } from '../../demo/accounts.js'
import { startGoogleLikeSigner, type GoogleLikeSigner } from '../helpers/google-signer.js'
import { jwksCooldownMs } from '../../src/http/bearer.js'
import { listenOnLoopback } from '../helpers/listen.js'
import { startStack, type RawConfig, type Stack } from '../helpers/stack.js'

/** An upstream that records every request it sees: the proof that a refused token stops at the gateway. */
async function recordingUpstream (): Promise<{ url: string, seen: Array<{ path: string, headers: IncomingHttpHeaders }>, close: () => Promise<void> }> {
  const seen: Array<{ path: string, headers: IncomingHttpHeaders }> = []
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }))
  })
  const url = await listenOnLoopback(server)
  return { url, seen, close: async () => { await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) } }
}

function bearerRoutes (upstream: string) {
  return (raw: RawConfig): void => {
    raw.routes = [
      { path: '/', upstream },
      { path: '/machine/', upstream, api: true, bearer: true },
      { path: '/machine-admin/', upstream, api: true, bearer: true, allow: { groups: ['admins'] } },
      { path: '/public/', upstream, public: true }
    ]
    raw.access = { email_domains: ['example.com'], emails: ['ci@portcullis-dev.iam.gserviceaccount.com'] }
    raw.server.trusted_proxies = ['127.0.0.1/32']
  }
}

async function call (stack: Stack, path: string, token: string | null): Promise<{ status: number, body: any, headers: Headers }> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (token !== null) headers.authorization = `Bearer ${token}`
  const response = await fetch(`${stack.url}${path}`, { headers, redirect: 'manual' })
  const text = await response.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: response.status, body, headers: response.headers }
}

function b64 (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

t.test('bearer: ID tokens minted by the development provider', async (t) => {
  const upstream = await recordingUpstream()
  const stack = await startStack({ store: 'memory', upstreamUrl: upstream.url, configure: bearerRoutes(upstream.url) })
  t.teardown(async () => { await stack.close(); await upstream.close() })
  const provider = stack.provider
  const now = Math.floor(Date.now() / 1000)
  const alice = await provider.mintIdToken('dev-alice', DEMO_CLIENT_ID)

  t.test('a valid token on an opted-in route reaches the upstream with the identity headers and assertion, and no cookie', async (t) => {
    const before = upstream.seen.length
    const res = await call(stack, '/machine/x', alice)
    t.equal(res.status, 200)
    t.equal(res.headers.get('set-cookie'), null, 'no session cookie')
    t.equal(upstream.seen.length, before + 1)
    const seen = upstream.seen.at(-1)
    t.equal(seen?.headers['x-forwarded-email'], 'alice@example.com')
    t.equal(seen?.headers['x-forwarded-user'], 'dev-alice')
    t.equal(seen?.headers['x-forwarded-groups'], 'admins,staff')
    t.match(seen?.headers['x-portcullis-assertion'], /^[\w-]+\.[\w-]+\.[\w-]+$/)
    t.equal((await call(stack, '/machine-admin/x', alice)).status, 200, 'group rules decide with the token\'s groups')
  })

  t.test('forward-auth shares the step: an opted-in route\'s token is accepted there, a refused one is a 401', async (t) => {
    const ask = async (token: string): Promise<Response> => await fetch(`${stack.url}/oauth2/auth`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-uri': '/machine/x', accept: 'application/json' } })
    const ok = await ask(alice)
    t.equal(ok.status, 202)
    t.equal(ok.headers.get('x-auth-request-email'), 'alice@example.com')
    t.equal(ok.headers.get('set-cookie'), null)
    t.equal((await ask(await provider.mintIdToken('dev-alice', 'another-client'))).status, 401)
  })

  t.test('the access rules decide for a verified token', async (t) => {
    const before = upstream.seen.length
    const bob = await provider.mintIdToken('dev-bob', DEMO_CLIENT_ID)
    t.equal((await call(stack, '/machine-admin/x', bob)).status, 403)
    const mallory = await provider.mintIdToken('dev-mallory', DEMO_CLIENT_ID)
    t.equal((await call(stack, '/machine/x', mallory)).status, 403)
    t.equal(upstream.seen.length, before)
  })

  t.test('a route that has not opted in treats the token as absent', async (t) => {
    const before = upstream.seen.length
    const res = await call(stack, '/x', alice)
    t.equal(res.status, 401)
    t.equal(res.body.error, 'PCS_UNAUTHENTICATED')
    t.match(res.headers.get('www-authenticate'), /^Portcullis /)
    t.equal(upstream.seen.length, before)
  })

  const jwks = await (await fetch(`${provider.issuer}/certs`)).json() as { keys: Array<Record<string, unknown>> }
  const publicPem = createPublicKey({ key: jwks.keys[0] as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const [header, payload, signature] = alice.split('.') as [string, string, string]
  const tampered = `${header}.${b64({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), email: 'bob@example.com', sub: 'dev-bob' })}.${signature}`
  const hsHeader = b64({ alg: 'HS256', typ: 'JWT', kid: jwks.keys[0]?.kid })
  const hsPayload = b64({ iss: provider.issuer, aud: DEMO_CLIENT_ID, sub: 'dev-alice', email: 'alice@example.com', email_verified: true, iat: now, exp: now + 3600 })
  const hs256 = `${hsHeader}.${hsPayload}.${createHmac('sha256', publicPem).update(`${hsHeader}.${hsPayload}`).digest('base64url')}`
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${hsPayload}.`

  const refused: Array<[string, string | Promise<string>, RegExp]> = [
    ['expired', provider.mintIdToken('dev-alice', DEMO_CLIENT_ID, { iat: now - 7200, exp: now - 3600 }), /expired/],
    ['not yet valid', provider.mintIdToken('dev-alice', DEMO_CLIENT_ID, { nbf: now + 3600 }), /not valid yet/],
    ['issued in the future', provider.mintIdToken('dev-alice', DEMO_CLIENT_ID, { iat: now + 3600, exp: now + 7200 }), /iat/],
    ['wrong audience', provider.mintIdToken('dev-alice', 'another-client'), /audience/],
    ['wrong issuer', provider.mintIdToken('dev-alice', DEMO_CLIENT_ID, { iss: 'https://accounts.google.com' }), /issuer/],
    ['alg none', none, /algorithm|malformed/],
    ['HS256 signed with the public key', hs256, /algorithm/],
    ['tampered payload', tampered, /signature/],
    ['no email', provider.mintIdToken('dev-alice', DEMO_CLIENT_ID, { email: undefined }), /no email/],
    ['unverified email', provider.mintIdToken('dev-alice', DEMO_CLIENT_ID, { email_verified: false }), /not verified/],
    ['not a JWT', 'abc', /not a JWT/]
  ]
  for (const [name, token, reason] of refused) {
    t.test(`refused: ${name} -> 401 Bearer invalid_token, upstream untouched`, async (t) => {
      const before = upstream.seen.length
      const res = await call(stack, '/machine/x', await token)
      t.equal(res.status, 401)
      t.equal(res.body.error, 'PCS_BEARER_INVALID')
      t.match(res.body.error_description, reason)
      t.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token", error_description="[^"]+"$/)
      t.equal(upstream.seen.length, before)
      // The same token on a route that has not opted in is simply absent.
      t.equal((await call(stack, '/x', await token)).body.error, 'PCS_UNAUTHENTICATED')
      t.equal(upstream.seen.length, before)
    })
  }

  t.test('every refusal writes a bearer_refused audit line without the token', async (t) => {
    const lines = stack.logs.filter((l) => l.audit === 'bearer_refused')
    t.ok(lines.length >= refused.length)
    t.notMatch(stack.logText(), alice.split('.')[2] as string)
  })
})

t.test('bearer: a local RS256 signer behaving like Google (keys rotated by kid)', async (t) => {
  const signer: GoogleLikeSigner = await startGoogleLikeSigner()
  const upstream = await recordingUpstream()
  const stack = await startStack({
    store: 'memory',
    upstreamUrl: upstream.url,
    configure: (raw) => {
      bearerRoutes(upstream.url)(raw)
      raw.provider.issuer = signer.issuer
      raw.bearer = { audiences: ['https://apps.example.com'], clock_skew: '30s' }
    }
  })
  t.teardown(async () => { await stack.close(); await upstream.close(); await signer.close() })
  const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000)
    // A service account's ID token (`gcloud auth print-identity-token --audiences=... --include-email`).
    return { iss: signer.issuer, aud: 'https://apps.example.com', azp: '1234567890', sub: '1234567890', email: 'ci@portcullis-dev.iam.gserviceaccount.com', email_verified: true, iat: now, exp: now + 3600, ...over }
  }

  t.test('a service account token is allowed by its email; the old and the rotated key both verify', async (t) => {
    t.equal((await call(stack, '/machine/x', await signer.sign(claims()))).status, 200)
    const fetches = signer.jwksFetches()
    const oldKid = signer.currentKid()
    signer.rotate()
    // Refetches for unknown kids are rate-limited: the next one is allowed after the cooldown.
    await new Promise((resolve) => setTimeout(resolve, jwksCooldownMs + 100))
    t.equal((await call(stack, '/machine/x', await signer.sign(claims()))).status, 200, 'a new kid makes the gateway fetch the keys again')
    t.equal(signer.jwksFetches(), fetches + 1)
    t.equal((await call(stack, '/machine/x', await signer.sign(claims(), { kid: oldKid }))).status, 200)
    t.equal(upstream.seen.at(-1)?.headers['x-forwarded-email'], 'ci@portcullis-dev.iam.gserviceaccount.com')
  })

  t.test('unknown kids are refused and cannot make the gateway fetch the keys over and over', async (t) => {
    await new Promise((resolve) => setTimeout(resolve, jwksCooldownMs + 100))
    const before = upstream.seen.length
    const fetches = signer.jwksFetches()
    for (let i = 0; i < 5; i++) {
      const { kid, key } = signer.unpublishedKey()
      const res = await call(stack, '/machine/x', await signer.sign(claims(), { kid, key }))
      t.equal(res.status, 401)
      t.match(res.body.error_description, /kid|signature/)
    }
    t.ok(signer.jwksFetches() - fetches <= 1, 'at most one fetch within the cooldown')
    t.equal(upstream.seen.length, before)
  })

  t.test('a token for the client id is refused when bearer.audiences names others; skew is bounded', async (t) => {
    t.equal((await call(stack, '/machine/x', await signer.sign(claims({ aud: DEMO_CLIENT_ID })))).status, 401)
    const now = Math.floor(Date.now() / 1000)
    t.equal((await call(stack, '/machine/x', await signer.sign(claims({ exp: now - 10 })))).status, 200, 'within 30s of skew')
    t.equal((await call(stack, '/machine/x', await signer.sign(claims({ exp: now - 120 })))).status, 401, 'beyond the skew')
  })
})
