import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { GatewayError } from '../../src/errors.js'
import { ConfigError, loadConfigFile } from '../../src/config/load.js'
import { baseRaw, CLIENT_SECRET, COOKIE_SECRET, parseRaw, lines, parseText, problemsOf, rawWithSecretFile, tempDir } from '../fixtures/config/base.js'

t.test('load: a YAML syntax error is one problem naming its line and column', async t => {
  const text = 'server:\n  public_url: https://a.example\n  listen: a: b\nprovider: [\n'
  t.strictSame(problemsOf(() => parseText(text)), [
    'line 3, column 11: Nested mappings are not allowed in compact mappings'
  ])
})

t.test('load: a duplicate key is a syntax error with its position', async t => {
  const text = 'server:\n  listen: "0.0.0.0:1"\n  listen: "0.0.0.0:2"\n'
  t.strictSame(problemsOf(() => parseText(text)), ['line 3, column 3: Map keys must be unique'])
})

t.test('load: unknown keys are named at every depth', async t => {
  const raw = baseRaw()
  raw.serverr = {}
  raw.provider.clent_id = 'x'
  raw.session.cookie.same_sight = 'lax'
  raw.routes[0].upstrem = 'http://x'
  raw.access.claims = { 'https://example.com/roles': ['a'] }
  t.strictSame(problemsOf(() => parseRaw(raw)), lines(`
    serverr: unknown key (did you mean server?)
    provider.clent_id: unknown key (did you mean client_id?)
    session.cookie.same_sight: unknown key (did you mean same_site?)
    routes[0].upstrem: unknown key (did you mean upstream?)
  `))
})

t.test('load: an unknown key far from every known one gets no suggestion', async t => {
  const raw = baseRaw()
  raw.provider.colour = 'blue'
  t.strictSame(problemsOf(() => parseRaw(raw)), ['provider.colour: unknown key'])
})

t.test('load: unknown keys, missing required sections and semantic problems are reported in one pass', async t => {
  const raw = baseRaw()
  raw.sesion = { store: 'memory' }
  delete raw.provider.client_secret
  raw.provider.clinet_secret = 'x'
  raw.pages = { brand: { accent: '#eeeeee' } }
  t.strictSame(problemsOf(() => parseRaw(raw)), lines(`
    sesion: unknown key (did you mean session?)
    provider.clinet_secret: unknown key (did you mean client_secret?)
    provider.client_secret: is required (or client_secret_file)
    pages.brand.accent: is too light for white button text (contrast 1.2:1, needs 4.5:1); pick a darker shade
  `))
  delete raw.server
  t.strictSame(problemsOf(() => parseRaw(raw)), lines(`
    server: is required
    sesion: unknown key (did you mean session?)
    provider.clinet_secret: unknown key (did you mean client_secret?)
  `), 'a missing section is reported with the unknown keys')
})

t.test('load: every shape problem is reported together, with its path', async t => {
  const raw = baseRaw()
  raw.server.listen = 4180
  delete raw.provider.client_id
  raw.provider.type = 'github'
  raw.session.cookie.secure = 'yes'
  raw.session.lifetime = true
  raw.access.emails = 'a@example.com'
  raw.routes[0].public = 'no'
  raw.routes.push({ path: '/x' })
  raw.logging = { level: 'loud', format: 'xml' }
  raw.metrics = 'on'
  t.strictSame(problemsOf(() => parseRaw(raw)), lines(`
    server.listen: must be a string
    provider.client_id: is required
    provider.type: must be one of: google, oidc
    session.cookie.secure: must be true or false
    session.lifetime: must be a duration such as 500ms, 60s, 30m, 24h or 7d, or a whole number of seconds
    access.emails: must be a list
    routes[0].public: must be true or false
    routes[1].upstream: is required
    logging.level: must be one of: fatal, error, warn, info, debug, trace, silent
    logging.format: must be one of: json, pretty
    metrics: must be a mapping
  `))
})

t.test('load: every semantic problem is reported together, with its path', async t => {
  const raw = baseRaw()
  raw.server.listen = 'localhost'
  raw.server.public_url = 'https://apps.example.com/app'
  raw.provider.scopes = ['email']
  raw.session.cookie.secrets = ['too-short']
  raw.access = {}
  raw.routes = [{ path: 'app', upstream: 'ftp://x' }]
  t.strictSame(problemsOf(() => parseRaw(raw)), lines(`
    server.listen: must be host:port
    server.public_url: must be an origin only (no path, query, fragment or user info), such as https://apps.example.com
    provider.scopes: must include openid
    session.cookie.secrets[0]: must be at least 32 bytes
    access: at least one rule is required (emails, email_domains, groups or claims); to allow any verified email, write email_domains: ["*"]
    routes[0].path: must start with "/"
    routes[0].upstream: must be an http(s) URL
  `))
})

t.test('load: an empty file, a list, or a scalar is refused', async t => {
  t.strictSame(problemsOf(() => parseText('')), ['(root): the file is empty'])
  t.strictSame(problemsOf(() => parseText('# only a comment\n')), ['(root): the file is empty'])
  t.strictSame(problemsOf(() => parseText('- a\n')), ['(root): must be a mapping'])
  t.strictSame(problemsOf(() => parseText('hello\n')), ['(root): must be a mapping'])
})

t.test('load: alias expansion is bounded', async t => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
  for (let i = 0; i < 10; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)
  const problems = problemsOf(() => parseText(lines.join('\n')))
  t.equal(problems.length, 1)
  t.match(problems[0], /^\(root\): .*alias/i)
})

t.test('load: defaults from the contract fill every unset key', async t => {
  const config = parseRaw(baseRaw())
  t.strictSame(config, {
    server: {
      host: '0.0.0.0',
      port: 4180,
      publicUrl: 'https://apps.example.com',
      authPrefix: '/oauth2',
      trustedProxies: [],
      allowedRedirectHosts: [],
      shutdownTimeoutMs: 10_000,
      upstreamTimeoutMs: 30_000,
      workers: 1,
      reusePort: false,
      tls: null,
      timeouts: { headersMs: 10_000, requestMs: 300_000, keepAliveMs: 72_000, idleMs: 600_000 },
      rateLimit: { signIn: 30, windowMs: 60_000, maxClients: 100_000 },
      pendingSignIns: { perClient: 10, total: 10_000 }
    },
    provider: {
      type: 'google',
      issuer: 'https://accounts.google.com',
      clientId: 'client-id-123',
      clientSecret: CLIENT_SECRET,
      scopes: ['openid', 'email', 'profile'],
      hostedDomain: null,
      allowInsecureIssuer: false,
      prompt: 'consent',
      groupsClaim: 'groups',
      timeoutMs: 10_000,
      groups: { source: 'claim', maxAgeMs: 3_600_000, timeoutMs: 10_000, pageSize: 200, serviceAccountKeyFile: null, impersonate: null, apiRoot: null },
      rpInitiatedLogout: false
    },
    session: {
      store: 'redis',
      // secure and host-only: the default name takes the __Host- prefix.
      cookie: { name: '__Host-_portcullis', secrets: [COOKIE_SECRET], secure: true, sameSite: 'lax', domain: null },
      lifetimeMs: 7 * 86_400_000,
      idleTimeoutMs: 86_400_000,
      refreshBeforeExpiryMs: 60_000,
      loginTimeoutMs: 600_000,
      cache: { enabled: true, ttlMs: 5_000, maxEntries: 10_000 }
    },
    redis: {
      url: 'redis://127.0.0.1:6379/0',
      keyPrefix: 'portcullis:',
      sentinel: null,
      cluster: null,
      password: null,
      connectTimeoutMs: 2_000,
      commandTimeoutMs: 1_000
    },
    access: { emails: [], emailDomains: ['example.com'], groups: [], claims: {} },
    routes: [{ path: '/', upstream: 'http://127.0.0.1:8080', public: false, api: false, allow: null, methods: null, refreshOnUpstream401: false, stripPrefix: false, bearer: false }],
    identity: {
      headers: {
        user: 'X-Forwarded-User',
        email: 'X-Forwarded-Email',
        preferredUsername: 'X-Forwarded-Preferred-Username',
        groups: 'X-Forwarded-Groups'
      },
      passAccessToken: false,
      passIdToken: false,
      assertion: { enabled: true, header: 'X-Portcullis-Assertion', keyFile: null, ttlMs: 120_000, rotateMs: 86_400_000 }
    },
    forwardAuth: { uriHeader: 'x-forwarded-uri', methodHeader: 'x-forwarded-method' },
    logging: { level: 'info', format: 'json' },
    metrics: { enabled: true, listen: null, public: false },
    bearer: { enabled: false, audiences: ['client-id-123'], algorithms: ['RS256', 'ES256'], clockSkewMs: 60_000 },
    admin: { listen: null, tokenFile: null },
    pages: { signIn: 'auto', brand: { name: 'Portcullis', logo: null, logoFile: null, accent: '#1f5fbf', support: null } }
  })
})

t.test('load: the resolved config is deeply frozen', async t => {
  const config = parseRaw(baseRaw())
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.server))
  t.ok(Object.isFrozen(config.session.cookie.secrets))
  t.ok(Object.isFrozen(config.routes))
  t.ok(Object.isFrozen(config.routes[0]))
  t.ok(Object.isFrozen(config.access.claims))
  t.throws(() => { (config.session.cookie.secrets as string[]).push('x') }, TypeError)
  t.throws(() => { (config.server as { port: number }).port = 1 }, TypeError)
})

t.test('load: ConfigError is a GatewayError with code PCS_CONFIG_INVALID and lists the problems in its message', async t => {
  const raw = baseRaw()
  raw.provider.clent_id = 'x'
  try {
    parseRaw(raw)
    t.fail('accepted')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    t.ok(err instanceof GatewayError)
    const e = err as ConfigError
    t.equal(e.code, 'PCS_CONFIG_INVALID')
    t.equal(e.name, 'ConfigError')
    t.equal(e.source, 'test.yaml')
    t.equal(e.message, 'invalid configuration in test.yaml:\n  - provider.clent_id: unknown key (did you mean client_id?)')
  }
})

t.test('loadConfigFile: reads a file and resolves _file paths against its directory', async t => {
  const { dir, raw } = rawWithSecretFile('secret-from-file\n')
  const file = join(dir, 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  t.equal(loadConfigFile(file, {}).provider.clientSecret, 'secret-from-file')
})

t.test('loadConfigFile: an unreadable file is a ConfigError naming the file', async t => {
  const file = join(tempDir(), 'nope.yaml')
  try {
    loadConfigFile(file, {})
    t.fail('accepted')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    t.equal((err as ConfigError).code, 'PCS_CONFIG_UNREADABLE')
    t.strictSame((err as ConfigError).problems, [`${file}: cannot be read (no such file)`])
  }
})

t.test('loadConfigFile: the environment defaults to process.env', async t => {
  const dir = tempDir()
  const raw = baseRaw()
  raw.provider.client_id = '${PORTCULLIS_TEST_CLIENT_ID}'
  const file = join(dir, 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  process.env.PORTCULLIS_TEST_CLIENT_ID = 'from-process-env'
  t.teardown(() => { delete process.env.PORTCULLIS_TEST_CLIENT_ID })
  t.equal(loadConfigFile(file).provider.clientId, 'from-process-env')
})
