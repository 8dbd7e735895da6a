import t from 'tap'
import { createLiveRouting } from '../../src/ops/live-routing.js'
import { decide } from '../../src/policy/decide.js'
import type { Identity } from '../../src/domain/types.js'
import { baseRaw, parseRaw } from '../fixtures/config/base.js'
import { testIdentity } from '../fixtures/session.js'

function identity (email: string): Identity {
  return testIdentity({ sub: email, email })
}

t.test('live routing: a reload swaps the routes and the rules behind the same objects', async (t) => {
  const first = parseRaw(baseRaw())
  const raw = baseRaw()
  raw.access = { email_domains: ['partner.org'], claims: { department: ['finance'] } }
  raw.routes.push({ path: '/finance/', upstream: 'http://127.0.0.1:9000', allow: { claims: { cost_center: ['42'] } } })
  const second = parseRaw(raw)

  const live = createLiveRouting(first.access, first.routes)
  const { routes, policy } = live
  t.equal(routes.match('/finance/x')?.path, '/')
  t.equal(decide(policy, routes.match('/x'), 'GET', identity('alice@example.com')).allow, true)
  t.strictSame([...live.keepClaims], [])

  live.apply(second.access, second.routes)
  t.equal(routes.match('/finance/x')?.path, '/finance/', 'the same route table object sees the new routes')
  t.equal(decide(policy, routes.match('/x'), 'GET', identity('alice@example.com')).allow, false, 'the new global rule applies')
  t.equal(decide(policy, routes.match('/x'), 'GET', identity('bob@partner.org')).allow, true)
  t.strictSame([...live.keepClaims].sort(), ['cost_center', 'department'], 'sign-in keeps the claims the new rules use')
})

t.test('live routing: a request that matched a route before a reload is judged by that route\'s own rule, never by the global rule alone', async (t) => {
  const raw = baseRaw()
  raw.routes.push({ path: '/admin/', upstream: 'http://127.0.0.1:9000', allow: { emails: ['root@example.com'] } })
  const first = parseRaw(raw)
  const live = createLiveRouting(first.access, first.routes)
  const matchedBefore = live.routes.match('/admin/users')
  t.equal(matchedBefore?.path, '/admin/')

  // The reload drops /admin/ while the request awaits its session.
  live.apply(parseRaw(baseRaw()).access, parseRaw(baseRaw()).routes)
  t.equal(live.routes.match('/admin/users')?.path, '/')
  const decision = decide(live.policy, matchedBefore, 'GET', identity('alice@example.com'))
  t.equal(decision.allow, false, 'still narrowed to root@example.com')
  t.equal(decide(live.policy, matchedBefore, 'GET', identity('root@example.com')).allow, true)
})
