import t from 'tap'
import type { Test } from 'tap'
import * as client from 'openid-client'
import { startDevProvider, offlineAsConsent } from '../../demo/provider.js'
import type { DevProvider, DevProviderOptions } from '../../demo/provider.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { chooseAccount, fetchWithJar, followUntil, signIn, signInUntilCallback } from '../helpers/signin.js'
import { createServer } from 'node:http'
import { listenOnLoopback } from '../helpers/listen.js'
import { importPKCS8, SignJWT } from 'jose'
import { CLOUD_IDENTITY_SCOPE, DIRECTORY_SCOPE } from '../../demo/google-apis.js'

const CLIENT_ID = 'test-rp'
const CLIENT_SECRET = 'test-rp-secret'
// Never fetched: the walk stops when the provider redirects here.
const REDIRECT_URI = 'http://127.0.0.1:9/callback'

interface Rp { readonly provider: DevProvider, readonly config: client.Configuration }

async function startRp (tt: Test, extra: Partial<DevProviderOptions> = {}): Promise<Rp> {
  const provider = await startDevProvider({
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI] }],
    ...extra
  })
  tt.teardown(() => provider.close())
  const config = await discover(provider)
  return { provider, config }
}

async function discover (provider: DevProvider): Promise<client.Configuration> {
  return await client.discovery(new URL(provider.issuer), CLIENT_ID, CLIENT_SECRET, undefined,
    { execute: [client.allowInsecureRequests] })
}

interface Authorized { readonly callbackUrl: URL, readonly verifier: string, readonly state: string, readonly nonce: string }

/** Runs the browser half: authorize, choose `email` when the chooser shows, stop at the callback. */
async function authorize (rp: Rp, jar: CookieJar, email: string, params: Record<string, string> = {}): Promise<Authorized> {
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params
  })
  const isCallback = (u: URL): boolean => u.href.startsWith(REDIRECT_URI)
  let walk = await followUntil(url, jar, isCallback)
  if (!walk.matched) {
    const html = await walk.response!.text()
    walk = await followUntil(await chooseAccount(walk.url, html, jar, email), jar, isCallback)
  }
  if (!walk.matched) throw new Error(`did not reach the callback: ${walk.response?.status} ${walk.url}`)
  return { callbackUrl: new URL(walk.url), verifier, state, nonce }
}

async function signInTokens (rp: Rp, email: string, params: Record<string, string> = {}) {
  const a = await authorize(rp, new CookieJar(), email, params)
  return await client.authorizationCodeGrant(rp.config, a.callbackUrl,
    { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce })
}

async function refreshError (config: client.Configuration, token: string): Promise<{ status: number, error: string }> {
  try {
    await client.refreshTokenGrant(config, token)
  } catch (err) {
    if (err instanceof client.ResponseBodyError) return { status: err.status, error: err.error }
    // 5xx answers are not parsed by the client library: it hands over the raw response as cause.
    const cause = (err as { cause?: unknown }).cause
    if (cause instanceof Response) return { status: cause.status, error: ((await cause.json()) as { error: string }).error }
    throw err
  }
  throw new Error('the refresh succeeded')
}

t.test('offlineAsConsent: access_type=offline becomes offline_access with prompt=consent', async (tt) => {
  tt.equal(offlineAsConsent('scope=openid+email&access_type=offline'), 'scope=openid+email+offline_access&prompt=consent')
  tt.equal(offlineAsConsent('scope=openid+offline_access'), 'scope=openid+offline_access&prompt=consent')
  tt.equal(offlineAsConsent('scope=openid&access_type=offline&prompt=none'), 'scope=openid+offline_access&prompt=none')
  tt.equal(offlineAsConsent('scope=openid&access_type=online'), 'scope=openid')
  tt.equal(offlineAsConsent('scope=openid%20email&state=a%2Fb'), 'scope=openid%20email&state=a%2Fb', 'untouched otherwise')
})

t.test('sign-in page: lists the accounts, marked development only, and sets only pcsdev_ cookies', async (tt) => {
  const rp = await startRp(tt)
  const jar = new CookieJar()
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge('x'.repeat(43)), code_challenge_method: 'S256'
  })
  const walk = await followUntil(url, jar, () => false)
  tt.equal(walk.response?.status, 200)
  tt.match(new URL(walk.url).pathname, /^\/interaction\/[\w-]+$/)
  const html = await walk.response!.text()
  tt.match(html, '<title>Portcullis development sign-in</title>')
  tt.match(html, 'DEVELOPMENT ONLY')
  for (const email of ['alice@example.com', 'bob@example.com', 'mallory@evil.test']) tt.match(html, `data-email="${email}"`)
  tt.same(jar.all().map((c) => c.name).filter((n) => !n.startsWith('pcsdev_')), [])
})

t.test('google style: access_type=offline yields a refresh token and the claims are in the id token', async (tt) => {
  const rp = await startRp(tt, { accessTokenTtlSeconds: 120 })
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  tt.type(tokens.refresh_token, 'string')
  tt.equal(tokens.expires_in, 120, 'access token TTL honoured')
  const claims = tokens.claims()!
  tt.equal(claims.sub, 'dev-alice')
  tt.equal(claims.email, 'alice@example.com')
  tt.equal(claims.email_verified, true)
  tt.equal(claims.name, 'Alice Admin')
  tt.equal(claims.preferred_username, 'alice')
  tt.same(claims.groups, ['admins', 'staff'])
  tt.equal(claims.hd, 'example.com')
  tt.equal(rp.provider.counters.authorizationCodeGrants, 1)
})

t.test('standard oidc: the offline_access scope yields a refresh token; without it there is none', async (tt) => {
  const rp = await startRp(tt)
  const offline = await signInTokens(rp, 'bob@example.com', { scope: 'openid email offline_access' })
  tt.type(offline.refresh_token, 'string')
  tt.same(offline.claims()!.groups, ['staff'], 'groups released with the email scope')
  const online = await signInTokens(rp, 'mallory@evil.test')
  tt.equal(online.refresh_token, undefined)
  tt.equal(online.claims()!.hd, undefined, 'no hd claim for an account without one')
  tt.same(online.claims()!.groups, [])
})

t.test('refresh without rotation: the response omits refresh_token and the old one keeps working', async (tt) => {
  const rp = await startRp(tt)
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  const first = await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.equal(first.refresh_token, undefined)
  tt.not(first.access_token, tokens.access_token)
  const second = await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.type(second.access_token, 'string')
  tt.equal(rp.provider.counters.refreshGrants, 2)
  tt.equal(rp.provider.counters.refreshAttempts, 2)
})

t.test('refresh with rotation: a new token is returned and reusing the old one is invalid_grant', async (tt) => {
  const rp = await startRp(tt, { rotateRefreshTokens: true })
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  const rotated = await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.type(rotated.refresh_token, 'string')
  tt.not(rotated.refresh_token, tokens.refresh_token)
  tt.same(await refreshError(rp.config, tokens.refresh_token!), { status: 400, error: 'invalid_grant' })
  tt.equal(rp.provider.counters.refreshGrants, 1)
  tt.equal(rp.provider.counters.refreshAttempts, 2)
})

t.test('updateAccount: the next refresh carries the new claims', async (tt) => {
  const rp = await startRp(tt)
  const tokens = await signInTokens(rp, 'bob@example.com', { access_type: 'offline' })
  rp.provider.updateAccount('dev-bob', { email: 'robert@example.com', groups: ['staff', 'admins'] })
  const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.equal(refreshed.claims()!.email, 'robert@example.com')
  tt.same(refreshed.claims()!.groups, ['staff', 'admins'])
  tt.throws(() => { rp.provider.updateAccount('nobody', { name: 'x' }) }, /no development account/)
})

t.test('userinfo and revocation are served and counted', async (tt) => {
  const rp = await startRp(tt)
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  const info = await client.fetchUserInfo(rp.config, tokens.access_token, 'dev-alice')
  tt.equal(info.email, 'alice@example.com')
  tt.same(info.groups, ['admins', 'staff'])
  tt.equal(rp.provider.counters.userinfo, 1)
  await client.tokenRevocation(rp.config, tokens.refresh_token!)
  tt.equal(rp.provider.counters.revocations, 1)
  tt.same(await refreshError(rp.config, tokens.refresh_token!), { status: 400, error: 'invalid_grant' })
})

t.test('revocation: discovery lists the endpoint unless the provider is started without it', async (tt) => {
  const withIt = await startRp(tt)
  tt.equal(withIt.config.serverMetadata().revocation_endpoint, `${withIt.provider.issuer}/revoke`)
  const without = await startRp(tt, { revocation: false })
  tt.equal(without.config.serverMetadata().revocation_endpoint, undefined)
})

t.test('revokeAllGrants: later refreshes are invalid_grant', async (tt) => {
  const rp = await startRp(tt)
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  await rp.provider.revokeAllGrants('dev-alice')
  tt.same(await refreshError(rp.config, tokens.refresh_token!), { status: 400, error: 'invalid_grant' })
})

t.test('failNextRefresh: fails exactly one refresh with the chosen error', async (tt) => {
  const rp = await startRp(tt)
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  rp.provider.failNextRefresh('invalid_grant')
  tt.same(await refreshError(rp.config, tokens.refresh_token!), { status: 400, error: 'invalid_grant' })
  rp.provider.failNextRefresh('server_error')
  tt.same(await refreshError(rp.config, tokens.refresh_token!), { status: 500, error: 'server_error' })
  const ok = await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.type(ok.access_token, 'string')
  tt.equal(rp.provider.counters.refreshGrants, 1)
})

t.test('setDown: token endpoint and discovery answer 503 until it is back up', async (tt) => {
  const rp = await startRp(tt)
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  rp.provider.setDown(true)
  tt.same(await refreshError(rp.config, tokens.refresh_token!), { status: 503, error: 'temporarily_unavailable' })
  const discovery = await fetch(`${rp.provider.issuer}/.well-known/openid-configuration`)
  tt.equal(discovery.status, 503)
  await discovery.body?.cancel()
  rp.provider.setDown(false)
  tt.type((await client.refreshTokenGrant(rp.config, tokens.refresh_token!)).access_token, 'string')
  tt.equal(rp.provider.counters.refreshGrants, 1)
})

t.test('tokenDelay: token responses wait the configured time, and it can be changed', async (tt) => {
  const rp = await startRp(tt, { tokenDelayMs: 600 })
  const tokens = await signInTokens(rp, 'alice@example.com', { access_type: 'offline' })
  let started = performance.now()
  await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.ok(performance.now() - started >= 590, 'delayed by the initial setting')
  rp.provider.setTokenDelay(0)
  started = performance.now()
  await client.refreshTokenGrant(rp.config, tokens.refresh_token!)
  tt.ok(performance.now() - started < 500, 'no delay once set to 0')
})

t.test('prompt=none: login_required without a provider session, a code with one', async (tt) => {
  const rp = await startRp(tt)
  const jar = new CookieJar()
  const silent = await authorize(rp, jar, 'unused', { prompt: 'none' })
  tt.equal(silent.callbackUrl.searchParams.get('error'), 'login_required')
  await authorize(rp, jar, 'bob@example.com')
  const again = await authorize(rp, jar, 'unused', { prompt: 'none' })
  const tokens = await client.authorizationCodeGrant(rp.config, again.callbackUrl,
    { pkceCodeVerifier: again.verifier, expectedState: again.state, expectedNonce: again.nonce })
  tt.equal(tokens.claims()!.email, 'bob@example.com')
})

t.test('consent is automatic when the provider session exists and offline access is asked', async (tt) => {
  const rp = await startRp(tt)
  const jar = new CookieJar()
  await authorize(rp, jar, 'alice@example.com')
  // prompt=consent forces an interaction; it must pass through without a page.
  const a = await authorize(rp, jar, 'not-shown', { access_type: 'offline' })
  const tokens = await client.authorizationCodeGrant(rp.config, a.callbackUrl,
    { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce })
  tt.type(tokens.refresh_token, 'string')
  tt.equal(tokens.claims()!.sub, 'dev-alice')
})

t.test('pkce is required', async (tt) => {
  const rp = await startRp(tt)
  const url = client.buildAuthorizationUrl(rp.config, { redirect_uri: REDIRECT_URI, scope: 'openid' })
  const walk = await followUntil(url, new CookieJar(), (u) => u.href.startsWith(REDIRECT_URI))
  tt.equal(walk.matched, true)
  tt.equal(new URL(walk.url).searchParams.get('error'), 'invalid_request')
  tt.match(new URL(walk.url).searchParams.get('error_description'), /PKCE/)
})

t.test('cancel on the sign-in page returns access_denied to the client', async (tt) => {
  const rp = await startRp(tt)
  const jar = new CookieJar()
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge('y'.repeat(43)), code_challenge_method: 'S256'
  })
  const page = await followUntil(url, jar, () => false)
  const abort = await fetchWithJar(new URL(`${new URL(page.url).pathname}/abort`, page.url), jar, { method: 'POST' })
  tt.equal(abort.status, 303)
  const back = await followUntil(new URL(abort.headers.get('location')!, page.url), jar, (u) => u.href.startsWith(REDIRECT_URI))
  tt.equal(new URL(back.url).searchParams.get('error'), 'access_denied')
})

/**
 * A stand-in relying party shaped like the gateway (redirect to sign-in, callback under /oauth2,
 * a cookie, back to the page asked for), so the sign-in helpers are proven against this provider.
 */
async function startMiniGateway (tt: Test): Promise<{ url: string, provider: DevProvider }> {
  const pending = new Map<string, { verifier: string, rd: string }>()
  let config: client.Configuration | null = null
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base)
      if (url.pathname === '/oauth2/callback') {
        const flow = pending.get(url.searchParams.get('state') ?? '')
        pending.delete(url.searchParams.get('state') ?? '')
        if (flow === undefined) { res.writeHead(400).end('bad state'); return }
        const tokens = await client.authorizationCodeGrant(config!, url, { pkceCodeVerifier: flow.verifier, expectedState: url.searchParams.get('state')! })
        res.writeHead(302, { location: flow.rd, 'set-cookie': `_mini=${String(tokens.claims()!.email)}; Path=/; HttpOnly` }).end()
        return
      }
      const signedIn = /(?:^|; )_mini=([^;]+)/.exec(req.headers.cookie ?? '')
      if (signedIn !== null) { res.writeHead(200).end(`hello ${signedIn[1]}`); return }
      const verifier = client.randomPKCECodeVerifier()
      const state = client.randomState()
      pending.set(state, { verifier, rd: `${url.pathname}${url.search}` })
      const to = client.buildAuthorizationUrl(config!, {
        redirect_uri: `${base}/oauth2/callback`, scope: 'openid email profile', access_type: 'offline', state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256'
      })
      res.writeHead(302, { location: to.href }).end()
    })().catch(() => { res.writeHead(500).end() })
  })
  const base = await listenOnLoopback(server)
  tt.teardown(() => { server.closeAllConnections(); server.close() })
  const provider = await startDevProvider({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${base}/oauth2/callback`] }] })
  tt.teardown(() => provider.close())
  config = await discover(provider)
  return { url: base, provider }
}

t.test('signIn helper: signs in through a relying party and lands on the page first asked for', async (tt) => {
  const gateway = await startMiniGateway(tt)
  const jar = new CookieJar()
  const first = await signIn({ gatewayUrl: gateway.url, jar, email: 'bob@example.com', startPath: '/deep/page?q=1' })
  tt.equal(first.landedPath, '/deep/page?q=1')
  tt.equal(first.finalUrl, `${gateway.url}/deep/page?q=1`)
  tt.equal(first.status, 200)
  tt.equal(first.body, 'hello bob@example.com')
  tt.equal(new URL(first.callbackUrl).pathname, '/oauth2/callback')
  tt.equal(gateway.provider.counters.authorizationCodeGrants, 1)
  tt.type(jar.get('pcsdev_session'), 'string', 'the provider session cookie is kept in the jar')

  // A second sign-in as someone else forgets the provider session, so the chooser shows again.
  jar.deleteWhere((c) => c.name === '_mini')
  const second = await signIn({ gatewayUrl: gateway.url, jar, email: 'alice@example.com' })
  tt.equal(second.body, 'hello alice@example.com')
  tt.equal(second.landedPath, '/')
})

t.test('signInUntilCallback: stops before the callback so it can be replayed', async (tt) => {
  const gateway = await startMiniGateway(tt)
  const jar = new CookieJar()
  const { callbackUrl } = await signInUntilCallback({ gatewayUrl: gateway.url, jar, email: 'alice@example.com' })
  tt.equal(gateway.provider.counters.authorizationCodeGrants, 0, 'the code is not redeemed yet')
  tt.type(new URL(callbackUrl).searchParams.get('code'), 'string')
  const used = await fetchWithJar(callbackUrl, jar)
  tt.equal(used.status, 302)
  const replayed = await fetchWithJar(callbackUrl, jar)
  tt.equal(replayed.status, 400)
  tt.equal(gateway.provider.counters.authorizationCodeGrants, 1)
})

t.test('google apis: searchTransitiveGroups answers Google\'s shape, page by page, only for the token\'s own user with the scope', async (tt) => {
  const rp = await startRp(tt)
  const scoped = await signInTokens(rp, 'alice@example.com', { scope: `openid email ${CLOUD_IDENTITY_SCOPE}` })
  const search = async (token: string | null, member: string, pageToken?: string): Promise<{ status: number, body: any }> => {
    const query = `member_key_id == '${member}' && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels`
    const url = `${rp.provider.issuer}/v1/groups/-/memberships:searchTransitiveGroups?${new URLSearchParams({ query, pageSize: '200', ...(pageToken === undefined ? {} : { pageToken }) })}`
    const res = await fetch(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() }
  }
  const first = await search(scoped.access_token, 'alice@example.com')
  tt.equal(first.status, 200)
  tt.equal(first.body.memberships.length, 2, 'pages of 2')
  tt.type(first.body.nextPageToken, 'string')
  tt.match(first.body.memberships[0], { groupKey: { id: 'admins@example.com' }, group: /^groups\//, relationType: 'DIRECT', labels: { 'cloudidentity.googleapis.com/groups.discussion_forum': '' } })
  const second = await search(scoped.access_token, 'alice@example.com', first.body.nextPageToken)
  tt.strictSame(second.body.memberships.map((m: any) => [m.groupKey.id, m.relationType]), [['staff@example.com', 'INDIRECT']])
  tt.equal(second.body.nextPageToken, undefined, 'the last page has no token')

  const unscoped = await signInTokens(rp, 'alice@example.com')
  const denied = await search(unscoped.access_token, 'alice@example.com')
  tt.equal(denied.status, 403)
  tt.match(denied.body, { error: { code: 403, status: 'PERMISSION_DENIED', message: String, errors: Array } })
  tt.equal((await search(scoped.access_token, 'bob@example.com')).status, 403, 'not someone else\'s groups')
  tt.equal((await search(null, 'alice@example.com')).body.error.status, 'UNAUTHENTICATED')
  rp.provider.googleApis.failNext({ status: 429, retryAfterSeconds: 2 })
  const limited = await fetch(`${rp.provider.issuer}/v1/groups/-/memberships:searchTransitiveGroups?query=x`, { headers: { authorization: `Bearer ${scoped.access_token}` } })
  tt.equal(limited.status, 429)
  tt.equal(limited.headers.get('retry-after'), '2')
  tt.equal(((await limited.json()) as any).error.status, 'RESOURCE_EXHAUSTED')
})

t.test('google apis: a service account\'s JWT-bearer grant, then groups.list?userKey= with direct groups only', async (tt) => {
  const rp = await startRp(tt)
  const key = rp.provider.googleApis.serviceAccountKey('reader@portcullis-dev.iam.gserviceaccount.com')
  const grant = async (claims: Record<string, unknown>, signingKey = key.private_key): Promise<{ status: number, body: any }> => {
    const now = Math.floor(Date.now() / 1000)
    const assertion = await new SignJWT({ scope: DIRECTORY_SCOPE, ...claims }).setProtectedHeader({ alg: 'RS256', kid: key.private_key_id })
      .setIssuer(key.client_email as string).setAudience(key.token_uri as string).setIssuedAt(now).setExpirationTime(now + 3600)
      .sign(await importPKCS8(signingKey as string, 'RS256'))
    const res = await fetch(key.token_uri as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }) })
    return { status: res.status, body: await res.json() }
  }
  const list = async (token: string, userKey: string): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${rp.provider.issuer}/admin/directory/v1/groups?userKey=${encodeURIComponent(userKey)}&maxResults=200`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() }
  }
  const other = rp.provider.googleApis.serviceAccountKey('other@portcullis-dev.iam.gserviceaccount.com')
  tt.equal((await grant({ sub: 'alice@example.com' }, other.private_key)).body.error, 'invalid_grant', 'a key of another account does not verify')
  const asAdmin = await grant({ sub: 'alice@example.com' })
  tt.equal(asAdmin.status, 200)
  tt.match(asAdmin.body, { access_token: String, expires_in: Number, token_type: 'Bearer' })
  const alice = await list(asAdmin.body.access_token, 'alice@example.com')
  tt.match(alice.body, { kind: 'admin#directory#groups', etag: String, groups: [{ kind: 'admin#directory#group', email: 'admins@example.com', id: String, name: 'admins' }, { email: 'eng@example.com' }] })
  tt.equal(alice.body.nextPageToken, undefined)
  tt.notOk(JSON.stringify(alice.body).includes('staff@'), 'no nested group')
  const noAdmin = await grant({})
  tt.equal((await list(noAdmin.body.access_token, 'alice@example.com')).status, 403, 'without delegation to an admin')
})
