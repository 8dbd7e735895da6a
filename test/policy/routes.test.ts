import t from 'tap'
import type { RouteConfig } from '../../src/config/types.js'
import { normalisePath } from '../../src/proxy/path.js'
import { createRouteTable } from '../../src/policy/routes.js'

function route (path: string, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    path,
    upstream: 'http://127.0.0.1:8080',
    public: false,
    api: false,
    allow: null,
    methods: null,
    refreshOnUpstream401: false,
    stripPrefix: false,
    bearer: false,
    ...extra
  }
}

// The contract's example routes.
const root = route('/')
const statics = route('/static/', { public: true })
const api = route('/api/', { upstream: 'http://127.0.0.1:9000', api: true })
const contract = createRouteTable([root, statics, api])

t.test('routes: the contract example routes by longest prefix', async t => {
  t.equal(contract.match('/'), root)
  t.equal(contract.match('/index.html'), root)
  t.equal(contract.match('/static/'), statics)
  t.equal(contract.match('/static/app.js'), statics)
  t.equal(contract.match('/static/a/b/c.css'), statics)
  t.equal(contract.match('/static'), root)
  t.equal(contract.match('/staticx/app.js'), root)
  t.equal(contract.match('/api/'), api)
  t.equal(contract.match('/api/v1/users'), api)
  t.equal(contract.match('/api'), root)
  t.equal(contract.match('/STATIC/app.js'), root)
})

t.test('routes: a prefix without a trailing slash covers itself and its subtree only', async t => {
  const docs = route('/docs')
  const table = createRouteTable([docs])
  t.equal(table.match('/docs'), docs)
  t.equal(table.match('/docs/'), docs)
  t.equal(table.match('/docs/a'), docs)
  t.equal(table.match('/docsx'), null)
  t.equal(table.match('/doc'), null)
  t.equal(table.match('/'), null)
})

t.test('routes: no route covering a path gives null', async t => {
  const table = createRouteTable([route('/app/')])
  t.equal(table.match('/'), null)
  t.equal(table.match('/app'), null)
  t.equal(table.match('/other/app/'), null)
  t.equal(createRouteTable([]).match('/'), null)
})

t.test('routes: the longest prefix wins whatever the configured order', async t => {
  const a = route('/a/')
  const ab = route('/a/b/')
  const abc = route('/a/b/c')
  for (const order of [[a, ab, abc], [abc, ab, a], [ab, abc, a]]) {
    const table = createRouteTable(order)
    t.equal(table.match('/a/x'), a)
    t.equal(table.match('/a/b/x'), ab)
    t.equal(table.match('/a/b/c'), abc)
    t.equal(table.match('/a/b/c/d'), abc)
    t.equal(table.match('/a/b/cd'), ab)
  }
})

t.test('routes: of two equal prefixes the first configured wins', async t => {
  const first = route('/x/', { upstream: 'http://127.0.0.1:1' })
  const second = route('/x/', { upstream: 'http://127.0.0.1:2' })
  t.equal(createRouteTable([first, second]).match('/x/y'), first)
})

t.test('routes: the table does not depend on later changes to the input array', async t => {
  const routes = [root]
  const table = createRouteTable(routes)
  routes.push(statics)
  t.equal(table.match('/static/a'), root)
})

t.test('routes: a public prefix never reaches a protected path', async t => {
  const publicTable = createRouteTable([root, statics, route('/public', { public: true }), api])
  // [request-target, the normalised path, or null when the gateway refuses it with 400]
  const attacks: ReadonlyArray<readonly [string, string | null]> = [
    ['/static/../admin', '/admin'],
    ['/static/%2e%2e/admin', '/admin'],
    ['/static/%2E%2E/admin', '/admin'],
    ['/static/.%2e/admin', '/admin'],
    ['/static/./../admin', '/admin'],
    ['/static//../admin', '/admin'],
    ['/static/x/../../admin', '/admin'],
    ['/static/../api/secret', '/api/secret'],
    ['/static/%2e%2e/%2e%2e/admin', null],
    ['/static/..%2fadmin', null],
    ['/static/..%2Fadmin', null],
    ['/static/%2e%2e%2fadmin', null],
    ['/static/..%5cadmin', null],
    ['/static%2f..%2fadmin', null],
    ['/static/..;/admin', null],
    ['/static/..%3badmin', null],
    ['/static/..%00/admin', null],
    ['/static\\..\\admin', null],
    ['/static/..\\admin', null],
    ['/static/\t/../admin', null],
    ['/public/../admin', '/admin'],
    ['/public/..', '/'],
    ['/publicity', '/publicity'],
    ['/public%2fx/../../admin', null],
    // double encoding is data: only an upstream decoding twice would see a dot segment
    ['/static/%252e%252e/admin', '/static/%252e%252e/admin']
  ]
  for (const [target, expected] of attacks) {
    const normal = normalisePath(target)
    t.equal(normal?.path ?? null, expected, `${JSON.stringify(target)} normalises as expected`)
    if (normal === null) continue
    const matched = publicTable.match(normal.path)
    // Only a path that stays inside the public prefix may match it; everything else is protected.
    const inside = normal.path.startsWith('/static/') || normal.path === '/public' || normal.path.startsWith('/public/')
    t.equal(matched?.public ?? false, inside, `${JSON.stringify(target)} -> ${normal.path} is ${inside ? 'public' : 'protected'}`)
  }
})
