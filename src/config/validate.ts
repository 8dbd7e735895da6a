/**
 * Turns a schema-valid, decoded file into the resolved {@link Config}: the schema's own mapping
 * (`toResolved`) names every key, and the rules here check and settle what the schema cannot
 * express (URL shapes, normalised names, cross-key rules). Every problem is collected; nothing
 * here throws.
 */
import { DEFAULTS } from './defaults.js'
import { parseDuration } from './duration.js'
import { hostPort, readableFile } from './fields.js'
import { profileFor, type ProviderProfile } from './profiles/profile.js'
import { isHostName, isIpOrCidr, isToken, parseHttpUrl, pathProblem } from './syntax.js'
import { buildAccess, buildIdentity, buildRoutes } from './validate-access.js'
import { buildPages } from './validate-pages.js'
import type { Problems } from './problems.js'
import { ConfigSchema } from './schema.js'
import type { RawConfig } from './schema.js'
import { toResolved } from './resolved.js'
import type { Resolved } from './resolved.js'
import type { AdminConfig, BearerConfig, Config, ForwardAuthConfig, GroupsConfig, MetricsConfig, ProviderConfig, RedisConfig, ServerConfig, SessionConfig } from './types.js'

/** The file in resolved terms, before the rules below settle it. */
export type Base = Resolved<typeof ConfigSchema>

const PROMPTS = ['none', 'login', 'consent', 'select_account']

/** Builds the resolved config, reporting every semantic problem into `problems`. */
export function buildConfig (raw: RawConfig, problems: Problems, baseDir: string): Config {
  const base = toResolved(ConfigSchema, raw)
  // Built in file order, so problems are listed in the order the operator reads the file.
  const server = buildServer(raw, base, problems, baseDir)
  const provider = buildProvider(raw, base, problems, baseDir)
  const session = buildSession(raw, base, server, problems)
  return {
    ...base,
    server,
    provider,
    session,
    redis: buildRedis(raw, base, session, problems),
    access: buildAccess(raw, problems),
    routes: buildRoutes(raw, base, server, problems),
    identity: buildIdentity(raw, base, problems, baseDir),
    forwardAuth: buildForwardAuth(raw, base, problems),
    metrics: buildMetrics(base, server, problems),
    bearer: buildBearer(raw, base, provider, problems),
    admin: buildAdmin(raw, base, server, problems, baseDir),
    pages: buildPages(raw, base, problems, baseDir)
  }
}

// ---- bearer (machine callers with ID tokens) ----
function buildBearer (raw: RawConfig, base: Base, provider: ProviderConfig, problems: Problems): BearerConfig {
  const b = raw.bearer
  const clockSkewMs = b.clock_skew
  if (clockSkewMs > (parseDuration(DEFAULTS.bearerMaxClockSkew) as number)) problems.add(['bearer', 'clock_skew'], `must be at most ${DEFAULTS.bearerMaxClockSkew}`)
  const audiences = b.audiences ?? [provider.clientId]
  if (audiences.length === 0) problems.add(['bearer', 'audiences'], 'must name at least one audience (default: provider.client_id)')
  return { ...base.bearer, audiences: [...audiences], algorithms: [...new Set(b.algorithms)] }
}
// ---- end bearer ----

function buildServer (raw: RawConfig, base: Base, problems: Problems, baseDir: string): ServerConfig {
  const s = raw.server
  const authPrefix = s.auth_prefix
  const prefixProblem = authPrefix === '/' ? 'must not be "/"' : pathProblem(authPrefix) ?? (authPrefix.endsWith('/') ? 'must not end with "/"' : null)
  if (prefixProblem !== null) problems.add(['server', 'auth_prefix'], prefixProblem)

  const trustedProxies = s.trusted_proxies
  trustedProxies.forEach((entry, i) => {
    if (!isIpOrCidr(entry)) problems.add(['server', 'trusted_proxies', i], 'must be an IP address or CIDR such as 10.0.0.0/8')
  })

  const allowedRedirectHosts = s.allowed_redirect_hosts.map((entry, i) => {
    const host = entry.toLowerCase()
    // An optional :port, for apps served on a non-default port (the redirect validator matches it exactly).
    const port = /:(\d{1,5})$/.exec(host)
    const name = port === null ? host : host.slice(0, port.index)
    if (!isHostName(name.startsWith('.') ? name.slice(1) : name) || (port !== null && Number(port[1]) > 65535)) {
      problems.add(['server', 'allowed_redirect_hosts', i], 'must be a host name (optionally with :port), or .example.com for all its subdomains')
    }
    return host
  })

  const publicUrl = origin(s.public_url, problems)
  checkTimeouts(raw, problems)
  return {
    ...base.server,
    publicUrl,
    // A bad prefix is replaced by the default so the route checks do not pile on knock-on errors.
    authPrefix: prefixProblem === null ? authPrefix : DEFAULTS.server.auth_prefix,
    allowedRedirectHosts,
    tls: s.tls === undefined
      ? null
      : {
          certFile: readableFile(s.tls.cert_file, baseDir, ['server', 'tls', 'cert_file'], problems),
          keyFile: readableFile(s.tls.key_file, baseDir, ['server', 'tls', 'key_file'], problems)
        }
  }
}

/** `forward_auth`: two distinct header names. */
function buildForwardAuth (raw: RawConfig, base: Base, problems: Problems): ForwardAuthConfig {
  const uriHeader = raw.forward_auth.uri_header.toLowerCase()
  const methodHeader = raw.forward_auth.method_header.toLowerCase()
  if (!isToken(uriHeader)) problems.add(['forward_auth', 'uri_header'], 'must be an HTTP header name such as X-Forwarded-Uri')
  if (!isToken(methodHeader)) problems.add(['forward_auth', 'method_header'], 'must be an HTTP header name such as X-Forwarded-Method')
  else if (methodHeader === uriHeader) problems.add(['forward_auth', 'method_header'], 'must differ from forward_auth.uri_header')
  return { ...base.forwardAuth, uriHeader, methodHeader }
}

// Limits that hold under abuse (docs/security.md).
function checkTimeouts (raw: RawConfig, problems: Problems): void {
  const t = raw.server.timeouts
  // Node refuses a headers timeout longer than the request timeout.
  if (t.headers > t.request) problems.add(['server', 'timeouts', 'headers'], 'must not be longer than server.timeouts.request')
}

function origin (value: string, problems: Problems): string {
  const url = parseHttpUrl(value)
  if (url === null) {
    problems.add(['server', 'public_url'], 'must be an http(s) URL such as https://apps.example.com')
    return 'http://invalid'
  }
  if (url.pathname !== '/' || /[?#]/.test(value) || url.username !== '' || url.password !== '') {
    problems.add(['server', 'public_url'], 'must be an origin only (no path, query, fragment or user info), such as https://apps.example.com')
  }
  return url.origin
}

function buildProvider (raw: RawConfig, base: Base, problems: Problems, baseDir: string): ProviderConfig {
  const p = raw.provider
  const profile = profileFor(p.type)
  const allowInsecureIssuer = p.allow_insecure_issuer

  const issuer = p.issuer ?? profile.defaultIssuer ?? ''
  if (issuer === '') {
    problems.add(['provider', 'issuer'], `is required when provider.type is ${p.type}`)
  } else {
    const url = parseHttpUrl(issuer)
    if (url === null) problems.add(['provider', 'issuer'], 'must be an https URL')
    else if (/[?#]/.test(issuer) || url.username !== '' || url.password !== '') problems.add(['provider', 'issuer'], 'must not contain a query, fragment or user info')
    else if (url.protocol === 'http:' && !allowInsecureIssuer) problems.add(['provider', 'issuer'], 'must use https (set allow_insecure_issuer: true to allow http for local testing)')
  }

  if (p.client_secret === undefined) problems.add(['provider', 'client_secret'], 'is required (or client_secret_file)')

  const scopes = p.scopes
  if (!scopes.includes('openid')) problems.add(['provider', 'scopes'], 'must include openid')
  scopes.forEach((scope, i) => {
    if (/\s/.test(scope)) problems.add(['provider', 'scopes', i], 'must be a single scope (no spaces)')
  })

  let hostedDomain: string | null = null
  if (p.hosted_domain !== undefined) {
    hostedDomain = p.hosted_domain.toLowerCase()
    if (!profile.hostedDomain) problems.add(['provider', 'hosted_domain'], `does not apply when provider.type is ${p.type}`)
    else if (!isHostName(hostedDomain)) problems.add(['provider', 'hosted_domain'], 'must be a domain name such as example.com')
  }

  // Absent: the profile's default; "" (decoded to null): send none.
  const prompt = p.prompt === undefined ? profile.defaultPrompt ?? null : p.prompt
  if (prompt !== null && prompt.split(' ').some(value => !PROMPTS.includes(value))) {
    problems.add(['provider', 'prompt'], `must be "" or space-separated values from: ${PROMPTS.join(', ')}`)
  }

  return {
    ...base.provider,
    issuer,
    clientSecret: p.client_secret ?? '',
    hostedDomain,
    prompt,
    groups: buildGroups(raw, base, profile, problems, baseDir)
  }
}

// ---- provider.groups (Workspace groups) ----
function buildGroups (raw: RawConfig, base: Base, profile: ProviderProfile, problems: Problems, baseDir: string): GroupsConfig {
  const g = raw.provider.groups
  const path = ['provider', 'groups']
  const source = g.source
  if (source !== 'claim' && !profile.groupSources.includes(source)) {
    problems.add([...path, 'source'], `${source} is not offered when provider.type is ${raw.provider.type} (use claim)`)
  }
  const directory = source === 'admin_directory'
  let keyFile: string | null = null
  if (g.service_account_key_file !== undefined) {
    if (!directory) problems.add([...path, 'service_account_key_file'], 'only applies when source is admin_directory')
    else keyFile = readableFile(g.service_account_key_file, baseDir, [...path, 'service_account_key_file'], problems)
  } else if (directory) {
    problems.add([...path, 'service_account_key_file'], 'is required when source is admin_directory')
  }
  if (g.impersonate !== undefined && (!directory || !g.impersonate.includes('@'))) {
    problems.add([...path, 'impersonate'], directory ? 'must be the email address of a Workspace admin' : 'only applies when source is admin_directory')
  }
  let apiRoot: string | null = null
  if (g.api_root !== undefined) {
    const url = parseHttpUrl(g.api_root)
    if (url === null || /[?#]/.test(g.api_root) || url.username !== '' || url.password !== '') problems.add([...path, 'api_root'], 'must be an http(s) URL without query, fragment or user info')
    else apiRoot = g.api_root.replace(/\/+$/, '')
  }
  return {
    ...base.provider.groups,
    serviceAccountKeyFile: keyFile,
    impersonate: directory ? g.impersonate ?? null : null,
    apiRoot
  }
}
// ---- end provider.groups ----

function buildSession (raw: RawConfig, base: Base, server: ServerConfig, problems: Problems): SessionConfig {
  const s = raw.session
  const c = s.cookie
  const secure = c.secure
  const sameSite = c.same_site
  const path = ['session', 'cookie']

  let domain: string | null = null
  if (c.domain !== undefined) {
    domain = c.domain.toLowerCase().replace(/^\./, '')
    const host = new URL(server.publicUrl).hostname
    if (!isHostName(domain)) problems.add([...path, 'domain'], 'must be a domain name such as example.com')
    else if (host !== domain && !host.endsWith(`.${domain}`)) problems.add([...path, 'domain'], 'must be the host of server.public_url or a parent domain of it')
  }
  // A secure host-only cookie gets the __Host- prefix by default: the browser then refuses it from
  // a sibling subdomain or over plain HTTP, so nobody else can plant or shadow it. A configured
  // name is kept as written.
  const name = c.name ?? (secure && domain === null ? `__Host-${DEFAULTS.cookieName}` : DEFAULTS.cookieName)

  if (!isToken(name)) {
    problems.add([...path, 'name'], 'must be a cookie name token (letters, digits and !#$%&\'*+-.^_`|~)')
  } else if (/^__host-/i.test(name) && (!secure || domain !== null)) {
    problems.add([...path, 'name'], 'must not start with __Host- unless secure is true and domain is not set')
  } else if (/^__secure-/i.test(name) && !secure) {
    problems.add([...path, 'name'], 'must not start with __Secure- unless secure is true')
  }

  const secrets = c.secrets ?? []
  if (secrets.length === 0) problems.add([...path, 'secrets'], 'at least one secret is required (or secrets_file)')
  secrets.forEach((secret, i) => {
    if (Buffer.byteLength(secret, 'utf8') < 32) problems.add([...path, 'secrets', i], 'must be at least 32 bytes')
  })
  if (sameSite === 'none' && !secure) problems.add([...path, 'same_site'], 'none requires secure: true')

  if (s.idle_timeout > s.lifetime) problems.add(['session', 'idle_timeout'], 'must not be longer than session.lifetime')

  const store = s.store
  // Worker processes share nothing but the store: with the memory store each would hold its own sessions.
  if (server.workers > 1 && store === 'memory') problems.add(['server', 'workers'], 'must be 1 when session.store is memory (workers share sessions only through redis)')
  // An entry must not outlive a small part of the idle timeout (see session/cache.ts).
  if (s.cache.ttl > 60_000) problems.add(['session', 'cache', 'ttl'], 'must be at most 60s')

  return { ...base.session, cookie: { ...base.session.cookie, name, secrets: [...secrets], domain } }
}

function buildRedis (raw: RawConfig, base: Base, session: SessionConfig, problems: Problems): RedisConfig {
  const r = raw.redis
  const targets = [r.url, r.sentinel, r.cluster].filter(t => t !== undefined).length
  if (targets > 1) problems.add(['redis'], 'set only one of url, sentinel or cluster')
  else if (targets === 0 && session.store === 'redis') problems.add(['redis'], 'one of url, sentinel or cluster is required when session.store is redis')

  if (r.url !== undefined && !isRedisUrl(r.url)) problems.add(['redis', 'url'], 'must be a redis:// or rediss:// URL')
  r.sentinel?.nodes.forEach((node, i) => hostPort(node, ['redis', 'sentinel', 'nodes', i], problems))
  r.cluster?.nodes.forEach((node, i) => hostPort(node, ['redis', 'cluster', 'nodes', i], problems))
  return base.redis
}

function buildMetrics (base: Base, server: ServerConfig, problems: Problems): MetricsConfig {
  const { listen } = base.metrics
  if (listen !== null && listen.port !== 0 && listen.port === server.port && listen.host === server.host) {
    problems.add(['metrics', 'listen'], 'must differ from server.listen')
  }
  return base.metrics
}

/** `admin`: off by default; when on, a token file is required and the address is its own. */
function buildAdmin (raw: RawConfig, base: Base, server: ServerConfig, problems: Problems, baseDir: string): AdminConfig {
  const a = raw.admin
  const { listen } = base.admin
  if (listen !== null && listen.port !== 0 && listen.port === server.port && listen.host === server.host) {
    problems.add(['admin', 'listen'], 'must differ from server.listen')
  }
  if (listen !== null && a.token_file === undefined) problems.add(['admin', 'token_file'], 'is required when admin.listen is set')
  const tokenFile = a.token_file === undefined ? null : readableFile(a.token_file, baseDir, ['admin', 'token_file'], problems)
  return { ...base.admin, tokenFile }
}

function isRedisUrl (value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
  } catch {
    return false
  }
}
