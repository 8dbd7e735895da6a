import t from 'tap'
import type { IdentityConfig } from '../../src/config/types.js'
import type { Identity } from '../../src/domain/types.js'
import { gatewayCookieMatcher, gatewayCookieNames, loginCookieName, pendingLoginCookieName } from '../../src/http/cookies.js'
import { createIdentityHeaders } from '../../src/proxy/identity-headers.js'
import { configWith } from '../fixtures/config/base.js'

/** The identity section of the base config (X-Forwarded-* headers, the assertion on), changed by `extra`. */
const defaults = configWith(() => {}).identity
function config (extra: Partial<IdentityConfig> = {}): IdentityConfig {
  return { ...defaults, ...extra }
}

const renamed = config({
  headers: { user: 'X-Remote-User', email: 'X-Remote-Email', preferredUsername: 'X-Remote-Name', groups: 'X-Remote-Groups' },
  assertion: { ...defaults.assertion, header: 'X-Gateway-Assertion' }
})

const cookieNames = ['_portcullis', '_portcullis_login']

const alice: Identity = {
  sub: '10769150350006150715113082367',
  email: 'alice@example.com',
  emailVerified: true,
  name: 'Alice',
  preferredUsername: 'alice',
  groups: ['staff', 'admins'],
  hd: 'example.com',
  claims: {}
}

/** Every spelling a client might use to smuggle a header past a case-sensitive filter. */
function variants (name: string): string[] {
  const lower = name.toLowerCase()
  return [lower, name, name.toUpperCase(), lower.replaceAll('-', '_'), name.replaceAll('-', '_').toUpperCase(), lower.replace('-', '_')]
}

const builtInReserved = [
  'X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username',
  'X-Forwarded-Access-Token', 'X-Portcullis-Assertion', 'X-Auth-Request-User', 'X-Auth-Request-Email',
  'X-Auth-Request-Groups', 'X-Auth-Request-Access-Token', 'X-Auth-Request-Anything-Else'
]

t.test('identity headers: the default names, x-auth-request-* and the assertion header are reserved in every spelling', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  for (const name of builtInReserved) {
    for (const v of variants(name)) t.equal(policy.isReserved(v), true, v)
  }
})

t.test('identity headers: renamed headers are reserved and the defaults stay reserved', async t => {
  const policy = createIdentityHeaders(renamed, { cookieNames })
  for (const name of ['X-Remote-User', 'X-Remote-Email', 'X-Remote-Name', 'X-Remote-Groups', 'X-Gateway-Assertion', ...builtInReserved]) {
    for (const v of variants(name)) t.equal(policy.isReserved(v), true, v)
  }
})

t.test('identity headers: ordinary headers are not reserved', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  for (const name of ['host', 'cookie', 'accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
    'x-forwarded-users', 'x-auth-requestuser', 'x-auth-request', 'x-remote-user', 'authorization']) {
    t.equal(policy.isReserved(name), false, name)
  }
})

t.test('identity headers: authorization is reserved only when the id token is passed', async t => {
  t.equal(createIdentityHeaders(config(), { cookieNames }).isReserved('Authorization'), false)
  const policy = createIdentityHeaders(config({ passIdToken: true }), { cookieNames })
  for (const v of variants('Authorization')) t.equal(policy.isReserved(v), true, v)
})

t.test('identity headers: strip removes every spoofed copy and leaves other headers untouched', async t => {
  const policy = createIdentityHeaders(renamed, { cookieNames })
  const spoofed: Record<string, string> = {}
  for (const name of [...builtInReserved, 'X-Remote-User', 'X-Remote-Groups', 'X-Gateway-Assertion']) {
    for (const v of variants(name)) spoofed[v] = 'spoofed'
  }
  const headers = {
    ...spoofed,
    host: 'apps.example.com',
    accept: 'text/html',
    'x-forwarded-for': '203.0.113.9',
    authorization: 'Bearer client-token',
    'x-custom': ['a', 'b'],
    'x-empty': undefined
  }
  t.same(policy.strip(headers), {
    host: 'apps.example.com',
    accept: 'text/html',
    authorization: 'Bearer client-token',
    'x-custom': ['a', 'b']
  }, 'X-Forwarded-For is removed too: the proxy sets its own')
})

t.test('identity headers: request facts an upstream believes are kept only from a trusted proxy', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  const facts = ['X-Original-URL', 'X-Rewrite-URL', 'X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override', 'X-Real-IP',
    'True-Client-IP', 'X-Forwarded-Port', 'X-Forwarded-Prefix', 'X-Forwarded-Server', 'Remote-User', 'X-Remote-User']
  const headers: Record<string, string> = { accept: '*/*' }
  for (const name of facts) for (const v of variants(name)) headers[v] = 'client'
  t.same(policy.strip(headers), { accept: '*/*' }, 'every spelling removed from a client')
  t.same(policy.strip(headers, true), headers, 'kept from a trusted proxy')
  t.same(policy.apply(headers, { identity: null }), { accept: '*/*' })
  t.same(policy.apply(headers, { identity: null, fromTrustedProxy: true }), headers)
  // The proxy sets these itself: removed in every spelling, whoever sent them.
  const set = { 'x-forwarded-host': 'evil', X_Forwarded_Host: 'evil', 'x-forwarded-proto': 'https', forwarded: 'for=1.2.3.4', x_forwarded_for: '1.2.3.4' }
  t.same(policy.strip(set, true), {})
})

t.test('identity headers: strip removes only the gateway cookies from Cookie', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  const cases: ReadonlyArray<readonly [string, string | undefined]> = [
    ['_portcullis=abc', undefined],
    ['_portcullis=abc; _portcullis_login=xyz', undefined],
    ['a=1; _portcullis=abc; b=2', 'a=1; b=2'],
    ['a=1;_portcullis=abc;b=2', 'a=1; b=2'],
    ['  a=1 ;  _portcullis = abc ;b=2  ', 'a=1; b=2'],
    ['_portcullis2=x; __portcullis=y; _PORTCULLIS=z; _portcullis_login2=w; portcullis=v', '_portcullis2=x; __portcullis=y; _PORTCULLIS=z; _portcullis_login2=w; portcullis=v'],
    ['_portcullis="abc"; b="q"', 'b="q"'],
    ['a="x y"; _portcullis=1', 'a="x y"'],
    ['_portcullis=a=b=c; x=_portcullis=1', 'x=_portcullis=1'],
    ['a=1; _portcullis', 'a=1'],
    ['a=1;; ;b=2', 'a=1; b=2'],
    ['theme=dark; lang=en', 'theme=dark; lang=en'],
    ['', undefined]
  ]
  for (const [cookie, expected] of cases) {
    const out = policy.strip({ host: 'h', cookie })
    t.same(out, expected === undefined ? { host: 'h' } : { host: 'h', cookie: expected }, JSON.stringify(cookie))
  }
})

t.test('identity headers: strip handles several Cookie headers and any key case', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  t.same(policy.strip({ cookie: ['a=1; _portcullis=x', '_portcullis_login=y', 'b=2'] }), { cookie: ['a=1', 'b=2'] })
  t.same(policy.strip({ cookie: ['_portcullis=x', '_portcullis_login=y'] }), {})
  t.same(policy.strip({ Cookie: 'a=1; _portcullis=x' }), { Cookie: 'a=1' })
})

t.test('identity headers: apply sets the identity from the session after stripping', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  const out = policy.apply({
    host: 'apps.example.com',
    'X-Forwarded-User': 'admin',
    x_forwarded_email: 'boss@example.com',
    'x-forwarded-groups': 'admins',
    'x-auth-request-user': 'admin',
    cookie: '_portcullis=ticket; theme=dark'
  }, { identity: alice, assertion: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' })
  t.same(out, {
    host: 'apps.example.com',
    cookie: 'theme=dark',
    'x-forwarded-user': '10769150350006150715113082367',
    'x-forwarded-email': 'alice@example.com',
    'x-forwarded-preferred-username': 'alice',
    'x-forwarded-groups': 'staff,admins',
    'x-portcullis-assertion': 'eyJhbGciOiJFUzI1NiJ9.e30.sig'
  })
})

t.test('identity headers: apply omits a missing preferred username and empty groups', async t => {
  const policy = createIdentityHeaders(renamed, { cookieNames })
  t.same(policy.apply({}, { identity: { ...alice, preferredUsername: null, groups: [] } }), {
    'x-remote-user': '10769150350006150715113082367',
    'x-remote-email': 'alice@example.com'
  })
})

t.test('identity headers: tokens are passed only when configured', async t => {
  const tokens = { identity: alice, accessToken: 'at-123', idToken: 'eyJ.id.token' }
  const off = createIdentityHeaders(config(), { cookieNames }).apply({ authorization: 'Bearer client' }, tokens)
  t.equal(off['x-forwarded-access-token'], undefined)
  t.equal(off.authorization, 'Bearer client')

  const on = createIdentityHeaders(config({ passAccessToken: true, passIdToken: true }), { cookieNames })
    .apply({ Authorization: 'Bearer client', 'X-Forwarded-Access-Token': 'forged' }, tokens)
  t.equal(on['x-forwarded-access-token'], 'at-123')
  t.equal(on.authorization, 'Bearer eyJ.id.token')
  t.equal(on.Authorization, undefined)
  t.equal(on['X-Forwarded-Access-Token'], undefined)

  const noToken = createIdentityHeaders(config({ passAccessToken: true, passIdToken: true }), { cookieNames })
    .apply({ authorization: 'Bearer client' }, { identity: alice, accessToken: null, idToken: null })
  t.equal(noToken.authorization, undefined, 'a client Authorization never stands in for the id token')
  t.equal(noToken['x-forwarded-access-token'], undefined)
})

t.test('identity headers: no identity means only stripping', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  t.same(policy.apply({ 'x-forwarded-user': 'admin', accept: '*/*' }, { identity: null }), { accept: '*/*' })
})

t.test('identity headers: values with CR, LF, NUL or other controls are dropped, never sent', async t => {
  const policy = createIdentityHeaders(config({ passAccessToken: true, passIdToken: true }), { cookieNames })
  const out = policy.apply({}, {
    identity: {
      ...alice,
      sub: 'alice\r\nX-Forwarded-Groups: admins',
      email: 'alice@example.com\n',
      preferredUsername: 'ali\u0000ce',
      groups: ['staff', 'evil\r\nX-Admin: 1', 'x\u0000', 'ops']
    },
    accessToken: 'at\r\n',
    idToken: 'id\ntoken',
    assertion: 'jwt\u0007'
  })
  t.same(out, { 'x-forwarded-groups': 'staff,ops' })
})

t.test('identity headers: a group holding a comma is left out so it cannot pose as two', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  const out = policy.apply({}, { identity: { ...alice, groups: ['staff,admins', 'dev'] } })
  t.equal(out['x-forwarded-groups'], 'dev')
})

t.test('identity headers: values Node cannot send are dropped, Latin-1 passes', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  t.equal(policy.apply({}, { identity: { ...alice, preferredUsername: 'jos\u00e9' } })['x-forwarded-preferred-username'], 'jos\u00e9')
  t.equal(policy.apply({}, { identity: { ...alice, preferredUsername: '\u674e' } })['x-forwarded-preferred-username'], undefined)
})

t.test('identity headers: apply does not change the headers it is given', async t => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  const headers = { 'x-forwarded-user': 'admin', cookie: '_portcullis=x; a=1' }
  policy.apply(headers, { identity: alice })
  t.same(headers, { 'x-forwarded-user': 'admin', cookie: '_portcullis=x; a=1' })
})

t.test('hop-by-hop headers, and every name Connection lists, are stripped; end-to-end ones pass', async (t) => {
  const policy = createIdentityHeaders(config(), { cookieNames })
  const plain = policy.strip({ connection: 'keep-alive', 'keep-alive': 'timeout=5', te: 'trailers', 'transfer-encoding': 'chunked', upgrade: 'h2c', 'proxy-connection': 'keep-alive', trailer: 'x', expect: '100-continue', accept: 'text/html' })
  t.same(plain, { accept: 'text/html' })
  const listed = policy.strip({ connection: 'Keep-Alive, X-Private , close', 'x-private': 'secret', 'X-Kept': 'yes', accept: '*/*' })
  t.same(listed, { 'X-Kept': 'yes', accept: '*/*' }, 'a listed name goes whatever its case')
  const repeated = policy.strip({ connection: ['keep-alive', 'x-one'], 'x-one': '1', 'x-two': '2' })
  t.same(repeated, { 'x-two': '2' }, 'several Connection headers are read together')
})

t.test('identity headers: every pending sign-in\'s binding cookie is stripped too, by the gateway\'s own matcher', async t => {
  const raw = configWith(() => {})
  const policy = createIdentityHeaders(config(), { cookieNames: gatewayCookieNames(raw.session.cookie), ownCookie: gatewayCookieMatcher(raw.session.cookie) })
  const login = pendingLoginCookieName(raw.session.cookie, 'AbCdEfGhIjKlMnOpQrStUvWxYz')
  t.not(login, loginCookieName(raw.session.cookie), 'a per-sign-in name, not the base name')
  t.same(policy.strip({ cookie: `a=1; ${login}=binding.lx1; theme=dark` }), { cookie: 'a=1; theme=dark' })
  t.same(policy.strip({ cookie: `${raw.session.cookie.name}=ticket; ${login}=binding.lx1` }), {})
  // Without the matcher only the exact names go: the case the matcher exists for.
  const byName = createIdentityHeaders(config(), { cookieNames: gatewayCookieNames(raw.session.cookie) })
  t.same(byName.strip({ cookie: `${login}=binding.lx1` }), { cookie: `${login}=binding.lx1` })
})
