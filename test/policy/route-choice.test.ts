import fc from 'fast-check'
import t from 'tap'
import type { RouteConfig } from '../../src/config/types.js'
import { compilePolicy } from '../../src/policy/decide.js'
import { AMBIGUOUS, UNREADABLE, atLeastAsStrict, chooseRoute, explainReadings } from '../../src/policy/route-choice.js'
import { normalisePath } from '../../src/proxy/path.js'
import { createRouteTable } from '../../src/policy/routes.js'
import { readAs, readPath, readerCovers, strictestHandler, type Handler } from '../helpers/upstream-readers.js'
import { route, rule } from '../fixtures/policy.js'


// The routes.
const root = route('/', { public: true })
const staff = route('/staff/')
const admin = route('/admin/', { allow: rule({ groups: ['admins'] }) })
const routes = [root, staff, admin]
const table = createRouteTable(routes)
const policy = compilePolicy(rule({ emailDomains: ['example.com'] }), routes)
const byHandler: Record<Handler, RouteConfig> = { public: root, staff, admin }

function choose (raw: string, scope: 'proxy' | 'forward-auth' = 'proxy'): ReturnType<typeof chooseRoute> | 'bad' {
  const normalised = normalisePath(raw)
  return normalised === null ? 'bad' : chooseRoute(table, policy, normalised.path, scope)
}

t.test('route choice: every spelling of the issue is judged by /admin/', async (t) => {
  for (const path of ['/admin%2Fsecret', '/ADMIN/secret', '/Admin/secret', '/admin;x/secret', '/admin./secret', '/admin%2e/secret',
    '//admin/secret', '/%61dmin/secret', '/admin', '/admin%5Csecret', '/admin%20/secret', '/admin%3Bx/secret', '/admin%00/secret',
    '/%41DMIN/secret', '/admin.%20./secret', '/ADMIN%2Fsecret;x']) {
    t.equal(choose(path), admin, path)
  }
  for (const path of ['/staff%2Fx', '/STAFF/x', '/staff;x/y', '/staff./x', '//staff/x', '/staff']) t.equal(choose(path), staff, path)
  for (const path of ['/', '/docs/a', '/adminx', '/administrator/x', '/docs/admin/x']) t.equal(choose(path), root, path)
})

t.test('route choice: the Kelvin sign folds to k for a Unicode case-insensitive reader', async (t) => {
  const kelvin = route('/kiosk/', { allow: rule({ groups: ['kiosk'] }) })
  const tbl = createRouteTable([root, kelvin])
  const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), [root, kelvin])
  t.equal(chooseRoute(tbl, pol, '/%E2%84%AAiosk/x', 'proxy'), kelvin)
  t.equal(chooseRoute(tbl, pol, '/Kiosk/x', 'proxy'), kelvin)
})

t.test('route choice: paths whose readings agree keep their route (one reading, no allocation path)', async (t) => {
  const api = route('/api/')
  const tbl = createRouteTable([root, api])
  const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), [root, api])
  t.equal(chooseRoute(tbl, pol, '/api/projects/group%2Fproject', 'proxy'), api, 'an encoded slash under one route stays there')
  t.equal(chooseRoute(tbl, pol, '/api/Projects/X', 'proxy'), api)
  t.equal(chooseRoute(tbl, pol, '/docs/Read.Me', 'proxy'), root)
  t.equal(chooseRoute(tbl, pol, '/STATIC/app.css', 'proxy'), root)
  t.equal(chooseRoute(tbl, pol, '/apix', 'proxy'), root, 'a sibling that shares the first letters is not the prefix')
})

t.test('route choice: a looser reading never takes over from a stricter route as forwarded', async (t) => {
  const pub = route('/public/', { public: true })
  const signedIn = route('/')
  const tbl = createRouteTable([signedIn, pub])
  const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), [signedIn, pub])
  for (const path of ['/PUBLIC/x', '/public', '/Public;x/y', '/x/..%2Fpublic/']) {
    const normalised = normalisePath(path)
    if (normalised === null) { t.pass(`${path} refused outright`); continue }
    t.equal(chooseRoute(tbl, pol, normalised.path, 'proxy'), signedIn, path)
  }
})

t.test('route choice: readings that select routes of which none is the strictest are ambiguous', async (t) => {
  // `/` limits methods, `/admin/` limits who: neither demands at least what the other does.
  const getOnly = route('/', { methods: ['GET'] })
  const tbl = createRouteTable([getOnly, admin])
  const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), [getOnly, admin])
  t.equal(chooseRoute(tbl, pol, '/ADMIN/x', 'proxy'), AMBIGUOUS)
  t.equal(chooseRoute(tbl, pol, '/admin%2Fx', 'proxy'), AMBIGUOUS)
  t.equal(chooseRoute(tbl, pol, '/admin/x', 'proxy'), admin, 'one reading: no ambiguity')
  t.equal(chooseRoute(tbl, pol, '/other', 'proxy'), getOnly)
})

t.test('route choice: readings that climb above the root or are dots only are unreadable', async (t) => {
  t.equal(choose('/...'), UNREADABLE)
  t.equal(choose('/..%20/admin/'), UNREADABLE)
  t.equal(choose('/a/.%20./x'), UNREADABLE)
  t.equal(choose('/x/..%20/admin/'), UNREADABLE, 'a dot segment with a space: servers disagree whether it climbs')
  t.equal(choose('/admin.../x'), admin, 'trailing dots on a named segment are only dropped')
})

t.test('route choice: routes whose prefixes differ only in case are both candidates for a case-insensitive reader', async (t) => {
  const upper = route('/Admin/')
  const tbl = createRouteTable([root, upper, admin])
  const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), [root, upper, admin])
  t.equal(chooseRoute(tbl, pol, '/Admin/x', 'proxy'), admin, 'the stricter of the two twins decides')
  t.equal(chooseRoute(tbl, pol, '/ADMIN/x', 'proxy'), admin)
})

t.test('route choice: forward-auth counts a reading no route covers as the global rule', async (t) => {
  const pub = route('/public/', { public: true })
  const tbl = createRouteTable([pub, admin])
  const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), [pub, admin])
  t.equal(chooseRoute(tbl, pol, '/public/x', 'forward-auth'), pub)
  t.equal(chooseRoute(tbl, pol, '/PUBLIC/x', 'forward-auth'), null, 'not public: the global rule applies')
  t.equal(chooseRoute(tbl, pol, '/ADMIN/x', 'forward-auth'), admin)
  t.equal(chooseRoute(tbl, pol, '/ADMIN/x', 'proxy'), null, 'the proxy serves no path no route covers as forwarded')
})

t.test('route choice: the strictness order', async (t) => {
  const pol = (rs: RouteConfig[]): ReturnType<typeof compilePolicy> => compilePolicy(rule({ emailDomains: ['example.com'] }), rs)
  const anyone = route('/a/')
  const groups = route('/b/', { allow: rule({ groups: ['admins', 'ops'] }) })
  const narrower = route('/c/', { allow: rule({ groups: ['admins'] }) })
  const emails = route('/d/', { allow: rule({ emails: ['alice@example.com'] }) })
  const domain = route('/e/', { allow: rule({ emailDomains: ['example.com'] }) })
  const getOnly = route('/f/', { methods: ['GET'] })
  const pub = route('/g/', { public: true })
  const pubGet = route('/h/', { public: true, methods: ['GET'] })
  const p = pol([anyone, groups, narrower, emails, domain, getOnly, pub, pubGet])
  t.ok(atLeastAsStrict(p, anyone, pub), 'signed in beats public')
  t.notOk(atLeastAsStrict(p, pub, anyone))
  t.ok(atLeastAsStrict(p, groups, anyone), 'allow beats no allow')
  t.ok(atLeastAsStrict(p, narrower, groups), 'a subset of the groups beats the set')
  t.notOk(atLeastAsStrict(p, groups, narrower))
  t.ok(atLeastAsStrict(p, emails, domain), 'an email of an allowed domain is within the domain')
  t.notOk(atLeastAsStrict(p, domain, emails))
  t.notOk(atLeastAsStrict(p, emails, groups), 'different kinds of rule are not comparable')
  t.ok(atLeastAsStrict(p, getOnly, anyone), 'fewer methods beat all methods')
  t.notOk(atLeastAsStrict(p, groups, getOnly), 'all methods do not beat GET only')
  t.ok(atLeastAsStrict(p, pubGet, pub))
  t.ok(atLeastAsStrict(p, getOnly, pubGet))
  t.ok(atLeastAsStrict(p, null, pub), 'no route (forward-auth: the global rule) beats public')
  t.notOk(atLeastAsStrict(p, null, groups))
  t.ok(atLeastAsStrict(p, groups, null))
})

t.test('route choice: explainReadings lists the readings and the route each selects', async (t) => {
  const readings = explainReadings(table, '/admin%2Fsecret') ?? []
  t.same(readings[0], { how: 'as forwarded', path: '/admin%2Fsecret', route: root })
  t.ok(readings.some((r) => r.path === '/admin/secret' && r.route === admin && r.how.startsWith('percent-decoded')))
  t.equal(explainReadings(table, '/...'), null)
})

// --- property: no reading of a forwarded path falls under a stricter route than the one applied ---

const hex = (c: string): string => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')

/** One character of a path spelled one of the ways a client may: as is, other case, or percent-encoded. */
const charSpelling = (c: string): fc.Arbitrary<string> => fc.constantFrom(c, c.toUpperCase(), c.toLowerCase(), hex(c), hex(c).toLowerCase())

/** A segment spelled with random case and escapes, maybe followed by `;params` and trailing dots or spaces. */
const segmentSpelling = (segment: string): fc.Arbitrary<string> => fc.tuple(
  fc.tuple(...[...segment].map(charSpelling)).map((cs) => cs.join('')),
  fc.constantFrom('', '', ';x', ';jsessionid=1', '%3Bx'),
  fc.constantFrom('', '', '.', '%2E', '%20', '.%20', '..')
).map(([s, params, trail]) => s + params + trail)

/** A separator: `/`, doubled, or encoded (`%2F`, `%5C`). */
const separator = fc.constantFrom('/', '/', '/', '//', '%2F', '%2f', '%5C')

const pathSpelling = fc.tuple(
  fc.constantFrom(['admin', 'secret'], ['staff', 'x'], ['admin'], ['staff'], ['docs', 'admin'], ['adminx', 'y'], ['static', 'app.js']),
  fc.boolean()
).chain(([segments, trailingSlash]) => fc.tuple(
  fc.tuple(...segments.map(segmentSpelling)),
  fc.tuple(...segments.map(() => separator))
).map(([spelled, seps]) => spelled.map((s, i) => (i === 0 ? (seps[i] === '%2F' || seps[i] === '%2f' || seps[i] === '%5C' ? '/' : seps[i]) : seps[i]) + s).join('') + (trailingSlash ? '/' : '')))

t.test('route choice (property): no upstream reading of a forwarded path falls under a stricter route than the one applied', async (t) => {
  let judged = 0
  let refused = 0
  fc.assert(fc.property(pathSpelling, (spelling) => {
    const normalised = normalisePath(spelling)
    if (normalised === null) { refused++; return true }
    const choice = chooseRoute(table, policy, normalised.path, 'proxy')
    if (choice === AMBIGUOUS || choice === UNREADABLE) { refused++; return true }
    if (choice === null) return false
    judged++
    // What the upstream would serve for the path as forwarded, under each reader.
    for (const [reader, handler] of Object.entries(readPath(normalised.path))) {
      if (!atLeastAsStrict(policy, choice, byHandler[handler])) {
        throw new Error(`${spelling} -> ${normalised.path}: judged by ${choice.path}, but ${reader} serves the ${handler} handler`)
      }
    }
    return choice === byHandler[strictestHandler(normalised.path)] || atLeastAsStrict(policy, choice, byHandler[strictestHandler(normalised.path)])
  }), { numRuns: 3000, seed: 1103 })
  t.ok(judged > 1000, `most spellings are judged, not refused (judged ${judged}, refused ${refused})`)
})

t.test('route choice (property): a plain path takes the same route as the exact table', async (t) => {
  const plain = fc.array(fc.constantFrom('admin', 'staff', 'docs', 'a', 'x-y', 'app.js'), { minLength: 1, maxLength: 4 })
    .map((segments) => '/' + segments.join('/'))
  fc.assert(fc.property(plain, fc.boolean(), (path, slash) => {
    const p = path + (slash ? '/' : '')
    const exact = table.match(p)
    const chosen = chooseRoute(table, policy, p, 'proxy')
    // `/admin` and `/staff` alone read as their routes for a non-strict router; everything else is exact.
    return chosen === exact || (p === '/admin' && chosen === admin) || (p === '/staff' && chosen === staff)
  }), { numRuns: 500, seed: 7 })
  t.pass('plain paths keep their exact route')
})

/** A random route table: `/` plus some of the prefixes, each public or not, with or without methods and `allow`. */
const routeTable = fc.tuple(
  fc.subarray(['/admin/', '/staff/', '/api', '/Docs/', '/a/b/', '/public/']),
  fc.array(fc.tuple(fc.boolean(), fc.constantFrom(null, ['GET'], ['GET', 'POST']), fc.constantFrom(null, ['admins'], ['admins', 'ops'], 'alice')), { minLength: 7, maxLength: 7 })
).map(([prefixes, options]) => ['/', ...prefixes].map((path, i) => {
  const [isPublic, methods, allow] = options[i] as [boolean, string[] | null, string[] | 'alice' | null]
  return route(path, {
    public: isPublic,
    methods,
    allow: isPublic || allow === null ? null : allow === 'alice' ? rule({ emails: ['alice@example.com'] }) : rule({ groups: allow })
  })
}))

const anyPath = fc.array(fc.constantFrom('admin', 'staff', 'api', 'docs', 'a', 'b', 'public', 'x'), { minLength: 1, maxLength: 3 })
  .chain((segments) => fc.tuple(fc.tuple(...segments.map(segmentSpelling)), fc.tuple(...segments.map(() => separator)), fc.boolean()))
  .map(([spelled, seps, slash]) => spelled.map((s, i) => (i === 0 ? '/' : seps[i]) + s).join('') + (slash ? '/' : ''))

t.test('route choice (property): with any route table, every reader serves the path under a route no stricter than the one applied', async (t) => {
  let judged = 0
  fc.assert(fc.property(routeTable, anyPath, (rs, spelling) => {
    const normalised = normalisePath(spelling)
    if (normalised === null) return true
    const tbl = createRouteTable(rs)
    const pol = compilePolicy(rule({ emailDomains: ['example.com'] }), rs)
    const choice = chooseRoute(tbl, pol, normalised.path, 'proxy')
    if (choice === AMBIGUOUS || choice === UNREADABLE) return true
    if (choice === null) return false
    judged++
    // Forward-auth reads the same path the same way (a route table with `/` never leaves it without a route).
    const forwardAuth = chooseRoute(tbl, pol, normalised.path, 'forward-auth')
    for (const [reader, read] of Object.entries(readAs(normalised.path))) {
      // The reader's own route: the longest prefix it covers, as that server matches.
      const served = tbl.entries.find((e) => readerCovers(e.prefix, read))?.route
      if (served === undefined) continue
      for (const [scope, applied] of [['proxy', choice], ['forward-auth', forwardAuth]] as const) {
        if (applied === AMBIGUOUS || applied === UNREADABLE) continue
        if (!atLeastAsStrict(pol, applied, served)) {
          throw new Error(`${scope}: ${spelling} -> ${normalised.path}: judged by ${applied?.path ?? 'no route'}, but ${reader} serves ${served.path} (${JSON.stringify(rs.map((r) => [r.path, r.public, r.methods, r.allow?.groups ?? r.allow?.emails ?? null]))})`)
        }
      }
    }
    return true
  }), { numRuns: 3000, seed: 1111 })
  t.ok(judged > 1000, `most requests are judged (${judged})`)
})
