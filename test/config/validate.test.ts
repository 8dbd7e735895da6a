import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { baseRaw, configWith, lines, parseRaw, problemsOf, problemsWith, tempDir, type Raw } from '../fixtures/config/base.js'

t.test('server.listen: host:port, with IPv6 in brackets', async t => {
  t.strictSame(configWith(r => { r.server.listen = '[::1]:4180' }).server, { ...configWith(() => {}).server, host: '::1', port: 4180 })
  t.equal(configWith(r => { r.server.listen = 'localhost:8080' }).server.host, 'localhost')
  t.equal(configWith(r => { r.server.listen = '127.0.0.1:0' }).server.port, 0, 'port 0 asks for a free port')
  for (const bad of ['4180', '::1:4180', '[::1]', '[nope]:80', '1.2.3.4:65536', 'host:', ':80', 'a b:80']) {
    t.strictSame(problemsWith(r => { r.server.listen = bad }), ['server.listen: must be host:port'], bad)
  }
})

t.test('server.public_url: an http(s) origin; a trailing slash is dropped', async t => {
  t.equal(configWith(r => { r.server.public_url = 'https://Apps.Example.com/' }).server.publicUrl, 'https://apps.example.com')
  t.equal(configWith(r => { r.server.public_url = 'http://127.0.0.1:4180' }).server.publicUrl, 'http://127.0.0.1:4180')
  const origin = 'server.public_url: must be an origin only (no path, query, fragment or user info), such as https://apps.example.com'
  for (const bad of ['https://a.example/app', 'https://a.example/?x=1', 'https://a.example#f', 'https://u:p@a.example']) {
    t.strictSame(problemsWith(r => { r.server.public_url = bad }), [origin], bad)
  }
  for (const bad of ['apps.example.com', 'ftp://a.example', 'https://']) {
    t.strictSame(problemsWith(r => { r.server.public_url = bad }), ['server.public_url: must be an http(s) URL such as https://apps.example.com'], bad)
  }
})

t.test('server.auth_prefix: starts with "/", no trailing slash, not "/"', async t => {
  t.equal(configWith(r => { r.server.auth_prefix = '/_auth' }).server.authPrefix, '/_auth')
  t.strictSame(problemsWith(r => { r.server.auth_prefix = '/' }), ['server.auth_prefix: must not be "/"'])
  t.strictSame(problemsWith(r => { r.server.auth_prefix = 'oauth2' }), ['server.auth_prefix: must start with "/"'])
  t.strictSame(problemsWith(r => { r.server.auth_prefix = '/oauth2/' }), ['server.auth_prefix: must not end with "/"'])
  t.strictSame(problemsWith(r => { r.server.auth_prefix = '/a/../b' }), ['server.auth_prefix: must not contain "." or ".." segments'])
})

t.test('server.trusted_proxies: IP addresses or CIDRs', async t => {
  const ok = ['10.0.0.0/8', '192.168.1.1', '::1', 'fd00::/8', '0.0.0.0/0']
  t.strictSame(configWith(r => { r.server.trusted_proxies = ok }).server.trustedProxies, ok)
  t.strictSame(problemsWith(r => { r.server.trusted_proxies = ['10.0.0.0/33', 'proxy.local', '10.0.0.1/8/1', 'fd00::/129', '10.0.0.0/x'] }), lines(`
    server.trusted_proxies[0]: must be an IP address or CIDR such as 10.0.0.0/8
    server.trusted_proxies[1]: must be an IP address or CIDR such as 10.0.0.0/8
    server.trusted_proxies[2]: must be an IP address or CIDR such as 10.0.0.0/8
    server.trusted_proxies[3]: must be an IP address or CIDR such as 10.0.0.0/8
    server.trusted_proxies[4]: must be an IP address or CIDR such as 10.0.0.0/8
  `))
})

t.test('server.allowed_redirect_hosts: host names or .domain, optionally with :port, lower-cased', async t => {
  t.strictSame(configWith(r => { r.server.allowed_redirect_hosts = ['Docs.Example.com', '.example.org', 'app.example.net:8443'] }).server.allowedRedirectHosts, ['docs.example.com', '.example.org', 'app.example.net:8443'])
  t.strictSame(problemsWith(r => { r.server.allowed_redirect_hosts = ['https://x.example', 'a..b', 'x.example:99999', 'x.example:'] }), lines(`
    server.allowed_redirect_hosts[0]: must be a host name (optionally with :port), or .example.com for all its subdomains
    server.allowed_redirect_hosts[1]: must be a host name (optionally with :port), or .example.com for all its subdomains
    server.allowed_redirect_hosts[2]: must be a host name (optionally with :port), or .example.com for all its subdomains
    server.allowed_redirect_hosts[3]: must be a host name (optionally with :port), or .example.com for all its subdomains
  `))
})

t.test('server timeouts and tls: durations parsed; tls files resolved and must be readable', async t => {
  const dir = tempDir()
  writeFileSync(join(dir, 'c.pem'), 'x')
  const raw = baseRaw()
  raw.server.shutdown_timeout = 5
  raw.server.upstream_timeout = '2m'
  raw.server.tls = { cert_file: 'c.pem', key_file: 'k.pem' }
  t.strictSame(problemsOf(() => parseRaw(raw, {}, dir)), [`server.tls.key_file: cannot read ${join(dir, 'k.pem')} (no such file)`])
  writeFileSync(join(dir, 'k.pem'), 'x')
  const server = parseRaw(raw, {}, dir).server
  t.strictSame([server.shutdownTimeoutMs, server.upstreamTimeoutMs, server.tls], [5000, 120_000, { certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem') }])
  t.strictSame(problemsWith(r => { r.server.tls = { cert_file: '/' , key_file: '/' } }), ['server.tls.cert_file: cannot read / (not a file)', 'server.tls.key_file: cannot read / (not a file)'])
})

t.test('durations: a bad or zero duration is named with its key', async t => {
  t.strictSame(problemsWith(r => { r.session.lifetime = 'forever'; r.server.shutdown_timeout = 0; r.redis.connect_timeout = '0ms' }), lines(`
    server.shutdown_timeout: must be greater than 0
    session.lifetime: must be a duration such as 500ms, 60s, 30m, 24h or 7d, or a whole number of seconds
    redis.connect_timeout: must be greater than 0
  `))
})

t.test('provider: google defaults issuer and prompt; the issuer may be overridden', async t => {
  const google = configWith(() => {}).provider
  t.strictSame([google.issuer, google.prompt], ['https://accounts.google.com', 'consent'])
  const custom = configWith(r => { r.provider.issuer = 'https://idp.example/realms/x/'; r.provider.prompt = '' }).provider
  t.strictSame([custom.issuer, custom.prompt], ['https://idp.example/realms/x/', null], 'issuer kept exactly; "" sends no prompt')
})

t.test('provider: oidc requires an issuer and has no default prompt', async t => {
  t.strictSame(problemsWith(r => { r.provider.type = 'oidc' }), ['provider.issuer: is required when provider.type is oidc'])
  const oidc = configWith(r => { r.provider.type = 'oidc'; r.provider.issuer = 'https://idp.example' }).provider
  t.strictSame([oidc.type, oidc.issuer, oidc.prompt], ['oidc', 'https://idp.example', null])
})

t.test('provider: hosted_domain applies to google only', async t => {
  t.equal(configWith(r => { r.provider.hosted_domain = 'Example.com' }).provider.hostedDomain, 'example.com')
  t.strictSame(problemsWith(r => { r.provider.type = 'oidc'; r.provider.issuer = 'https://idp.example'; r.provider.hosted_domain = 'example.com' }),
    ['provider.hosted_domain: does not apply when provider.type is oidc'])
  t.strictSame(problemsWith(r => { r.provider.hosted_domain = 'not a domain' }), ['provider.hosted_domain: must be a domain name such as example.com'])
})

t.test('provider: an http:// issuer is refused unless allow_insecure_issuer', async t => {
  t.strictSame(problemsWith(r => { r.provider.issuer = 'http://127.0.0.1:9000' }),
    ['provider.issuer: must use https (set allow_insecure_issuer: true to allow http for local testing)'])
  const c = configWith(r => { r.provider.issuer = 'http://127.0.0.1:9000'; r.provider.allow_insecure_issuer = true }).provider
  t.strictSame([c.issuer, c.allowInsecureIssuer], ['http://127.0.0.1:9000', true])
  t.strictSame(problemsWith(r => { r.provider.issuer = 'accounts.google.com' }), ['provider.issuer: must be an https URL'])
  t.strictSame(problemsWith(r => { r.provider.issuer = 'https://idp.example/?tenant=1' }), ['provider.issuer: must not contain a query, fragment or user info'])
})

t.test('provider: client_id and client_secret are required', async t => {
  t.strictSame(problemsWith(r => { delete r.provider.client_id; delete r.provider.client_secret }), [
    'provider.client_id: is required'
  ], 'a shape problem stops before the semantic checks')
  t.strictSame(problemsWith(r => { delete r.provider.client_secret }), ['provider.client_secret: is required (or client_secret_file)'])
  t.strictSame(problemsWith(r => { r.provider.client_id = '' }), ['provider.client_id: must not be empty'])
})

t.test('provider: scopes default to openid email profile and must include openid', async t => {
  t.strictSame(configWith(r => { r.provider.scopes = ['openid', 'email', 'groups'] }).provider.scopes, ['openid', 'email', 'groups'])
  t.strictSame(problemsWith(r => { r.provider.scopes = ['email', 'profile'] }), ['provider.scopes: must include openid'])
  t.strictSame(problemsWith(r => { r.provider.scopes = ['openid', 'email profile'] }), ['provider.scopes[1]: must be a single scope (no spaces)'])
})

t.test('provider: prompt values, groups_claim and timeout', async t => {
  const p = configWith(r => { r.provider.prompt = 'login select_account'; r.provider.groups_claim = 'roles'; r.provider.timeout = '3s' }).provider
  t.strictSame([p.prompt, p.groupsClaim, p.timeoutMs], ['login select_account', 'roles', 3000])
  t.strictSame(problemsWith(r => { r.provider.prompt = 'always' }),
    ['provider.prompt: must be "" or space-separated values from: none, login, consent, select_account'])
})

t.test('session: durations, and idle_timeout no longer than lifetime', async t => {
  const s = configWith(r => { Object.assign(r.session, { lifetime: '12h', idle_timeout: '12h', refresh_before_expiry: 30, login_timeout: '5m' }) }).session
  t.strictSame([s.lifetimeMs, s.idleTimeoutMs, s.refreshBeforeExpiryMs, s.loginTimeoutMs], [43_200_000, 43_200_000, 30_000, 300_000])
  t.strictSame(problemsWith(r => { r.session.lifetime = '1h' }), ['session.idle_timeout: must not be longer than session.lifetime'])
})

t.test('session.cookie.name: the default takes __Host- when secure and host-only; a configured name is kept', async t => {
  const name = (change: (r: any) => void): string => configWith(change).session.cookie.name
  t.equal(name(r => { delete r.session.cookie.name; r.session.cookie.secure = true }), '__Host-_portcullis')
  t.equal(name(r => { delete r.session.cookie.name; r.session.cookie.secure = false }), '_portcullis')
  t.equal(name(r => { delete r.session.cookie.name; r.session.cookie.secure = true; r.session.cookie.domain = 'example.com' }), '_portcullis')
  t.equal(name(r => { r.session.cookie.name = '_portcullis'; r.session.cookie.secure = true }), '_portcullis')
})

t.test('server.timeouts, rate_limit and pending_sign_ins: defaults, values and bad values named by key', async t => {
  const d = configWith(() => {}).server
  t.strictSame([d.timeouts, d.rateLimit, d.pendingSignIns], [
    { headersMs: 10_000, requestMs: 300_000, keepAliveMs: 72_000, idleMs: 600_000 },
    { signIn: 30, windowMs: 60_000, maxClients: 100_000 },
    { perClient: 10, total: 10_000 }
  ])
  const c = configWith(r => {
    r.server.timeouts = { headers: '5s', request: '1m', keep_alive: '30s', idle: '2m' }
    r.server.rate_limit = { sign_in: 0, window: '10s', max_clients: 50 }
    r.server.pending_sign_ins = { per_client: 3, total: 100 }
  }).server
  t.strictSame([c.timeouts, c.rateLimit, c.pendingSignIns], [
    { headersMs: 5000, requestMs: 60_000, keepAliveMs: 30_000, idleMs: 120_000 },
    { signIn: 0, windowMs: 10_000, maxClients: 50 },
    { perClient: 3, total: 100 }
  ])
  t.strictSame(problemsWith(r => { r.server.timeouts = { headers: '2m', request: '1m' } }), ['server.timeouts.headers: must not be longer than server.timeouts.request'])
  t.strictSame(problemsWith(r => { r.server.timeouts = { idle: 'soon' } }), ['server.timeouts.idle: must be a duration such as 500ms, 60s, 30m, 24h or 7d, or a whole number of seconds'])
  t.strictSame(problemsWith(r => { r.server.rate_limit = { sign_in: -1 } }), ['server.rate_limit.sign_in: must be >= 0'])
  t.strictSame(problemsWith(r => { r.server.pending_sign_ins = { per_client: 0 } }), ['server.pending_sign_ins.per_client: must be >= 1'])
})

t.test('session.cookie.name: a cookie token; __Host- needs secure and no domain', async t => {
  t.strictSame(problemsWith(r => { r.session.cookie.name = 'my cookie' }),
    ['session.cookie.name: must be a cookie name token (letters, digits and !#$%&\'*+-.^_`|~)'])
  t.strictSame(problemsWith(r => { r.session.cookie.name = 'a;b' }),
    ['session.cookie.name: must be a cookie name token (letters, digits and !#$%&\'*+-.^_`|~)'])
  t.equal(configWith(r => { r.session.cookie.name = '__Host-portcullis' }).session.cookie.name, '__Host-portcullis')
  const hostRule = 'session.cookie.name: must not start with __Host- unless secure is true and domain is not set'
  t.strictSame(problemsWith(r => { r.session.cookie.name = '__Host-p'; r.session.cookie.secure = false }), [hostRule])
  t.strictSame(problemsWith(r => { r.session.cookie.name = '__host-p'; r.session.cookie.domain = 'example.com' }), [hostRule])
  t.strictSame(problemsWith(r => { r.session.cookie.name = '__Secure-p'; r.session.cookie.secure = false }),
    ['session.cookie.name: must not start with __Secure- unless secure is true'])
})

t.test('session.cookie.secrets: at least one, each at least 32 bytes', async t => {
  t.strictSame(problemsWith(r => { r.session.cookie.secrets = [] }), ['session.cookie.secrets: at least one secret is required (or secrets_file)'])
  t.strictSame(problemsWith(r => { delete r.session }), ['session.cookie.secrets: at least one secret is required (or secrets_file)'])
  t.strictSame(problemsWith(r => { r.session.cookie.secrets = ['x'.repeat(32), 'x'.repeat(31), ''] }), [
    'session.cookie.secrets[1]: must be at least 32 bytes',
    'session.cookie.secrets[2]: must be at least 32 bytes'
  ])
  t.equal(configWith(r => { r.session.cookie.secrets = ['é'.repeat(16)] }).session.cookie.secrets.length, 1, 'bytes, not characters')
})

t.test('session.cookie: same_site none requires secure; domain must contain the public host', async t => {
  t.strictSame(problemsWith(r => { r.session.cookie.same_site = 'none'; r.session.cookie.secure = false }), ['session.cookie.same_site: none requires secure: true'])
  t.equal(configWith(r => { r.session.cookie.same_site = 'strict' }).session.cookie.sameSite, 'strict')
  t.equal(configWith(r => { r.session.cookie.domain = '.Example.com' }).session.cookie.domain, 'example.com')
  t.strictSame(problemsWith(r => { r.session.cookie.domain = 'other.example' }),
    ['session.cookie.domain: must be the host of server.public_url or a parent domain of it'])
  t.strictSame(problemsWith(r => { r.session.cookie.domain = 'ample.com' }),
    ['session.cookie.domain: must be the host of server.public_url or a parent domain of it'])
  t.strictSame(problemsWith(r => { r.session.cookie.domain = 'bad_domain!' }), ['session.cookie.domain: must be a domain name such as example.com'])
})

t.test('redis: exactly one of url, sentinel or cluster when the store is redis', async t => {
  t.strictSame(problemsWith(r => { delete r.redis }), ['redis: one of url, sentinel or cluster is required when session.store is redis'])
  t.strictSame(problemsWith(r => { r.redis.cluster = { nodes: ['a:7000'] } }), ['redis: set only one of url, sentinel or cluster'])
  const memory = configWith(r => { delete r.redis; r.session.store = 'memory' })
  t.strictSame([memory.session.store, memory.redis.url], ['memory', null])
  const sentinel = configWith(r => { r.redis = { sentinel: { name: 'mymaster', nodes: ['s1:26379', '[::1]:26379'], password: 'sp' }, password: 'rp' } }).redis
  t.strictSame([sentinel.url, sentinel.sentinel, sentinel.password], [null, { name: 'mymaster', nodes: ['s1:26379', '[::1]:26379'], password: 'sp' }, 'rp'])
  t.strictSame(configWith(r => { r.redis = { cluster: { nodes: ['c1:7000'] } } }).redis.cluster, { nodes: ['c1:7000'] })
  t.strictSame(problemsWith(r => { r.redis = { cluster: { nodes: ['c1'] }, connect_timeout: '5s' } }), ['redis.cluster.nodes[0]: must be host:port'])
  t.strictSame(problemsWith(r => { r.redis = { sentinel: { name: 'm', nodes: [] } } }), ['redis.sentinel.nodes: must not be empty'])
})

t.test('redis.url: redis:// or rediss://; defaults for prefix and timeouts', async t => {
  for (const bad of ['http://127.0.0.1:6379', '127.0.0.1:6379', 'redis://']) {
    t.strictSame(problemsWith(r => { r.redis.url = bad }), ['redis.url: must be a redis:// or rediss:// URL'], bad)
  }
  const r = configWith(raw => { raw.redis = { url: 'rediss://:pw@cache:6380/1', key_prefix: 'gw:', connect_timeout: '3s', command_timeout: '250ms' } }).redis
  t.strictSame([r.url, r.keyPrefix, r.connectTimeoutMs, r.commandTimeoutMs], ['rediss://:pw@cache:6380/1', 'gw:', 3000, 250])
})

t.test('logging and metrics: defaults, values, and a metrics listener distinct from the main one', async t => {
  const c = configWith(r => { r.logging = { level: 'debug', format: 'pretty' }; r.metrics = { enabled: false, listen: '127.0.0.1:9090' } })
  t.strictSame([c.logging, c.metrics], [{ level: 'debug', format: 'pretty' }, { enabled: false, listen: { host: '127.0.0.1', port: 9090 }, public: false }])
  t.strictSame(problemsWith(r => { r.metrics = { listen: '0.0.0.0:4180' } }), ['metrics.listen: must differ from server.listen'])
  t.strictSame(problemsWith(r => { r.metrics = { listen: 'nope' } }), ['metrics.listen: must be host:port'])
})

t.test('admin: off by default; a listener needs a readable token file and its own address', async t => {
  t.strictSame(configWith(() => {}).admin, { listen: null, tokenFile: null })
  const dir = tempDir()
  const file = join(dir, 'admin-token')
  writeFileSync(file, 'a-long-enough-admin-token\n')
  t.strictSame(configWith(r => { r.admin = { listen: '127.0.0.1:9091', token_file: file } }).admin, { listen: { host: '127.0.0.1', port: 9091 }, tokenFile: file })
  t.strictSame(problemsWith(r => { r.admin = { listen: '127.0.0.1:9091' } }), ['admin.token_file: is required when admin.listen is set'])
  t.strictSame(problemsWith(r => { r.admin = { listen: '0.0.0.0:4180', token_file: file } }), ['admin.listen: must differ from server.listen'])
  t.strictSame(problemsWith(r => { r.admin = { listen: 'nope', token_file: file } }), ['admin.listen: must be host:port'])
  t.match(problemsWith(r => { r.admin = { listen: '127.0.0.1:9091', token_file: join(dir, 'missing') } }), [/^admin\.token_file: /])
})

t.test('port 0 (the system picks a free port, logged once bound) is accepted on every listener, also on one address', async t => {
  const file = join(tempDir(), 'admin-token')
  writeFileSync(file, 'a-long-enough-admin-token\n')
  const zero = (r: Raw): void => {
    r.server.listen = '127.0.0.1:0'
    r.metrics = { listen: '127.0.0.1:0' }
    r.admin = { listen: '127.0.0.1:0', token_file: file }
  }
  const c = configWith(zero)
  t.strictSame([c.server.port, c.metrics.listen?.port, c.admin.listen?.port], [0, 0, 0])
})

t.test('session.cache: enabled, ttl and max_entries are read; ttl is at most 60s', async t => {
  const c = configWith(r => { r.session.cache = { enabled: false, ttl: '2s', max_entries: 500 } }).session.cache
  t.strictSame(c, { enabled: false, ttlMs: 2000, maxEntries: 500 })
  t.strictSame(problemsWith(r => { r.session.cache = { ttl: '2m' } }), ['session.cache.ttl: must be at most 60s'])
  t.strictSame(problemsWith(r => { r.session.cache = { max_entries: 0 } }), ['session.cache.max_entries: must be >= 1'])
})

t.test('server.workers: a whole number from 1, and more than 1 only with the redis store', async t => {
  t.equal(configWith(r => { r.server.workers = 2 }).server.workers, 2)
  t.strictSame(problemsWith(r => { r.server.workers = 0 }), ['server.workers: must be >= 1'])
  t.strictSame(problemsWith(r => { r.server.workers = 2; r.session.store = 'memory'; delete r.redis }), ['server.workers: must be 1 when session.store is memory (workers share sessions only through redis)'])
})

t.test('forward_auth: one header name each for the original URI and method, lower-cased; defaults X-Forwarded-Uri/-Method', async t => {
  t.strictSame(configWith(() => {}).forwardAuth, { uriHeader: 'x-forwarded-uri', methodHeader: 'x-forwarded-method' })
  t.strictSame(configWith(r => { r.forward_auth = { uri_header: 'X-Original-URI', method_header: 'X-Original-Method' } }).forwardAuth,
    { uriHeader: 'x-original-uri', methodHeader: 'x-original-method' })
  t.strictSame(problemsWith(r => { r.forward_auth = { uri_header: 'X Original' } }), ['forward_auth.uri_header: must be an HTTP header name such as X-Forwarded-Uri'])
  t.strictSame(problemsWith(r => { r.forward_auth = { method_header: 'x-forwarded-uri' } }), ['forward_auth.method_header: must differ from forward_auth.uri_header'])
  t.match(problemsWith(r => { r.forward_auth = { uri: 'x' } }).join('\n'), /forward_auth/)
})
