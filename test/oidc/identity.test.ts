/**
 * Identity values are normalised once, where the identity is built from the provider's claims:
 * trimmed, and dropped when a control character remains. The policy, the identity headers, the
 * forward-auth headers and the signed assertion then all carry exactly the same value.
 */
import { decodeJwt } from 'jose'
import t from 'tap'
import { generateSigningKey } from '../../src/assertion/key.js'
import { createAssertionSigner } from '../../src/assertion/signer.js'
import { identityFromClaims, identityText } from '../../src/oidc/identity.js'
import { compilePolicy, decide } from '../../src/policy/decide.js'
import { authRequestHeaders, createIdentityHeaders } from '../../src/proxy/identity-headers.js'
import type { RouteConfig } from '../../src/config/types.js'
import { configWith } from '../fixtures/config/base.js'

const provider = configWith((raw) => { raw.provider = { ...raw.provider, type: 'oidc', issuer: 'https://id.example.com', groups_claim: 'groups' } }).provider

t.test('identity text: trimmed; empty or with a control character it is dropped', async (t) => {
  t.equal(identityText('  admins \t'), 'admins')
  t.equal(identityText('Alice Admin'), 'Alice Admin')
  t.equal(identityText('   '), null)
  t.equal(identityText(''), null)
  t.equal(identityText(42), null)
  const bad = ['ad\u0000mins', 'a\r\nX-Injected: 1', 'tab\tinside', 'del\u007f', 'c1\u0085', 'line\u2028sep', 'rtl\u202Eoverride', 'lrm\u200E']
  bad.forEach((value, i) => { t.equal(identityText(value), null, `control character case ${i}`) })
  t.equal(identityText('Jos\u00e9 Gonz\u00e1lez'), 'Jos\u00e9 Gonz\u00e1lez', 'letters outside ASCII are kept')
})

t.test('identity: groups, names, email and claims are normalised at sign-in; unusable entries are dropped', async (t) => {
  const identity = identityFromClaims(provider, new Set(['department', 'tier']), {
    sub: 'user-1',
    email: ' alice@example.com ',
    email_verified: true,
    name: ' Alice\u0007 ',
    preferred_username: '  alice  ',
    groups: [' admins', 'staff ', 'ops\r\nX-Evil: 1', '', '   ', 'admins', 7],
    department: ' engineering ',
    tier: ['gold ', 'bad\u0000', ' silver']
  })
  t.equal(identity.email, 'alice@example.com')
  t.equal(identity.name, null, 'a control character drops the value, never cleans it')
  t.equal(identity.preferredUsername, 'alice')
  t.strictSame(identity.groups, ['admins', 'staff'], 'trimmed, controls and empties dropped, no repeats')
  t.strictSame(identity.claims, { department: 'engineering', tier: ['gold', 'silver'] })
})

t.test('identity: a subject or email that is not one clean value refuses the sign-in', async (t) => {
  const claims = { sub: 'user-1', email: 'alice@example.com', email_verified: true }
  t.throws(() => identityFromClaims(provider, new Set(), { ...claims, sub: ' user-1' }), { code: 'PCS_LOGIN_CLAIMS_INVALID' })
  t.throws(() => identityFromClaims(provider, new Set(), { ...claims, sub: 'user\u0000-1' }), { code: 'PCS_LOGIN_CLAIMS_INVALID' })
  t.throws(() => identityFromClaims(provider, new Set(), { ...claims, email: 'alice@example.com\r\n' + 'x' }), { code: 'PCS_LOGIN_CLAIMS_INVALID' })
})

t.test('identity: the policy, the headers, forward-auth and the assertion use the same normalised values', async (t) => {
  const identity = identityFromClaims(provider, new Set(), {
    sub: 'user-1', email: 'alice@example.com ', email_verified: true, preferred_username: ' alice ', groups: [' admins ', 'x\u0000y', 'staff']
  })
  const config = configWith((raw) => { raw.access = { email_domains: ['example.com'] } })
  const admin: RouteConfig = { path: '/admin/', upstream: 'http://127.0.0.1:8080', public: false, api: false, allow: { emails: [], emailDomains: [], groups: ['admins'], claims: {} }, methods: null, refreshOnUpstream401: false, stripPrefix: false, bearer: false }
  const decision = decide(compilePolicy(config.access, [admin]), admin, 'GET', identity)
  t.equal(decision.rule, 'routes[/admin/].allow.groups: admins', 'the policy admits the trimmed group')

  const proxied = createIdentityHeaders(config.identity, { cookieNames: ['_portcullis'] }).apply({}, { identity })
  t.equal(proxied['x-forwarded-email'], 'alice@example.com')
  t.equal(proxied['x-forwarded-preferred-username'], 'alice')
  t.equal(proxied['x-forwarded-groups'], 'admins,staff')

  t.strictSame(authRequestHeaders(identity), {
    'x-auth-request-user': 'user-1',
    'x-auth-request-email': 'alice@example.com',
    'x-auth-request-preferred-username': 'alice',
    'x-auth-request-groups': 'admins,staff'
  }, 'forward-auth writes the same values as the proxy')

  const key = await generateSigningKey()
  const signer = createAssertionSigner({ keyring: { signingKey: async () => key, signingKeyNow: () => key, publicKeys: async () => [key.publicJwk] }, issuer: 'https://apps.example.com', ttlMs: 60_000, now: Date.now })
  const payload = decodeJwt(await signer.assertionFor({ sessionId: 's', generation: 1, identity }, 'http://127.0.0.1:8080'))
  t.equal(payload.email, 'alice@example.com')
  t.strictSame(payload.groups, ['admins', 'staff'])
})
