/**
 * OpenID Connect Back-Channel Logout against the development provider with its back-channel
 * logout feature on: signing out at the provider ends the gateway session; crafted logout tokens
 * that are replayed, for another audience, carry a nonce or a bad signature are each refused with
 * 400 and end nothing.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { importJWK, SignJWT, type JWK } from 'jose'
import t from 'tap'
import { DEMO_ACCOUNTS, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'
let stack: Stack

t.before(async () => {
  stack = await startStack({
    providerOptions: (publicUrl) => ({
      backchannelLogout: true,
      clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${publicUrl}/oauth2/callback`], backchannel_logout_uri: `${publicUrl}/oauth2/backchannel_logout` }]
    })
  })
})
t.teardown(async () => { await stack?.close() })

const alice = DEMO_ACCOUNTS.find((a) => a.email === 'alice@example.com')!

async function signedIn (): Promise<CookieJar> {
  const jar = new CookieJar()
  await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
  return jar
}

async function whoami (jar: CookieJar): Promise<number> {
  return (await fetchWithJar(`${stack.url}/api/whoami`, jar, { headers: { accept: 'application/json' } })).status
}

async function post (body: string): Promise<Response> {
  return await fetch(`${stack.url}/oauth2/backchannel_logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://elsewhere.test' },
    body,
    signal: AbortSignal.timeout(10_000)
  })
}

/** A logout token as the provider would sign it, with `change` applied to the claims. */
async function logoutToken (change: (claims: Record<string, unknown>) => void = () => {}, key: JWK = stack.provider.signingKey as JWK): Promise<string> {
  const claims: Record<string, unknown> = { iss: stack.provider.issuer, aud: DEMO_CLIENT_ID, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), sub: alice.sub, events: { [EVENT]: {} } }
  change(claims)
  return await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: stack.provider.signingKey.kid }).sign(await importJWK(key, 'RS256'))
}

t.test('signing out at the provider ends the gateway session through the back channel', async (t) => {
  const jar = await signedIn()
  t.equal(await whoami(jar), 200)
  const before = stack.provider.counters.backchannelLogouts

  // The provider's end-session page, then its confirmation form (as a browser would submit it).
  const page = await fetchWithJar(`${stack.provider.issuer}/session/end`, jar)
  const html = await page.text()
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1]
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]
  t.ok(xsrf !== undefined && action !== undefined, 'the provider shows its sign-out form')
  const confirm = await fetchWithJar(new URL(action!, stack.provider.issuer), jar, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf: xsrf!, logout: 'yes' }).toString()
  })
  t.ok(confirm.status < 400, `the provider signed out (${confirm.status})`)
  t.equal(stack.provider.counters.backchannelLogouts, before + 1, 'the gateway answered the logout token with 200')
  t.equal(await whoami(jar), 401, 'the gateway session has ended')
  t.match(stack.logs.find((l) => l.audit === 'backchannel_logout' && l.count === 1), { msg: 'audit', by: 'backchannel_logout', selector: 'sid', email: 'alice@example.com' })
})

t.test('a valid logout token naming the subject ends its sessions: 200, no-store; the same token again is 400', async (t) => {
  const jar = await signedIn()
  const token = await logoutToken()
  const response = await post(new URLSearchParams({ logout_token: token }).toString())
  t.equal(response.status, 200, 'accepted without an origin check')
  t.equal(response.headers.get('cache-control'), 'no-store')
  t.equal(await whoami(jar), 401)

  const again = await signedIn()
  const replay = await post(new URLSearchParams({ logout_token: token }).toString())
  t.equal(replay.status, 400, 'a replayed jti is refused')
  t.equal(replay.headers.get('cache-control'), 'no-store')
  t.match(await replay.json(), { error: 'invalid_request', error_description: /already used/ })
  t.equal(await whoami(again), 200, 'nothing ended')
})

t.test('bad logout tokens are refused with 400 and end nothing', async (t) => {
  const jar = await signedIn()
  const otherKey = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) } as JWK
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['wrong audience', () => logoutToken((c) => { c.aud = 'someone-else' }), /not valid/],
    ['a nonce', () => logoutToken((c) => { c.nonce = 'n-0S6_WzA2Mj' }), /nonce/],
    ['a bad signature', () => logoutToken(() => {}, otherKey), /not valid/],
    ['a signature cut off', async () => (await logoutToken()).replace(/\.[^.]+$/, '.AAAA'), /not valid/],
    ['another issuer', () => logoutToken((c) => { c.iss = 'https://issuer.invalid' }), /not valid/],
    ['no events claim', () => logoutToken((c) => { delete c.events }), /event/],
    ['neither sub nor sid', () => logoutToken((c) => { delete c.sub }), /neither sub nor sid/],
    ['an iat far in the past', () => logoutToken((c) => { c.iat = Math.floor(Date.now() / 1000) - 3600 }), /not valid/],
    ['no jti', () => logoutToken((c) => { delete c.jti }), /not valid/]
  ]
  for (const [name, make, description] of cases) {
    const response = await post(new URLSearchParams({ logout_token: await make() }).toString())
    t.equal(response.status, 400, name)
    t.match(await response.json(), { error: 'invalid_request', error_description: description }, name)
  }
  for (const body of ['', 'logout_token=', 'logout_token=a.b.c', `logout_token=${await logoutToken()}&logout_token=x`]) {
    const response = await post(body)
    t.equal(response.status, 400, `body ${body.slice(0, 20)}`)
  }
  t.equal(await whoami(jar), 200, 'the session survived every bad token')
  t.ok(stack.logs.some((l) => l.audit === 'backchannel_logout' && l.outcome === 'refused'), 'refusals are audited')
})
