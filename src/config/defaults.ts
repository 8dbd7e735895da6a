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
    workers: 1
  }),
  provider: Object.freeze({
    scopes: Object.freeze(['openid', 'email', 'profile']),
    allow_insecure_issuer: false,
    groups_claim: 'groups',
    timeout: '10s',
    rp_initiated_logout: false
  }),
  /** Applied only when `provider.type` is `google`. */
  google: Object.freeze({
    issuer: 'https://accounts.google.com',
    prompt: 'consent'
  }),
  session: Object.freeze({
    store: 'redis' as const,
    cookie: Object.freeze({
      name: '_portcullis',
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
    refresh_on_upstream_401: false
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
  logging: Object.freeze({
    level: 'info' as const,
    format: 'json' as const
  }),
  metrics: Object.freeze({
    enabled: true
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
