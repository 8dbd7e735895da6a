/** The admission verdicts, table-tested without a server: what the gate and forward-auth render. */
import t from 'tap'
import { createAdmission, type IdentifyVerdict } from '../../src/http/admission.js'
import type { AuthOutcome } from '../../src/http/authenticate.js'
import { compilePolicy } from '../../src/policy/decide.js'
import { createRouteTable } from '../../src/policy/routes.js'
import { newTicket } from '../../src/session/ticket.js'
import type { Identity } from '../../src/domain/types.js'
import { testIdentity, testRecord } from '../fixtures/session.js'
import { route, rule } from '../fixtures/policy.js'

const pub = route('/public/', { public: true })
const app = route('/app/')
const admin = route('/admin/', { allow: rule({ groups: ['admins'] }), methods: ['GET'] })
const routes = [pub, app, admin]
const policy = compilePolicy(rule({ emailDomains: ['example.com'] }), routes)
const options = { routes: createRouteTable(routes), policy, authPrefix: '/oauth2', reservedPaths: new Set(['/ping']) }
const proxy = createAdmission({ ...options, scope: 'proxy' })
const forwardAuth = createAdmission({ ...options, scope: 'forward-auth' })

const identity = (groups: string[]): Identity => testIdentity({ sub: 's', email: 'bob@example.com', groups })
const ticket = newTicket()
const signedIn = (groups: string[]): AuthOutcome => ({ kind: 'signed_in', ticket, record: testRecord(Date.now(), { identity: identity(groups) }), refreshed: false })

t.test('admission: first-stage verdicts', async (t) => {
  t.same(proxy.target('/a/%zz', 'GET'), { kind: 'bad_path', code: 'PCS_BAD_PATH' })
  t.same(proxy.target('/app/.../x', 'GET'), { kind: 'bad_path', code: 'PCS_BAD_PATH' })
  t.same(proxy.target('/x/../oauth2/start', 'GET'), { kind: 'not_found' })
  t.same(proxy.target('/ping', 'GET'), { kind: 'not_found' })
  t.same(proxy.target('/nowhere?q=1', 'GET'), { kind: 'no_route', path: '/nowhere', search: '?q=1', route: null })
  t.same(proxy.target('/public/a.css', 'GET'), { kind: 'public', path: '/public/a.css', search: '', route: pub, rule: 'routes[/public/].public' })
  t.same(proxy.target('/admin/x', 'POST'), { kind: 'method_not_allowed', path: '/admin/x', search: '', route: admin, rule: 'routes[/admin/].methods: POST not listed' })
  t.same(proxy.target('/app/x', 'GET'), { kind: 'identify', path: '/app/x', search: '', route: app })
  t.equal(proxy.target('/APP/x', 'GET').kind, 'no_route', 'the proxy serves no path no route covers as forwarded')
  t.equal((proxy.target('/app/x;p/../y', 'GET') as IdentifyVerdict).route, app)
  t.equal(proxy.target('/PUBLIC/x', 'GET').kind, 'no_route', 'not public: no route covers it as forwarded')
  t.same(forwardAuth.target('/PUBLIC/x', 'GET'), { kind: 'identify', path: '/PUBLIC/x', search: '', route: null }, 'forward-auth: the global rule')
  t.same(forwardAuth.target(null, 'GET'), { kind: 'identify', path: null, search: '', route: null })
  t.same(forwardAuth.target('/oauth2/start', 'GET'), { kind: 'identify', path: '/oauth2/start', search: '', route: null })
})

t.test('admission: ambiguous readings are a bad path with their own code', async (t) => {
  const getOnly = route('/', { methods: ['GET'] })
  const admins = route('/admin/', { allow: rule({ groups: ['admins'] }) })
  const a = createAdmission({ routes: createRouteTable([getOnly, admins]), policy: compilePolicy(rule({ emailDomains: ['example.com'] }), [getOnly, admins]), scope: 'proxy', authPrefix: '/oauth2', reservedPaths: new Set() })
  t.same(a.target('/ADMIN/x', 'GET'), { kind: 'bad_path', code: 'PCS_AMBIGUOUS_PATH' })
})

t.test('admission: second-stage verdicts carry the identity and the session it came from', async (t) => {
  const target = proxy.target('/admin/x', 'GET') as IdentifyVerdict
  t.same(proxy.identify(target, 'GET', { kind: 'anonymous', hadCookie: false, reason: 'no_cookie' }),
    { kind: 'sign_in', path: '/admin/x', search: '', route: admin, silent: false, expired: false, clearCookie: false, bearerRefused: null })
  t.same(proxy.identify(target, 'GET', { kind: 'anonymous', hadCookie: true, reason: 'refresh_invalid_grant' }),
    { kind: 'sign_in', path: '/admin/x', search: '', route: admin, silent: false, expired: true, clearCookie: true, bearerRefused: null })
  t.match(proxy.identify(target, 'GET', { kind: 'anonymous', hadCookie: false, reason: 'bearer_invalid', bearerError: 'token expired' }),
    { kind: 'sign_in', bearerRefused: 'token expired' }, 'a refused bearer token is named, never a plain sign-in')
  t.match(proxy.identify(target, 'GET', { kind: 'reauth', ticket }), { kind: 'sign_in', silent: true, expired: false, clearCookie: false })
  const bob = signedIn(['staff'])
  t.match(proxy.identify(target, 'GET', bob), { kind: 'forbidden', route: admin, rule: 'routes[/admin/].allow: no rule matched (deny by default)', session: { ticket } })
  const alice = signedIn(['admins'])
  const allowed = proxy.identify(target, 'GET', alice)
  t.match(allowed, { kind: 'allowed', route: admin, refreshed: false, rule: 'routes[/admin/].allow.groups: admins' })
  if (allowed.kind === 'allowed') {
    t.equal(allowed.identity, alice.kind === 'signed_in' ? alice.record.identity : null, 'the identity itself, not a copy')
    t.equal(allowed.session?.ticket, ticket)
  }
})
