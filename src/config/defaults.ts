/**
 * Every default of the config file, in the file's own terms (snake_case keys, durations as
 * written in YAML). This is the one place defaults live: the loader reads them from here and the
 * example file documents the same values.
 */
export const DEFAULTS = Object.freeze({
  server: Object.freeze({
    listen: '0.0.0.0:4180',
    auth_prefix: '/oauth2',
    trusted_proxies: Object.freeze([] as string[]),
    allowed_redirect_hosts: Object.freeze([] as string[]),
    shutdown_timeout: '10s',
    upstream_timeout: '30s',
    workers: 1,
    // Limits that hold under abuse (docs/security.md).
    timeouts: Object.freeze({
      headers: '10s',
      request: '5m',
      keep_alive: '72s',
      idle: '10m'
    }),
    rate_limit: Object.freeze({
      sign_in: 30,
      window: '1m',
      max_clients: 100_000
    }),
    pending_sign_ins: Object.freeze({
      per_client: 10,
      total: 10_000
    })
  }),
  /**
   * The session cookie's default name; with `secure: true` and no `domain` it takes the `__Host-`
   * prefix (see validate.ts), so it has no single default value under `session.cookie`.
   */
  cookieName: '_portcullis',
  /** Longest `rd` (landing path) a sign-in keeps; a longer one is replaced by `/`. */
  redirectMaxLength: 2048,
  provider: Object.freeze({
    scopes: Object.freeze(['openid', 'email', 'profile']),
    allow_insecure_issuer: false,
    groups_claim: 'groups',
    timeout: '10s',
    groups: Object.freeze({
      source: 'claim' as const,
      max_age: '1h',
      timeout: '10s',
      page_size: 200
    }),
    rp_initiated_logout: false
  }),
  session: Object.freeze({
    store: 'redis' as const,
    cookie: Object.freeze({
      secure: true,
      same_site: 'lax' as const
    }),
    lifetime: '7d',
    idle_timeout: '24h',
    refresh_before_expiry: '60s',
    login_timeout: '10m',
    cache: Object.freeze({
      enabled: true,
      ttl: '5s',
      max_entries: 10_000
    })
  }),
  redis: Object.freeze({
    key_prefix: 'portcullis:',
    connect_timeout: '2s',
    command_timeout: '1s'
  }),
  route: Object.freeze({
    public: false,
    api: false,
    refresh_on_upstream_401: false,
    strip_prefix: false
  }),
  identity: Object.freeze({
    headers: Object.freeze({
      user: 'X-Forwarded-User',
      email: 'X-Forwarded-Email',
      preferred_username: 'X-Forwarded-Preferred-Username',
      groups: 'X-Forwarded-Groups'
    }),
    pass_access_token: false,
    pass_id_token: false,
    assertion: Object.freeze({
      enabled: true,
      header: 'X-Portcullis-Assertion',
      ttl: '2m',
      rotate: '24h'
    })
  }),
  /** Upper bound on `identity.assertion.ttl`: a longer-lived assertion is a bearer token worth stealing. */
  assertionMaxTtl: '5m',
  /** Lower bound on `identity.assertion.rotate`: each new key is announced well before it signs. */
  assertionMinRotate: '1h',
  /** Where `/oauth2/auth` reads the original request: Traefik's and Caddy's names (nginx sets them too). */
  forward_auth: Object.freeze({
    uri_header: 'X-Forwarded-Uri',
    method_header: 'X-Forwarded-Method'
  }),
  bearer: Object.freeze({
    enabled: false,
    algorithms: Object.freeze(['RS256', 'ES256'] as string[]),
    clock_skew: '60s'
  }),
  /** Upper bound on `bearer.clock_skew`. */
  bearerMaxClockSkew: '5m',
  logging: Object.freeze({
    level: 'info' as const,
    format: 'json' as const
  }),
  metrics: Object.freeze({
    enabled: true,
    /** Whether /metrics is served on the public listener (otherwise only on `metrics.listen`). */
    public: false
  }),
  // --- the gateway's own pages ---
  pages: Object.freeze({
    sign_in: 'auto' as const,
    brand: Object.freeze({
      name: 'Portcullis',
      accent: '#1f5fbf'
    })
  }),
  /** Largest `pages.brand.logo_file` (it is inlined into every page). */
  logoMaxBytes: 64 * 1024
})
