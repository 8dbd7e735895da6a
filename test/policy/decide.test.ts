import t from 'tap'
import type { RouteConfig } from '../../src/config/types.js'
import { compilePolicy, decide, type Outcome } from '../../src/policy/decide.js'
import type { Identity } from '../../src/domain/types.js'
import { testIdentity } from '../fixtures/session.js'
import { route, rule } from '../fixtures/policy.js'

function who (email: string, r: Partial<Identity> = {}): Identity {
  return testIdentity({ sub: `sub-${email}`, email, ...r })
}

const root = route('/')
const open = route('/static/', { public: true })
const openGetOnly = route('/feed/', { public: true, methods: ['GET'] })
const admin = route('/admin/', { allow: rule({ groups: ['admins'] }) })
const api = route('/api/', { api: true, allow: rule({ emails: ['boss@example.com'], claims: { department: ['engineering'] } }), methods: ['GET', 'POST'] })
const partners = route('/partners/', { allow: rule({ emailDomains: ['partner.org'] }) })
const routes = [root, open, openGetOnly, admin, api, partners]

const policy = compilePolicy(rule({
  emailDomains: ['example.com', 'Partner.ORG.'],
  emails: ['Contractor@Elsewhere.test', 'kim@elsewhere.test'],
  groups: ['contractors'],
  claims: { 'https://example.com/tier': ['gold'] }
}), routes)

interface Case {
  readonly name: string
  readonly route: RouteConfig | null
  readonly method?: string
  readonly identity: Identity | null
  readonly allow: boolean
  readonly outcome: Outcome
  readonly rule: string
}

const cases: Case[] = [
  // every kind of global rule
  { name: 'global email_domains admits a domain', route: root, identity: who('ann@example.com'), allow: true, outcome: 'allowed', rule: 'access.email_domains: example.com' },
  { name: 'a configured domain is canonical (case, trailing dot)', route: root, identity: who('pat@partner.org'), allow: true, outcome: 'allowed', rule: 'access.email_domains: partner.org' },
  { name: 'global emails admits one address, whatever its case', route: root, identity: who('CONTRACTOR@elsewhere.TEST'), allow: true, outcome: 'allowed', rule: 'access.emails: contractor@elsewhere.test' },
  { name: 'global groups admits a member', route: root, identity: who('x@other.test', { groups: ['staff', 'contractors'] }), allow: true, outcome: 'allowed', rule: 'access.groups: contractors' },
  { name: 'global claims admits a string claim value', route: root, identity: who('x@other.test', { claims: { 'https://example.com/tier': 'gold' } }), allow: true, outcome: 'allowed', rule: 'access.claims.https://example.com/tier: gold' },
  { name: 'global claims admits one value of a list claim', route: root, identity: who('x@other.test', { claims: { 'https://example.com/tier': ['silver', 'gold'] } }), allow: true, outcome: 'allowed', rule: 'access.claims.https://example.com/tier: gold' },
  // deny by default
  { name: 'deny by default: nothing matches', route: root, identity: who('mallory@evil.test'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'deny by default: a subdomain is not the domain', route: root, identity: who('ann@mail.example.com'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'deny by default: a parent domain is not the domain', route: root, identity: who('ann@com'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'deny by default: a domain suffix is not the domain', route: root, identity: who('ann@evilexample.com'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'deny by default: group names are exact (case)', route: root, identity: who('x@other.test', { groups: ['Contractors'] }), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'deny by default: claim values are exact', route: root, identity: who('x@other.test', { claims: { 'https://example.com/tier': 'Gold' } }), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'deny by default: a claim of another name does not count', route: root, identity: who('x@other.test', { claims: { tier: 'gold' } }), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'an unverified email admits nothing, not even by group', route: root, identity: who('ann@example.com', { emailVerified: false, groups: ['contractors'] }), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  // email tricks
  { name: 'trick: several @ with the allowed domain last', route: root, identity: who('mallory@evil.test@example.com'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'trick: trailing dot on the domain', route: root, identity: who('ann@example.com.'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'trick: Cyrillic look-alike in the domain', route: root, identity: who('ann@ex\u0430mple.com'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'trick: KELVIN SIGN folding into an allowed address', route: root, identity: who('\u212Aim@elsewhere.test'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'the plain address the KELVIN SIGN imitates is allowed', route: root, identity: who('Kim@elsewhere.test'), allow: true, outcome: 'allowed', rule: 'access.emails: kim@elsewhere.test' },
  { name: 'trick: fullwidth @', route: root, identity: who('ann\uff20example.com'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'trick: a bad email still lets a group rule decide', route: root, identity: who('ann@example.com.', { groups: ['contractors'] }), allow: true, outcome: 'allowed', rule: 'access.groups: contractors' },
  // precedence within one rule: emails, then email_domains, then groups, then claims
  { name: 'precedence: emails is reported before groups', route: root, identity: who('contractor@elsewhere.test', { groups: ['contractors'] }), allow: true, outcome: 'allowed', rule: 'access.emails: contractor@elsewhere.test' },
  { name: 'precedence: email_domains is reported before claims', route: root, identity: who('ann@example.com', { claims: { 'https://example.com/tier': 'gold' } }), allow: true, outcome: 'allowed', rule: 'access.email_domains: example.com' },
  // route allow narrows, never widens
  { name: 'route allow: a member of the route group passes both rules', route: admin, identity: who('ann@example.com', { groups: ['admins'] }), allow: true, outcome: 'allowed', rule: 'routes[/admin/].allow.groups: admins' },
  { name: 'route allow: passing the global rule alone is not enough', route: admin, identity: who('bob@example.com', { groups: ['staff'] }), allow: false, outcome: 'denied', rule: 'routes[/admin/].allow: no rule matched (deny by default)' },
  { name: 'route allow: the route rule alone is not enough (it narrows, never widens)', route: admin, identity: who('mallory@evil.test', { groups: ['admins'] }), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'route allow emails', route: api, identity: who('Boss@Example.com'), allow: true, outcome: 'allowed', rule: 'routes[/api/].allow.emails: boss@example.com' },
  { name: 'route allow claims', route: api, identity: who('eve@example.com', { claims: { department: 'engineering' } }), allow: true, outcome: 'allowed', rule: 'routes[/api/].allow.claims.department: engineering' },
  { name: 'route allow email_domains', route: partners, identity: who('pat@partner.org'), allow: true, outcome: 'allowed', rule: 'routes[/partners/].allow.email_domains: partner.org' },
  { name: 'route allow email_domains refuses another allowed domain', route: partners, identity: who('ann@example.com'), allow: false, outcome: 'denied', rule: 'routes[/partners/].allow: no rule matched (deny by default)' },
  // public and sign-in
  { name: 'public: allowed with nobody signed in', route: open, identity: null, allow: true, outcome: 'public', rule: 'routes[/static/].public' },
  { name: 'public: allowed whoever is signed in', route: open, identity: who('mallory@evil.test'), allow: true, outcome: 'public', rule: 'routes[/static/].public' },
  { name: 'protected: nobody signed in needs sign-in', route: root, identity: null, allow: false, outcome: 'sign_in_required', rule: 'not signed in' },
  { name: 'no route (forward-auth): the global rule decides', route: null, identity: who('ann@example.com'), allow: true, outcome: 'allowed', rule: 'access.email_domains: example.com' },
  { name: 'no route (forward-auth): deny by default', route: null, identity: who('mallory@evil.test'), allow: false, outcome: 'denied', rule: 'access: no rule matched (deny by default)' },
  { name: 'no route (forward-auth): nobody signed in', route: null, identity: null, allow: false, outcome: 'sign_in_required', rule: 'not signed in' },
  // methods come first
  { name: 'methods: a listed method passes', route: api, method: 'post', identity: who('boss@example.com'), allow: true, outcome: 'allowed', rule: 'routes[/api/].allow.emails: boss@example.com' },
  { name: 'methods: an unlisted method is refused before anything else', route: api, method: 'DELETE', identity: who('boss@example.com'), allow: false, outcome: 'method_not_allowed', rule: 'routes[/api/].methods: DELETE not listed' },
  { name: 'methods: refused before sign-in is asked for', route: api, method: 'PUT', identity: null, allow: false, outcome: 'method_not_allowed', rule: 'routes[/api/].methods: PUT not listed' },
  { name: 'methods: a listed GET admits HEAD', route: api, method: 'HEAD', identity: who('boss@example.com'), allow: true, outcome: 'allowed', rule: 'routes[/api/].allow.emails: boss@example.com' },
  { name: 'methods: apply to public routes too', route: openGetOnly, method: 'POST', identity: null, allow: false, outcome: 'method_not_allowed', rule: 'routes[/feed/].methods: POST not listed' },
  { name: 'methods: a public route with its method listed', route: openGetOnly, method: 'GET', identity: null, allow: true, outcome: 'public', rule: 'routes[/feed/].public' },
  { name: 'methods: no list means every method', route: root, method: 'DELETE', identity: who('ann@example.com'), allow: true, outcome: 'allowed', rule: 'access.email_domains: example.com' }
]

t.test('decide: every rule kind, precedence, deny by default and the email tricks', async (t) => {
  for (const c of cases) {
    const d = decide(policy, c.route, c.method ?? 'GET', c.identity)
    t.strictSame({ allow: d.allow, outcome: d.outcome, rule: d.rule }, { allow: c.allow, outcome: c.outcome, rule: c.rule }, c.name)
  }
})

t.test('decide: an allow reports every rule that admitted, global first', async (t) => {
  const d = decide(policy, admin, 'GET', who('ann@example.com', { groups: ['admins'] }))
  t.strictSame(d.matched, ['access.email_domains: example.com', 'routes[/admin/].allow.groups: admins'])
  t.strictSame(decide(policy, root, 'GET', who('ann@example.com')).matched, ['access.email_domains: example.com'])
  t.strictSame(decide(policy, root, 'GET', who('mallory@evil.test')).matched, [])
})

t.test('decide: "*" admits any well-formed verified email, and nothing else', async (t) => {
  const any = compilePolicy(rule({ emailDomains: ['*'] }), [root])
  t.strictSame(decide(any, root, 'GET', who('someone@anywhere.test')).rule, 'access.email_domains: *')
  t.equal(decide(any, root, 'GET', who('someone@anywhere.test.')).allow, false, 'not a trailing-dot address')
  t.equal(decide(any, root, 'GET', who('someone@anywhere.test', { emailVerified: false })).allow, false, 'not an unverified one')
})

t.test('decide: pure — the same inputs give the same decision, and inputs are not changed', async (t) => {
  const identity = Object.freeze(who('ann@example.com', { groups: Object.freeze(['admins']) }))
  const first = decide(policy, admin, 'GET', identity)
  for (let i = 0; i < 3; i++) t.strictSame(decide(policy, admin, 'GET', identity), first)
})
