/**
 * The config file, one schema per key: its type, its default and its description live together
 * here, and nowhere else. Ajv (strict mode) checks the shape and fills the defaults (`shape.ts`);
 * `codec.ts` decodes durations to milliseconds and encodes them back for `portcullis check`;
 * `scripts/config-example.ts` writes config/portcullis.example.yaml from the descriptions.
 * Meaning that spans keys (URLs, CIDRs, cross-key rules) is checked afterwards in `validate*.ts`.
 *
 * Adding a key: add it to its section below with `key(type, description, { default })`; give it an
 * `example` when the example file should show something other than the default, then run
 * `npm run config:example`.
 */
import { Type } from '@sinclair/typebox'
import type { StaticDecode } from '@sinclair/typebox'
import { Duration, HostPort, Obj, OneOf, Section, Str, StrList, TextOrNone, field, key } from './key.js'

export const providerTypes = ['google', 'oidc'] as const
export const groupSources = ['claim', 'cloud_identity', 'admin_directory'] as const
/** Asymmetric signature algorithms only: never `none`, never HMAC (a public key must not verify as a secret). */
export const bearerAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export const sameSiteValues = ['lax', 'strict', 'none'] as const
export const storeKinds = ['redis', 'memory'] as const
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const logFormats = ['json', 'pretty'] as const
export const signInModes = ['auto', 'button'] as const

const AccessRule = () => Obj({
  email_domains: key(StrList(), 'Verified email domains.', { default: [], example: ['example.com'] }),
  emails: key(StrList(), 'Individual verified email addresses.', { default: [], example: ['contractor@partner.org'] }),
  groups: key(StrList(), 'Groups (from provider.groups: a claim, or Workspace group addresses).', { default: [] }),
  claims: key(Type.Record(Type.String({ minLength: 1 }), StrList(), { additionalProperties: false }),
    'Claim name -> accepted values, e.g. {department: [engineering]} (any one matches).', { default: {} })
})

const server = Obj({
  listen: field(key(HostPort(), 'Address the gateway listens on, host:port ([::1]:4180 for IPv6).', { default: '0.0.0.0:4180' }), { inline: true }),
  public_url: key(Str(), 'Origin users reach (scheme, host and port only); required. The sign-in callback is ' +
    'public_url + auth_prefix + /callback, which is what to register at the provider.', { example: '${PUBLIC_URL:-https://apps.example.com}' }),
  auth_prefix: key(Str(), "Where the gateway's own endpoints live (/oauth2/start, /oauth2/callback, ...).", { default: '/oauth2' }),
  trusted_proxies: key(StrList(), 'IPs or CIDRs of proxies whose X-Forwarded-* headers are believed. Default: [] (none)', { default: [] }),
  allowed_redirect_hosts: key(StrList(), 'Hosts a post-sign-in redirect may go to besides public_url: exact host names, or ' +
    '.example.com for every subdomain, optionally with :port. Needed when forward-auth protects apps on other hosts ' +
    '(docs/forward-auth.md). Default: [] (same origin only)', { default: [] }),
  shutdown_timeout: key(Duration(), 'Longest time to finish in-flight requests after SIGTERM/SIGINT; what still runs then is ' +
    'cut and the process exits 0.', { default: '10s' }),
  upstream_timeout: key(Duration(), 'Longest wait for an upstream to connect and answer with headers.', { default: '30s' }),
  workers: key(Type.Integer({ minimum: 1, maximum: 64 }), 'Worker processes sharing the listener, to use several CPU cores ' +
    '(node:cluster). The primary restarts a worker that crashes and passes SIGTERM and SIGHUP on to the workers. More than 1 ' +
    'needs session.store: redis. Default: 1 (serve in the main process)', { default: 1 }),
  reuse_port: key(Type.Boolean(), 'Let other processes of the same user listen on the same address too (SO_REUSEPORT, ' +
    'Linux): a new gateway can start on the port before the old one is stopped, and the kernel spreads new connections ' +
    'over both. Default: false (a second process on the address fails with "address already in use")', { default: false }),
  tls: Type.Optional(key(Obj({
    cert_file: Str(),
    key_file: Str()
  }), 'Serve HTTPS directly (PEM files). Default: not set (plain HTTP, TLS ends at a proxy in front).',
  { example: { cert_file: '/etc/portcullis/tls.crt', key_file: '/etc/portcullis/tls.key' }, commented: true })),
  // Limits that hold under abuse (docs/security.md).
  timeouts: Section({
    headers: key(Duration(), "A request's headers must arrive within this; a connection that sends nothing, or trickles " +
      'its headers, is answered 408 and closed. At most timeouts.request.', { default: '10s' }),
    request: key(Duration(), 'A whole request, body included, must arrive within this (slow uploads need more).', { default: '5m' }),
    keep_alive: key(Duration(), 'An idle keep-alive connection is closed after this.', { default: '72s' }),
    idle: key(Duration(), 'A connection with no bytes either way for this long is closed (WebSockets excepted); keep ' +
      "it longer than upstream_timeout, or a slow upstream's client is cut before its 504.", { default: '10m' })
  }, 'Limits that hold under abuse (docs/security.md).'),
  rate_limit: Section({
    sign_in: key(Type.Integer({ minimum: 0 }), 'Sign-in starts and callbacks per client address per window, counted together ' +
      '(behind trusted_proxies, the address from X-Forwarded-For); more are answered 429 with Retry-After. Counted per ' +
      'replica. 0 turns the limit off.', { default: 30 }),
    window: key(Duration(), 'The window sign_in counts over.', { default: '1m' }),
    max_clients: key(Type.Integer({ minimum: 1 }), "Client addresses counted at once per replica (bounds the limiter's memory).", { default: 100_000 })
  }),
  pending_sign_ins: Section({
    per_client: key(Type.Integer({ minimum: 1 }), 'Started, unfinished sign-ins kept per client address per replica; past it the ' +
      'oldest is dropped (its callback then fails with PCS_LOGIN_STATE_INVALID).', { default: 10 }),
    total: key(Type.Integer({ minimum: 1 }), 'The same, for all clients together per replica.', { default: 10_000 })
  })
})

const provider = Obj({
  type: key(OneOf(providerTypes), 'google | oidc; required.', { example: 'google' }),
  issuer: Type.Optional(key(Str(), 'OpenID Connect issuer. Default for google: https://accounts.google.com; required for oidc.',
    { example: 'https://accounts.google.com' })),
  client_id: key(Str(), 'OAuth client registered at the provider; required.', { example: '${GOOGLE_CLIENT_ID}' }),
  client_secret: Type.Optional(key(Str(), 'Required (or client_secret_file: /run/secrets/google_client_secret).', { example: '${GOOGLE_CLIENT_SECRET}' })),
  scopes: key(StrList(), 'Must include openid.', { default: ['openid', 'email', 'profile'] }),
  hosted_domain: Type.Optional(key(Str(), "google only: sends hd= and requires the id token's hd claim to match. Default: not set",
    { example: 'example.com' })),
  allow_insecure_issuer: key(Type.Boolean(), 'Allow an http:// issuer (local testing only).', { default: false }),
  prompt: Type.Optional(key(TextOrNone(), 'prompt sent at sign-in (space-separated: none, login, consent, select_account; "" sends ' +
    'none). Default: consent for google (so a refresh token is issued), none for oidc.', { example: 'consent' })),
  groups_claim: key(Str(), "Claim of the id token / userinfo holding the user's groups (userinfo is read when the id " +
    'token lacks it and a rule uses groups or the type is oidc).', { default: 'groups' }),
  timeout: key(Duration(), 'Timeout of each request to the provider.', { default: '10s' }),
  groups: Section({
    source: key(OneOf(groupSources), "claim (provider.groups_claim) | cloud_identity (google: the user's own token asks the " +
      'Cloud Identity API for every group, direct or nested; adds the scope cloud-identity.groups.readonly to the sign-in) | ' +
      'admin_directory (google: a service account asks the Admin SDK Directory API; direct memberships only).', { default: 'claim' }),
    max_age: key(Duration(), 'API groups are fetched at sign-in and at every refresh, and believed this long after a ' +
      'successful fetch, never longer: a removal takes effect within max_age.', { default: '1h' }),
    timeout: key(Duration(), 'Bound on one whole fetch (every page and retry); on failure group rules deny.', { default: '10s' }),
    page_size: key(Type.Integer({ minimum: 1, maximum: 1000 }), 'Groups asked for per page (Cloud Identity: up to 1000; Directory: up to 200).', { default: 200 }),
    service_account_key_file: Type.Optional(key(Str(), "The service account's JSON key file (required for admin_directory).",
      { example: '/run/secrets/groups-reader.json', commented: true })),
    impersonate: Type.Optional(key(Str(), 'The Workspace admin the service account acts as (admin_directory, domain-wide delegation).',
      { example: 'admin@example.com', commented: true })),
    api_root: Type.Optional(key(Str(), "Root URL of the groups API instead of Google's (a test double). Default: not set",
      { example: 'http://127.0.0.1:4191', commented: true }))
  }, "Where the user's groups come from (docs/google.md). Groups are the groups' email addresses."),
  rp_initiated_logout: key(Type.Boolean(), 'Sign-out also ends the session at the provider through its end_session_endpoint ' +
    '(RP-Initiated Logout 1.0): the browser goes there with id_token_hint and comes back to /oauth2/signed_out (register that ' +
    'URL as a post-logout redirect URI at the provider). Keeps the id token in the session. Google has no such endpoint: ' +
    'leave false.', { default: false })
})

const session = Section({
  store: key(OneOf(storeKinds), 'redis | memory (memory: one process only, sessions lost on restart).', { default: 'redis' }),
  cookie: Section({
    name: Type.Optional(key(Str(), 'Cookie name. A __Host- name needs secure: true and no domain. Default: __Host-_portcullis ' +
      'when secure is true and no domain is set (the browser then refuses it from any other host, path or plain HTTP), ' +
      '_portcullis otherwise. A name written here is used as is.', { example: '__Host-_portcullis', commented: true })),
    secrets: Type.Optional(key(Type.Array(Type.String()), 'Required, each at least 32 bytes: the first signs, all verify (add a ' +
      'new one first to rotate). Or secrets_file: /run/secrets/cookie_secrets (one per line).', { example: ['${COOKIE_SECRET}'] })),
    secure: key(Type.Boolean(), 'Send the cookie over HTTPS only.', { default: true }),
    same_site: key(OneOf(sameSiteValues), 'lax | strict | none (none requires secure: true).', { default: 'lax' }),
    domain: Type.Optional(key(Str(), 'Cookie Domain attribute, to share the session across subdomains (forward-auth for apps ' +
      'on other hosts); must be the host of public_url or a parent domain of it. Default: not set (host-only cookie)',
    { example: 'example.com', commented: true }))
  }),
  lifetime: key(Duration(), 'Absolute session lifetime.', { default: '7d' }),
  idle_timeout: key(Duration(), 'Session ends after this long without a request; at most lifetime.', { default: '24h' }),
  refresh_before_expiry: key(Duration(), 'Refresh the access token this long before it expires.', { default: '60s' }),
  login_timeout: key(Duration(), 'How long a started sign-in may take.', { default: '10m' }),
  cache: Section({
    enabled: key(Type.Boolean(), 'Use the cache.', { default: true }),
    ttl: key(Duration(), 'Longest time an entry is used without reading the store again, at most 60s.', { default: '5s' }),
    max_entries: key(Type.Integer({ minimum: 1 }), 'Most sessions kept per process; the least recently used are dropped first.', { default: 10_000 })
  }, 'In-process cache of decrypted sessions, so a signed-in request usually needs no store round trip. Every process ' +
    'drops an entry as soon as the session is refreshed or ends anywhere (announced through Redis pub/sub); while that ' +
    'channel is down the cache is bypassed.')
})

const redis = Section({
  url: Type.Optional(key(Str(), 'redis:// or rediss:// (TLS) URL; a password may go in it (redis://:PASSWORD@host:6379/0).',
    { example: '${REDIS_URL:-redis://127.0.0.1:6379/0}' })),
  key_prefix: key(Type.String(), 'Prefix of every key the gateway writes.', { default: 'portcullis:' }),
  password: Type.Optional(key(Str(), 'Redis password (AUTH), if not in the url. Default: not set',
    { example: '${REDIS_PASSWORD}', commented: true })),
  connect_timeout: key(Duration(), 'Timeout to establish the connection.', { default: '2s' }),
  command_timeout: key(Duration(), 'Timeout of each command.', { default: '1s' }),
  sentinel: Type.Optional(key(Obj({
    name: Str(),
    nodes: Type.Array(Str(), { minItems: 1 }),
    password: Type.Optional(Str())
  }), 'High availability (docs/operations.md, "Redis high availability"): after a primary dies the gateway answers 503 ' +
    'until a replica takes over, then carries on with the same sessions; this takes about the detection time ' +
    '(down-after-milliseconds / cluster-node-timeout) plus a few seconds. Replication is asynchronous: sign-ins in the last ' +
    'moment before a crash can be lost. Instead of url, Redis Sentinel: name is the monitored master, nodes lists every ' +
    "sentinel, password is the sentinels' own (the data servers use redis.password):",
  { example: { name: 'mymaster', nodes: ['sentinel-1:26379', 'sentinel-2:26379', 'sentinel-3:26379'], password: '${SENTINEL_PASSWORD}' }, commented: true })),
  cluster: Type.Optional(key(Obj({
    nodes: Type.Array(Str(), { minItems: 1 })
  }), "Instead of url, Redis Cluster: nodes are seeds, the other nodes are discovered. Each session's keys share one hash " +
    'slot; keep { and } out of key_prefix.', { example: { nodes: ['redis-1:7000', 'redis-2:7000'] }, commented: true }))
}, 'Used when session.store is redis: set exactly one of url, sentinel or cluster.')

const route = Obj({
  path: key(Str(), 'Path prefix, starting with "/" (no "." or ".." segments, no "%", no backslash).'),
  upstream: key(Str(), 'http(s) URL, optionally with a base path; no query, fragment or user info.'),
  public: key(Type.Boolean(), 'No sign-in needed (identity headers are still stripped).', { default: false }),
  api: key(Type.Boolean(), 'Unauthenticated requests get 401 JSON, never a redirect.', { default: false }),
  allow: Type.Optional(key(AccessRule(), 'Narrows access for this route (same keys as access). Default: not set')),
  methods: Type.Optional(key(Type.Array(Str(), { minItems: 1 }), 'Allowed methods (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS); ' +
    'GET admits HEAD too, and other methods get 405, before any sign-in. Default: not set (all)')),
  refresh_on_upstream_401: key(Type.Boolean(), 'When the upstream answers 401 to an idempotent request without a body (GET, HEAD, ' +
    'OPTIONS, PUT, DELETE), refresh the access token once and send the request once more; a request whose body was streamed ' +
    'is never sent twice. See docs/refresh.md.', { default: false }),
  // Per-route path mapping (docs/operations.md, "Route paths").
  strip_prefix: key(Type.Boolean(), 'The upstream is asked for its base path followed by the request path: /api/users goes to ' +
    'http://127.0.0.1:9000/api/users (with upstream http://app/v1: /v1/api/users). true removes the route\'s prefix first: ' +
    '/api/users -> /users (/v1/users), /api/ -> /, the query and a trailing slash kept as sent; WebSockets too. See ' +
    'docs/operations.md.', { default: false }),
  bearer: Type.Optional(key(Type.Boolean(), 'Accept Authorization: Bearer <ID token> from machine callers on this route instead ' +
    'of a session (see the bearer section). Default: bearer.enabled (never on a public route)'))
})

const ROUTES_EXAMPLE = [
  { path: '/', upstream: 'http://127.0.0.1:8080' },
  { path: '/static/', upstream: 'http://127.0.0.1:8080', public: true },
  {
    path: '/api/',
    upstream: 'http://127.0.0.1:9000',
    api: true,
    allow: { groups: ['admins'] },
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    refresh_on_upstream_401: false,
    strip_prefix: false,
    bearer: false
  }
]

// Bearer ID tokens for machine callers (issue 13).
const bearer = Section({
  enabled: key(Type.Boolean(), 'Every non-public route accepts bearer ID tokens unless it says bearer: false.', { default: false }),
  audiences: Type.Optional(key(StrList(), 'Accepted aud values. Default: [provider.client_id]',
    { example: ['https://apps.example.com'], commented: true })),
  algorithms: key(Type.Array(OneOf(bearerAlgorithms), { minItems: 1 }), 'Accepted signature algorithms (asymmetric only; none ' +
    'and HMAC are never accepted).', { default: ['RS256', 'ES256'] }),
  clock_skew: key(Duration(), 'Tolerance for exp, nbf and iat (at most 5m).', { default: '60s' })
}, 'Machine callers: verified ID tokens instead of a session cookie (docs/google.md). No session is created and nothing ' +
  'is stored; the same access rules decide.')

const identity = Section({
  headers: Section({
    user: key(Str(), "The provider's stable subject (sub).", { default: 'X-Forwarded-User' }),
    email: key(Str(), 'The verified email address.', { default: 'X-Forwarded-Email' }),
    preferred_username: key(Str(), 'The preferred_username claim.', { default: 'X-Forwarded-Preferred-Username' }),
    groups: key(Str(), 'Comma-separated groups.', { default: 'X-Forwarded-Groups' })
  }, 'Names of the identity headers sent upstream (client-sent copies are always removed).'),
  pass_access_token: key(Type.Boolean(), 'Send the current access token as X-Forwarded-Access-Token.', { default: false }),
  pass_id_token: key(Type.Boolean(), 'Send the id token as Authorization: Bearer.', { default: false }),
  assertion: Section({
    enabled: key(Type.Boolean(), 'Send the assertion.', { default: true }),
    header: key(Str(), 'The header it is sent in.', { default: 'X-Portcullis-Assertion' }),
    key_file: Type.Optional(key(Str(), 'PEM file with an EC P-256 private key. Default: not set (a key is generated and shared ' +
      'through the session store)', { example: '/run/secrets/assertion_key.pem', commented: true })),
    ttl: key(Duration(), 'Lifetime of each assertion, at most 5m.', { default: '2m' }),
    rotate: key(Duration(), 'How often a generated key is replaced by a new one, at least 1h (not used with key_file; see ' +
      'docs/assertion.md for rotating a key_file).', { default: '24h' })
  }, 'A signed JWT (ES256) the upstream can verify with /oauth2/jwks.json.')
})

// forward-auth: where /oauth2/auth reads the original request
const forwardAuth = Section({
  uri_header: key(Str(), 'Header carrying the original request-target (/path?query).', { default: 'X-Forwarded-Uri' }),
  method_header: key(Str(), 'Header carrying the original method.', { default: 'X-Forwarded-Method' })
}, 'Forward-auth (GET /oauth2/auth): the headers a trusted proxy names the original request in. Only these are read; a ' +
  'request that carries the other well-known name as well (X-Original-URI next to X-Forwarded-Uri, X-Original-Method next ' +
  'to X-Forwarded-Method) or two values of one is refused with 400, never 2xx. Traefik and Caddy set the defaults ' +
  'themselves; with nginx, set them in the auth location (proxy_set_header X-Forwarded-Uri $request_uri; ' +
  "proxy_set_header X-Forwarded-Method $request_method;), or name nginx's X-Original-URI and X-Original-Method here. See " +
  'docs/forward-auth.md.')

const logging = Section({
  level: key(OneOf(logLevels), 'fatal | error | warn | info | debug | trace | silent (reloaded on SIGHUP).', { default: 'info' }),
  format: key(OneOf(logFormats), 'json (one line per event) | pretty (for a terminal).', { default: 'json' })
})

const metrics = Section({
  enabled: key(Type.Boolean(), 'Collect Prometheus metrics and serve them at /metrics where configured below.', { default: true }),
  listen: Type.Optional(key(HostPort(), 'Serve /metrics on a separate host:port, e.g. on a private interface, for Prometheus to ' +
    'scrape. Default: not set', { example: '127.0.0.1:9090', commented: true })),
  public: key(Type.Boolean(), 'Also serve /metrics on the public listener (it reveals routes, traffic and errors to anyone ' +
    'who can reach the gateway). Default: false (the public listener answers 404)', { default: false })
})

// The admin listener (session listing and revocation): off unless `listen` is set.
const admin = Section({
  listen: Type.Optional(key(HostPort(), 'host:port of its own listener (keep it private: plain HTTP, no TLS, no mTLS). Default: not ' +
    'set (no admin endpoint)', { example: '127.0.0.1:9091' })),
  token_file: Type.Optional(key(Str(), 'File holding the bearer token every admin request must send (Authorization: Bearer ...). ' +
    'Required when listen is set.', { example: '/etc/portcullis/admin-token' }))
}, 'The admin listener: list and revoke sessions over HTTP (docs/sessions.md). Off by default.', { default: {}, commented: true })

// --- the gateway's own pages: sign-in mode and branding ---
const pages = Section({
  sign_in: key(OneOf(signInModes), 'How a sign-in starts, either "auto" (straight to the provider) or "button" (a page with a ' +
    'sign-in button first).', { default: 'auto' }),
  brand: Section({
    name: key(Str(), 'Product or company name on every page.', { default: 'Portcullis' }),
    logo_file: Type.Optional(key(Str(), 'A logo inlined into every page (png, svg, jpg, webp or gif, at most 64 KiB). Default: none',
      { example: '/etc/portcullis/logo.svg', commented: true })),
    logo_url: Type.Optional(key(Str(), "Or a logo at an https URL, allowed by the pages' CSP for that one URL. Default: none",
      { example: 'https://cdn.example.com/logo.svg', commented: true })),
    accent: key(Str(), 'Accent colour #rrggbb of buttons, links and the focus ring; must keep 4.5:1 contrast under white ' +
      'button text.', { default: '#1f5fbf' }),
    support: Type.Optional(key(Str(), 'Who to contact for help: an email address, an https URL or plain text. Default: none',
      { example: 'it-help@example.com', commented: true }))
  })
}, "The gateway's own pages (sign-in, sign-out, 403, errors): see docs/pages.md.")

export const ConfigSchema = key(Obj({
  server: key(server, 'The listener users reach, and the limits that hold under abuse (docs/security.md).'),
  provider: key(provider, 'The OpenID Connect provider users sign in with (docs/google.md for Google).'),
  session,
  redis,
  access: key(AccessRule(), 'Who may use the gateway at all: denied unless a rule allows. At least one rule is required; ' +
    'write email_domains: ["*"] to allow any verified email. Reloaded on SIGHUP. Try a policy with npx portcullis policy ' +
    'explain (docs/policy.md).', { default: {} }),
  routes: key(Type.Array(route), 'Longest matching path prefix wins, compared exactly as written. A path that upstreams may ' +
    'read as another route (/admin%2Fx, /ADMIN/x, /admin;p/x, /admin./x, /admin) is judged by the strictest route any such ' +
    'reading selects, or refused with 400 PCS_AMBIGUOUS_PATH when none is the strictest (docs/policy.md, "How a path is ' +
    'matched"). At least one route is required; no route may lie under server.auth_prefix. Reloaded on SIGHUP (a request ' +
    'already in flight finishes on its old route).', { default: [], example: ROUTES_EXAMPLE }),
  bearer,
  identity,
  forward_auth: forwardAuth,
  logging,
  metrics,
  admin,
  pages
}), 'Portcullis example configuration: every key, with its default.\n\n' +
  'Check a file with:   npx portcullis check --config portcullis.yaml\n' +
  'Run the gateway:     npx portcullis serve --config portcullis.yaml\n\n' +
  'Values may use environment variables: ${NAME} (an error when NAME is unset) or ${NAME:-default}; write $${ for a ' +
  'literal "${". Any text key can instead be read from a file by adding _file to its name (client_secret_file: ' +
  '/run/secrets/client_secret); the trailing newline is dropped, and secrets_file takes one secret per line. Relative ' +
  'paths are resolved against the directory of this file. Unknown keys are errors.\n\n' +
  'Durations: 500ms, 60s, 30m, 24h, 7d, or a whole number of seconds.')

/** The config file after the schema: defaults filled in, durations decoded to milliseconds. */
export type RawConfig = StaticDecode<typeof ConfigSchema>
export type RawAccessRule = RawConfig['access']
export type RawRoute = RawConfig['routes'][number]
