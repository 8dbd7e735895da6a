import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { baseRaw, configWith, lines, parseRaw, problemsOf, problemsWith, tempDir } from '../fixtures/config/base.js'

const ACCESS_REQUIRED = 'access: at least one rule is required (emails, email_domains, groups or claims); ' +
  'to allow any verified email, write email_domains: ["*"]'

t.test('access: a config without any access rule is refused', async t => {
  t.strictSame(problemsWith(r => { delete r.access }), [ACCESS_REQUIRED])
  t.strictSame(problemsWith(r => { r.access = {} }), [ACCESS_REQUIRED])
  t.strictSame(problemsWith(r => { r.access = { emails: [], email_domains: [], groups: [], claims: { hd: [] } } }), [ACCESS_REQUIRED])
})

t.test('access: any one kind of rule is enough; "*" must be written out', async t => {
  t.strictSame(configWith(r => { r.access = { email_domains: ['*'] } }).access.emailDomains, ['*'])
  t.strictSame(configWith(r => { r.access = { groups: ['staff'] } }).access.groups, ['staff'])
  t.strictSame(configWith(r => { r.access = { claims: { 'https://example.com/roles': ['admin'] } } }).access.claims, { 'https://example.com/roles': ['admin'] })
  t.strictSame(configWith(r => { r.access = { emails: ['Ann@Example.com'] } }).access, { emails: ['ann@example.com'], emailDomains: [], groups: [], claims: {} })
})

t.test('access: emails and domains are checked and lower-cased', async t => {
  t.strictSame(configWith(r => { r.access = { email_domains: ['@Example.COM'] } }).access.emailDomains, ['example.com'])
  t.strictSame(problemsWith(r => { r.access = { emails: ['nobody'], email_domains: ['*.example.com', 'exa mple.com'] } }), lines(`
    access.emails[0]: must be a plain ASCII email address such as alice@example.com
    access.email_domains[0]: must be a domain such as example.com, or "*" for any verified email
    access.email_domains[1]: must be a domain such as example.com, or "*" for any verified email
  `))
})

t.test('access.claims: problems inside a claim name that is not a plain word are quoted in the path', async t => {
  t.strictSame(problemsWith(r => { r.access.claims = { 'https://x/roles': 'admin' } }), ['access.claims["https://x/roles"]: must be a list'])
})

t.test('routes: at least one route is required', async t => {
  t.strictSame(problemsWith(r => { r.routes = [] }), ['routes: at least one route is required'])
  t.strictSame(problemsWith(r => { delete r.routes }), ['routes: at least one route is required'])
})

t.test('routes[].path: starts with "/", no dot segments, no "%", no backslash, no "//"', async t => {
  const cases: Array<[string, string]> = [
    ['api', 'must start with "/"'],
    ['/a/../b', 'must not contain "." or ".." segments'],
    ['/a/./b', 'must not contain "." or ".." segments'],
    ['/a/..', 'must not contain "." or ".." segments'],
    ['/a%2fb', 'must not contain "%" (write the path unencoded)'],
    ['/a\\b', 'must not contain a backslash'],
    ['/a//b', 'must not contain "//"'],
    ['/a b', 'must contain only URL path characters (no spaces, "?" or "#")'],
    ['/a?b', 'must contain only URL path characters (no spaces, "?" or "#")']
  ]
  for (const [path, message] of cases) {
    t.strictSame(problemsWith(r => { r.routes[0].path = path }), [`routes[0].path: ${message}`], path)
  }
  t.equal(configWith(r => { r.routes[0].path = '/a/..b/.c/' }).routes[0]?.path, '/a/..b/.c/', 'dots inside a segment are fine')
})

t.test('routes[].path: duplicates are refused', async t => {
  t.strictSame(problemsWith(r => { r.routes.push({ path: '/x/', upstream: 'http://a' }, { path: '/', upstream: 'http://b' }) }),
    ['routes[2].path: duplicates routes[0].path'])
})

t.test('routes[].path: must not be under the auth prefix', async t => {
  t.strictSame(problemsWith(r => { r.routes.push({ path: '/oauth2', upstream: 'http://a' }, { path: '/oauth2/x', upstream: 'http://a' }) }), [
    'routes[1].path: must not be under server.auth_prefix (/oauth2)',
    'routes[2].path: must not be under server.auth_prefix (/oauth2)'
  ])
  t.equal(configWith(r => { r.routes.push({ path: '/oauth2x', upstream: 'http://a' }) }).routes[1]?.path, '/oauth2x')
})

t.test('routes[].upstream: an http(s) URL without query, fragment or user info; base path kept, trailing slash stripped', async t => {
  t.equal(configWith(r => { r.routes[0].upstream = 'http://127.0.0.1:8080/' }).routes[0]?.upstream, 'http://127.0.0.1:8080')
  t.equal(configWith(r => { r.routes[0].upstream = 'https://App.internal/base/' }).routes[0]?.upstream, 'https://app.internal/base')
  t.strictSame(problemsWith(r => { r.routes[0].upstream = 'ws://x' }), ['routes[0].upstream: must be an http(s) URL'])
  t.strictSame(problemsWith(r => { r.routes[0].upstream = '127.0.0.1:8080' }), ['routes[0].upstream: must be an http(s) URL'])
  for (const bad of ['http://a/?x=1', 'http://a/#top', 'http://user:pw@a/']) {
    t.strictSame(problemsWith(r => { r.routes[0].upstream = bad }), ['routes[0].upstream: must not contain a query, fragment or user info'], bad)
  }
})

t.test('routes[].methods: upper-cased, de-duplicated, from the known list', async t => {
  t.strictSame(configWith(r => { r.routes[0].methods = ['get', 'POST', 'Get'] }).routes[0]?.methods, ['GET', 'POST'])
  t.strictSame(problemsWith(r => { r.routes[0].methods = ['GET', 'CONNECT'] }),
    ['routes[0].methods[1]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'])
  t.strictSame(problemsWith(r => { r.routes[0].methods = [] }), ['routes[0].methods: must not be empty'])
})

t.test('routes[]: public and api together, or public with allow, are refused', async t => {
  t.strictSame(problemsWith(r => { Object.assign(r.routes[0], { public: true, api: true }) }), ['routes[0]: public and api cannot both be true'])
  t.strictSame(problemsWith(r => { Object.assign(r.routes[0], { public: true, allow: { groups: ['a'] } }) }), ['routes[0]: a public route cannot have allow rules'])
})

t.test('routes[].allow: same shape as access, must name a rule', async t => {
  const route = configWith(r => { Object.assign(r.routes[0], { api: true, allow: { groups: ['admins'], emails: ['Boss@Example.com'] }, refresh_on_upstream_401: true }) }).routes[0]
  t.strictSame(route, {
    path: '/',
    upstream: 'http://127.0.0.1:8080',
    public: false,
    api: true,
    allow: { emails: ['boss@example.com'], emailDomains: [], groups: ['admins'], claims: {} },
    methods: null,
    refreshOnUpstream401: true,
    stripPrefix: false,
    bearer: false
  })
  t.strictSame(problemsWith(r => { r.routes[0].allow = {} }), ['routes[0].allow: must name at least one of emails, email_domains, groups or claims'])
  // The rest is checked without the unknown key, so the empty rule it leaves is reported too.
  t.strictSame(problemsWith(r => { r.routes[0].allow = { users: ['a'] } }), ['routes[0].allow.users: unknown key', 'routes[0].allow: must name at least one of emails, email_domains, groups or claims'])
  t.strictSame(problemsWith(r => { r.routes[0].allow = { emails: ['x'] } }), ['routes[0].allow.emails[0]: must be a plain ASCII email address such as alice@example.com'])
})

t.test('access.emails: an address the decision could never match is refused, not silently dropped', async t => {
  const message = (i: number): string => `access.emails[${i}]: must be a plain ASCII email address such as alice@example.com`
  t.strictSame(problemsWith(r => { r.access = { emails: ['a@b@example.com', 'ann@example.com.', '\u0430nn@example.com', 'ann@exa_mple.com', ' ann@example.com'] } }),
    [message(0), message(1), message(2), message(3), message(4)])
})

t.test('identity.headers: valid header names, all distinct (the assertion header included)', async t => {
  const id = configWith(r => { r.identity = { headers: { user: 'X-User', email: 'X-Email', preferred_username: 'X-Name', groups: 'X-Groups' }, pass_access_token: true, pass_id_token: true } }).identity
  t.strictSame([id.headers, id.passAccessToken, id.passIdToken], [{ user: 'X-User', email: 'X-Email', preferredUsername: 'X-Name', groups: 'X-Groups' }, true, true])
  t.strictSame(problemsWith(r => { r.identity = { headers: { user: 'X User', email: 'X-Email:' } } }), [
    'identity.headers.user: must be an HTTP header name',
    'identity.headers.email: must be an HTTP header name'
  ])
  t.strictSame(problemsWith(r => { r.identity = { headers: { email: 'x-forwarded-user' }, assertion: { header: 'X-FORWARDED-GROUPS' } } }), [
    'identity.headers.email: must differ from identity.headers.user',
    'identity.assertion.header: must differ from identity.headers.groups'
  ])
  t.equal(configWith(r => { r.identity = { headers: { groups: 'X-A' }, assertion: { enabled: false, header: 'X-A' } } }).identity.assertion.enabled, false,
    'a disabled assertion header does not collide')
  t.strictSame(problemsWith(r => { r.identity = { headers: { user: 'Host', email: 'Authorization' } } }), [
    'identity.headers.user: must not be a header the gateway already uses (Host)',
    'identity.headers.email: must not be a header the gateway already uses (Authorization)'
  ])
})

t.test('identity.assertion: ttl defaults to 2m and is at most 5m; key_file resolved and readable', async t => {
  t.equal(configWith(r => { r.identity = { assertion: { ttl: '5m' } } }).identity.assertion.ttlMs, 300_000)
  t.strictSame(problemsWith(r => { r.identity = { assertion: { ttl: '301s' } } }), ['identity.assertion.ttl: must be at most 5m'])
  const dir = tempDir()
  const raw = baseRaw()
  raw.identity = { assertion: { key_file: 'key.pem' } }
  t.strictSame(problemsOf(() => parseRaw(raw, {}, dir)), [`identity.assertion.key_file: cannot read ${join(dir, 'key.pem')} (no such file)`])
  writeFileSync(join(dir, 'key.pem'), 'PEM')
  t.equal(parseRaw(raw, {}, dir).identity.assertion.keyFile, join(dir, 'key.pem'))
})

t.test('identity.assertion.rotate: defaults to 24h and is at least 1h', async t => {
  t.equal(configWith(() => {}).identity.assertion.rotateMs, 86_400_000)
  t.equal(configWith(r => { r.identity = { assertion: { rotate: '1h' } } }).identity.assertion.rotateMs, 3_600_000)
  t.strictSame(problemsWith(r => { r.identity = { assertion: { rotate: '59m' } } }), ['identity.assertion.rotate: must be at least 1h'])
  t.strictSame(problemsWith(r => { r.identity = { assertion: { rotate: 'soon' } } }), ['identity.assertion.rotate: must be a duration such as 500ms, 60s, 30m, 24h or 7d, or a whole number of seconds'])
})
