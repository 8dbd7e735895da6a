/**
 * Writes a resolved {@link Config} back in the file's own terms (snake_case keys, durations such as
 * `7d`, `host:port`), defaults included. `check` prints this, so what an operator reads is a
 * complete config file they could load as it is (once secrets are filled back in).
 */
import { formatDuration } from './duration.js'
import { formatHostPort } from './syntax.js'
import type { AccessRule, Config, RouteConfig } from './types.js'

/** The effective config as a plain object in file shape; keys that are unset (null) are left out. */
export function toFileShape (config: Config): Record<string, unknown> {
  const { server, provider, session, redis, identity, metrics } = config
  return prune({
    server: {
      listen: formatHostPort(server.host, server.port),
      public_url: server.publicUrl,
      auth_prefix: server.authPrefix,
      trusted_proxies: server.trustedProxies,
      allowed_redirect_hosts: server.allowedRedirectHosts,
      shutdown_timeout: formatDuration(server.shutdownTimeoutMs),
      upstream_timeout: formatDuration(server.upstreamTimeoutMs),
      workers: server.workers,
      tls: server.tls === null ? null : { cert_file: server.tls.certFile, key_file: server.tls.keyFile },
      timeouts: {
        headers: formatDuration(server.timeouts.headersMs),
        request: formatDuration(server.timeouts.requestMs),
        keep_alive: formatDuration(server.timeouts.keepAliveMs),
        idle: formatDuration(server.timeouts.idleMs)
      },
      rate_limit: { sign_in: server.rateLimit.signIn, window: formatDuration(server.rateLimit.windowMs), max_clients: server.rateLimit.maxClients },
      pending_sign_ins: { per_client: server.pendingSignIns.perClient, total: server.pendingSignIns.total }
    },
    provider: {
      type: provider.type,
      issuer: provider.issuer,
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
      scopes: provider.scopes,
      hosted_domain: provider.hostedDomain,
      allow_insecure_issuer: provider.allowInsecureIssuer,
      // "" is how the file says "send no prompt", which differs from leaving the key out for google.
      prompt: provider.prompt ?? '',
      groups_claim: provider.groupsClaim,
      timeout: formatDuration(provider.timeoutMs),
      groups: provider.groups.source === 'claim'
        ? { source: 'claim' }
        : {
            source: provider.groups.source,
            max_age: formatDuration(provider.groups.maxAgeMs),
            timeout: formatDuration(provider.groups.timeoutMs),
            page_size: provider.groups.pageSize,
            service_account_key_file: provider.groups.serviceAccountKeyFile,
            impersonate: provider.groups.impersonate,
            api_root: provider.groups.apiRoot
          },
      rp_initiated_logout: provider.rpInitiatedLogout
    },
    session: {
      store: session.store,
      cookie: {
        name: session.cookie.name,
        secrets: session.cookie.secrets,
        secure: session.cookie.secure,
        same_site: session.cookie.sameSite,
        domain: session.cookie.domain
      },
      lifetime: formatDuration(session.lifetimeMs),
      idle_timeout: formatDuration(session.idleTimeoutMs),
      refresh_before_expiry: formatDuration(session.refreshBeforeExpiryMs),
      login_timeout: formatDuration(session.loginTimeoutMs),
      cache: { enabled: session.cache.enabled, ttl: formatDuration(session.cache.ttlMs), max_entries: session.cache.maxEntries }
    },
    redis: {
      url: redis.url,
      key_prefix: redis.keyPrefix,
      password: redis.password,
      connect_timeout: formatDuration(redis.connectTimeoutMs),
      command_timeout: formatDuration(redis.commandTimeoutMs),
      sentinel: redis.sentinel,
      cluster: redis.cluster
    },
    access: accessRule(config.access),
    routes: config.routes.map(route),
    identity: {
      headers: {
        user: identity.headers.user,
        email: identity.headers.email,
        preferred_username: identity.headers.preferredUsername,
        groups: identity.headers.groups
      },
      pass_access_token: identity.passAccessToken,
      pass_id_token: identity.passIdToken,
      assertion: {
        enabled: identity.assertion.enabled,
        header: identity.assertion.header,
        key_file: identity.assertion.keyFile,
        ttl: formatDuration(identity.assertion.ttlMs),
        rotate: formatDuration(identity.assertion.rotateMs)
      }
    },
    forward_auth: { uri_header: config.forwardAuth.uriHeader, method_header: config.forwardAuth.methodHeader },
    logging: { level: config.logging.level, format: config.logging.format },
    metrics: {
      enabled: metrics.enabled,
      listen: metrics.listen === null ? null : formatHostPort(metrics.listen.host, metrics.listen.port),
      public: metrics.public
    },
    bearer: {
      enabled: config.bearer.enabled,
      audiences: config.bearer.audiences,
      algorithms: config.bearer.algorithms,
      clock_skew: formatDuration(config.bearer.clockSkewMs)
    },
    admin: {
      listen: config.admin.listen === null ? null : formatHostPort(config.admin.listen.host, config.admin.listen.port),
      token_file: config.admin.tokenFile
    },
    pages: {
      sign_in: config.pages.signIn,
      brand: {
        name: config.pages.brand.name,
        logo_file: config.pages.brand.logoFile,
        logo_url: config.pages.brand.logoFile === null ? config.pages.brand.logo : null,
        accent: config.pages.brand.accent,
        support: config.pages.brand.support
      }
    }
  }) as Record<string, unknown>
}

function accessRule (rule: AccessRule): Record<string, unknown> {
  return { emails: rule.emails, email_domains: rule.emailDomains, groups: rule.groups, claims: rule.claims }
}

function route (r: RouteConfig): Record<string, unknown> {
  return {
    path: r.path,
    upstream: r.upstream,
    public: r.public,
    api: r.api,
    allow: r.allow === null ? null : accessRule(r.allow),
    methods: r.methods,
    refresh_on_upstream_401: r.refreshOnUpstream401,
    strip_prefix: r.stripPrefix,
    bearer: r.bearer
  }
}

/** Deep copy without null-valued keys (the file has no null values; absent means "not set"). */
function prune (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(prune)
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [key, child] of Object.entries(value)) if (child !== null) out[key] = prune(child)
    return out
  }
  return value
}
