/**
 * The resolved, validated and frozen configuration every module receives.
 *
 * The YAML file is validated against `schema.ts`; `load.ts` turns it into this shape:
 * durations become milliseconds, `listen` is split into host and port, defaults are filled and
 * `*_file` secrets are read. Nothing below `config/` ever sees the raw file.
 */

export type ProviderType = 'google' | 'oidc'
export type SameSite = 'lax' | 'strict' | 'none'
export type StoreKind = 'redis' | 'memory'

export interface ServerConfig {
  /** Host part of `listen` (IPv6 without brackets). */
  readonly host: string
  readonly port: number
  /** Origin users reach, without a trailing slash, e.g. `https://apps.example.com`. */
  readonly publicUrl: string
  /** Path prefix of the gateway's own endpoints, e.g. `/oauth2` (no trailing slash). */
  readonly authPrefix: string
  /** CIDRs whose X-Forwarded-* headers are believed. */
  readonly trustedProxies: readonly string[]
  /** Hosts (exact, or `.example.com` for subdomains) that redirects may leave the public origin for. */
  readonly allowedRedirectHosts: readonly string[]
  /** Upper bound on draining in-flight requests at shutdown. */
  readonly shutdownTimeoutMs: number
  /** Upstream connect + headers timeout. */
  readonly upstreamTimeoutMs: number
  /** Worker processes sharing the listener (node:cluster); 1 = serve in the main process. */
  readonly workers: number
  readonly tls: { readonly certFile: string, readonly keyFile: string } | null
  /** Limits that hold under abuse (docs/security.md). */
  readonly timeouts: ServerTimeouts
  readonly rateLimit: RateLimitConfig
  readonly pendingSignIns: PendingSignInsConfig
}

export interface ServerTimeouts {
  /** A request's headers must arrive within this (from the connection's first byte wait on). */
  readonly headersMs: number
  /** A whole request (headers and body) must arrive within this. */
  readonly requestMs: number
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number
  /** A connection with no bytes in either direction for this long is closed. */
  readonly idleMs: number
}

export interface RateLimitConfig {
  /** Sign-in starts and callbacks per client address per window; 0 = no limit. */
  readonly signIn: number
  readonly windowMs: number
  /** Client addresses counted at once per process (bounds the limiter's memory). */
  readonly maxClients: number
}

export interface PendingSignInsConfig {
  /** Started, unfinished sign-ins kept per client address (older ones are dropped first). */
  readonly perClient: number
  /** Started, unfinished sign-ins kept per process (older ones are dropped first). */
  readonly total: number
}

export interface ProviderConfig {
  readonly type: ProviderType
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  readonly scopes: readonly string[]
  /** Google only: sent as `hd` and required to match the `hd` claim. */
  readonly hostedDomain: string | null
  readonly allowInsecureIssuer: boolean
  /** `prompt` sent at sign-in; google defaults to `consent`, oidc to none (null). */
  readonly prompt: string | null
  /** Claim of the id token / userinfo that holds the user's groups. */
  readonly groupsClaim: string
  /** Timeout for each request to the provider. */
  readonly timeoutMs: number
  /**
   * Sign-out also ends the provider's session through its `end_session_endpoint` (RP-Initiated
   * Logout 1.0); the id token is kept in the session for `id_token_hint`.
   */
  readonly rpInitiatedLogout: boolean
  /** Where the user's groups come from (Workspace groups). */
  readonly groups: GroupsConfig
}

export type GroupsSourceName = 'claim' | 'cloud_identity' | 'admin_directory'

export interface GroupsConfig {
  /** `claim`: `groups_claim` of the id token/userinfo; the others: a Google Workspace API. */
  readonly source: GroupsSourceName
  /** Longest time fetched groups are believed without a successful fetch. */
  readonly maxAgeMs: number
  /** Bound on one whole fetch (every page, backoff included). */
  readonly timeoutMs: number
  /** Groups asked for per page. */
  readonly pageSize: number
  /** admin_directory: the service account key file (JSON, as Google issues it). */
  readonly serviceAccountKeyFile: string | null
  /** admin_directory: the Workspace admin the service account acts as (domain-wide delegation). */
  readonly impersonate: string | null
  /** Root URL of the groups API instead of Google's (a test double); null: Google's. */
  readonly apiRoot: string | null
}

export interface BearerConfig {
  /** Every non-public route accepts bearer ID tokens unless it says `bearer: false`. */
  readonly enabled: boolean
  /** Accepted `aud` values. */
  readonly audiences: readonly string[]
  readonly algorithms: readonly string[]
  readonly clockSkewMs: number
}

export interface CookieConfig {
  readonly name: string
  /** First one signs, all verify. Each at least 32 bytes. */
  readonly secrets: readonly string[]
  readonly secure: boolean
  readonly sameSite: SameSite
  /** Cookie Domain attribute, or null for a host-only cookie. */
  readonly domain: string | null
}

export interface SessionConfig {
  readonly store: StoreKind
  readonly cookie: CookieConfig
  readonly lifetimeMs: number
  readonly idleTimeoutMs: number
  readonly refreshBeforeExpiryMs: number
  /** How long a started sign-in may take before its pending state expires. */
  readonly loginTimeoutMs: number
  /** The in-process cache of decrypted sessions (see session/cache.ts). */
  readonly cache: SessionCacheConfig
}

export interface SessionCacheConfig {
  readonly enabled: boolean
  /** Longest time an entry is served without reading the store again. */
  readonly ttlMs: number
  /** Upper bound on cached sessions per process (least recently used are dropped first). */
  readonly maxEntries: number
}

export interface RedisConfig {
  readonly url: string | null
  readonly keyPrefix: string
  readonly sentinel: { readonly name: string, readonly nodes: readonly string[], readonly password: string | null } | null
  readonly cluster: { readonly nodes: readonly string[] } | null
  readonly password: string | null
  readonly connectTimeoutMs: number
  readonly commandTimeoutMs: number
}

export interface AccessRule {
  readonly emails: readonly string[]
  readonly emailDomains: readonly string[]
  readonly groups: readonly string[]
  /** Claim name -> accepted values (any match). */
  readonly claims: Readonly<Record<string, readonly string[]>>
}

export interface RouteConfig {
  /** Path prefix, normalised, always starting with `/`. */
  readonly path: string
  /** Upstream origin plus optional base path, no trailing slash, e.g. `http://127.0.0.1:8080`. */
  readonly upstream: string
  readonly public: boolean
  readonly api: boolean
  /** Narrows access for this route; null = the global rules only. */
  readonly allow: AccessRule | null
  /** Allowed methods (upper case); null = all. */
  readonly methods: readonly string[] | null
  readonly refreshOnUpstream401: boolean
  /** Remove the route's path prefix before appending the request path to the upstream's base path. */
  readonly stripPrefix: boolean
  /** Accepts `Authorization: Bearer <ID token>` instead of a session (route's own or `bearer.enabled`). */
  readonly bearer: boolean
}

export interface IdentityConfig {
  readonly headers: {
    readonly user: string
    readonly email: string
    readonly preferredUsername: string
    readonly groups: string
  }
  readonly passAccessToken: boolean
  readonly passIdToken: boolean
  readonly assertion: {
    readonly enabled: boolean
    readonly header: string
    /** PEM file with an EC P-256 private key, or null to generate and share through the store. */
    readonly keyFile: string | null
    readonly ttlMs: number
    /** How often a generated key is replaced (pre-published first); unused with `keyFile`. */
    readonly rotateMs: number
  }
}

/** Where `/oauth2/auth` reads the original request a trusted proxy asks about. */
export interface ForwardAuthConfig {
  /** Header carrying the original request-target (`/path?query`), lower case. */
  readonly uriHeader: string
  /** Header carrying the original method, lower case. */
  readonly methodHeader: string
}

export interface LoggingConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly format: 'json' | 'pretty'
}

export interface MetricsConfig {
  readonly enabled: boolean
  /** Separate `host:port` for /metrics, or null for none. */
  readonly listen: { readonly host: string, readonly port: number } | null
  /** Whether /metrics is also served on the public listener. */
  readonly public: boolean
}

// --- the gateway's own pages ---
export interface PagesConfig {
  /** `auto`: a sign-in goes straight to the provider; `button`: a page with a sign-in button first. */
  readonly signIn: 'auto' | 'button'
  readonly brand: BrandConfig
}

export interface BrandConfig {
  /** Product or company name shown on every page. */
  readonly name: string
  /** The logo as a `data:` URL (from `logo_file`), an https URL (`logo_url`), or null. */
  readonly logo: string | null
  /** The file the logo was read from (absolute), or null. */
  readonly logoFile: string | null
  /** Accent colour `#rrggbb` (buttons, links, focus ring). */
  readonly accent: string
  /** Who to contact for help: an email address, an https URL, or plain text; null for none. */
  readonly support: string | null
}

export interface Config {
  readonly server: ServerConfig
  readonly provider: ProviderConfig
  readonly session: SessionConfig
  readonly redis: RedisConfig
  readonly access: AccessRule
  readonly routes: readonly RouteConfig[]
  readonly identity: IdentityConfig
  readonly forwardAuth: ForwardAuthConfig
  readonly logging: LoggingConfig
  readonly metrics: MetricsConfig
  readonly bearer: BearerConfig
  readonly admin: AdminConfig
  readonly pages: PagesConfig
}

/** The admin listener (session listing and revocation, docs/sessions.md). */
export interface AdminConfig {
  /** `host:port` of the admin listener, or null: no admin endpoint (the default). */
  readonly listen: { readonly host: string, readonly port: number } | null
  /** Path of the file holding the bearer token (null when the listener is off). */
  readonly tokenFile: string | null
}
