import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { fetchWithJar, signInUntilCallback } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

/** The authorization request the gateway sends the browser to. */
async function authorizationRequest (stack: Stack): Promise<URL> {
  const response = await fetch(`${stack.url}/oauth2/start?rd=/x`, { redirect: 'manual' })
  const location = response.headers.get('location')
  if (response.status !== 302 || location === null) throw new Error(`start answered ${response.status}`)
  return new URL(location)
}

/** Signs in as `email` and returns the callback's answer (without following it). */
async function callback (stack: Stack, email: string): Promise<{ response: Response, jar: CookieJar }> {
  const jar = new CookieJar()
  const { callbackUrl } = await signInUntilCallback({ gatewayUrl: stack.url, jar, email })
  return { response: await fetchWithJar(callbackUrl, jar, { headers: { accept: 'application/json' } }), jar }
}

t.test('google: PKCE S256, state, nonce, access_type=offline, prompt=consent and hd are sent', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.provider.hosted_domain = 'example.com' } })
  t.teardown(() => stack.close())
  const url = await authorizationRequest(stack)
  const q = url.searchParams
  t.equal(`${url.origin}${url.pathname}`, `${stack.provider.issuer}/auth`)
  t.equal(q.get('response_type'), 'code')
  t.equal(q.get('code_challenge_method'), 'S256')
  t.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
  t.match(q.get('state'), /^[A-Za-z0-9_-]{32,}$/)
  t.match(q.get('nonce'), /^[A-Za-z0-9_-]{32,}$/)
  t.equal(q.get('access_type'), 'offline')
  t.equal(q.get('prompt'), 'consent')
  t.equal(q.get('hd'), 'example.com')
  t.equal(q.get('redirect_uri'), `${stack.url}/oauth2/callback`)
  t.same(q.get('scope')?.split(' ').sort(), ['email', 'openid', 'profile'])
  // Two sign-ins never share state, nonce or verifier.
  const again = (await authorizationRequest(stack)).searchParams
  t.not(again.get('state'), q.get('state'))
  t.not(again.get('nonce'), q.get('nonce'))
  t.not(again.get('code_challenge'), q.get('code_challenge'))
})

t.test('google: hosted_domain is enforced on the hd claim, not only asked for', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.provider.hosted_domain = 'example.com'; raw.access = { email_domains: ['*'] } } })
  t.teardown(() => stack.close())
  const ok = await callback(stack, 'alice@example.com')
  t.equal(ok.response.status, 302, 'an account of the hosted domain signs in')
  // mallory has no hd claim at all (a consumer account): refused although the access rules allow everyone.
  const refused = await callback(stack, 'mallory@evil.test')
  t.equal(refused.response.status, 403)
  t.equal(((await refused.response.json()) as { error: string }).error, 'PCS_LOGIN_CLAIMS_INVALID')
  t.equal(refused.jar.get('_portcullis'), undefined, 'no session cookie')
})

t.test('google: an hd claim of another domain is refused', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.provider.hosted_domain = 'other.example'; raw.access = { email_domains: ['*'] } } })
  t.teardown(() => stack.close())
  const refused = await callback(stack, 'alice@example.com')
  t.equal(refused.response.status, 403)
  t.equal(((await refused.response.json()) as { error: string }).error, 'PCS_LOGIN_CLAIMS_INVALID')
})

t.test('an unverified email never signs in', async (t) => {
  const stack = await startStack({ store: 'memory' })
  t.teardown(() => stack.close())
  stack.provider.updateAccount('dev-bob', { email_verified: false })
  const refused = await callback(stack, 'bob@example.com')
  t.equal(refused.response.status, 403)
  t.equal(((await refused.response.json()) as { error: string }).error, 'PCS_LOGIN_CLAIMS_INVALID')
  t.equal(refused.jar.get('_portcullis'), undefined)
})

t.test('google: prompt is configurable', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.provider.prompt = 'select_account' } })
  t.teardown(() => stack.close())
  t.equal((await authorizationRequest(stack)).searchParams.get('prompt'), 'select_account')
})

t.test('oidc: offline_access is asked for when the provider lists it; no Google parameters', async (t) => {
  const stack = await startStack({ store: 'memory', configure: (raw) => { raw.provider.type = 'oidc' } })
  t.teardown(() => stack.close())
  const q = (await authorizationRequest(stack)).searchParams
  t.ok(q.get('scope')?.split(' ').includes('offline_access'))
  t.equal(q.get('access_type'), null)
  t.equal(q.get('hd'), null)
  t.equal(q.get('code_challenge_method'), 'S256')
  const ok = await callback(stack, 'alice@example.com')
  t.equal(ok.response.status, 302)
  const who = await fetchWithJar(`${stack.url}/oauth2/userinfo`, ok.jar, { headers: { accept: 'application/json' } })
  t.equal(who.status, 200)
  t.equal(((await who.json()) as { email: string }).email, 'alice@example.com')
})
