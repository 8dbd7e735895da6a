/**
 * The schema of the YAML config file, checked with Ajv in strict mode. It fixes the shape only
 * (keys, types, enums); meaning (URLs, durations, CIDRs, cross-key rules) is checked afterwards in
 * `validate.ts`, where a message can say what is wrong in the operator's terms.
 */
import { Type } from '@sinclair/typebox'
import type { Static, TSchema, TProperties } from '@sinclair/typebox'

const closed = { additionalProperties: false } as const

/** A closed object: unknown keys are errors at every depth. */
function Obj<T extends TProperties> (properties: T) {
  return Type.Object(properties, closed)
}

/** A string enum as a plain `enum` keyword, so a wrong value yields one error instead of one per branch. */
function OneOf<const T extends readonly string[]> (values: T) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] })
}

/** A non-empty string. */
const Str = (): ReturnType<typeof Type.String> => Type.String({ minLength: 1 })

/** `7d`, `24h`, `30m`, `60s`, `500ms` or a whole number of seconds; parsed by `duration.ts`. */
const Duration = (): TSchema & { static: string | number } => Type.Unsafe<string | number>({ type: ['string', 'integer'] })

const StrList = () => Type.Array(Str())

const AccessRule = () => Obj({
  emails: Type.Optional(StrList()),
  email_domains: Type.Optional(StrList()),
  groups: Type.Optional(StrList()),
  claims: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StrList(), closed))
})

export const providerTypes = ['google', 'oidc'] as const
export const groupSources = ['claim', 'cloud_identity', 'admin_directory'] as const
/** Asymmetric signature algorithms only: never `none`, never HMAC (a public key must not verify as a secret). */
export const bearerAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export const sameSiteValues = ['lax', 'strict', 'none'] as const
export const storeKinds = ['redis', 'memory'] as const
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const logFormats = ['json', 'pretty'] as const
export const signInModes = ['auto', 'button'] as const

export const ConfigSchema = Obj({
  server: Obj({
    listen: Type.Optional(Str()),
    public_url: Str(),
    auth_prefix: Type.Optional(Str()),
    trusted_proxies: Type.Optional(StrList()),
    allowed_redirect_hosts: Type.Optional(StrList()),
    shutdown_timeout: Type.Optional(Duration()),
    upstream_timeout: Type.Optional(Duration()),
    workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    tls: Type.Optional(Obj({
      cert_file: Str(),
      key_file: Str()
    })),
    // Limits that hold under abuse (docs/security.md).
    timeouts: Type.Optional(Obj({
      headers: Type.Optional(Duration()),
      request: Type.Optional(Duration()),
      keep_alive: Type.Optional(Duration()),
      idle: Type.Optional(Duration())
    })),
    rate_limit: Type.Optional(Obj({
      sign_in: Type.Optional(Type.Integer({ minimum: 0 })),
      window: Type.Optional(Duration()),
      max_clients: Type.Optional(Type.Integer({ minimum: 1 }))
    })),
    pending_sign_ins: Type.Optional(Obj({
      per_client: Type.Optional(Type.Integer({ minimum: 1 })),
      total: Type.Optional(Type.Integer({ minimum: 1 }))
    }))
  }),
  provider: Obj({
    type: OneOf(providerTypes),
    issuer: Type.Optional(Str()),
    client_id: Str(),
    client_secret: Type.Optional(Str()),
    scopes: Type.Optional(StrList()),
    hosted_domain: Type.Optional(Str()),
    allow_insecure_issuer: Type.Optional(Type.Boolean()),
    prompt: Type.Optional(Type.String()),
    groups_claim: Type.Optional(Str()),
    timeout: Type.Optional(Duration()),
    // Workspace groups (issue 13): where the user's groups come from and how long they hold.
    groups: Type.Optional(Obj({
      source: Type.Optional(OneOf(groupSources)),
      max_age: Type.Optional(Duration()),
      timeout: Type.Optional(Duration()),
      page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      service_account_key_file: Type.Optional(Str()),
      impersonate: Type.Optional(Str()),
      api_root: Type.Optional(Str())
    })),
    // --- sign-out at the provider (RP-Initiated Logout 1.0) ---
    rp_initiated_logout: Type.Optional(Type.Boolean())
  }),
  session: Type.Optional(Obj({
    store: Type.Optional(OneOf(storeKinds)),
    cookie: Type.Optional(Obj({
      name: Type.Optional(Str()),
      secrets: Type.Optional(Type.Array(Type.String())),
      secure: Type.Optional(Type.Boolean()),
      same_site: Type.Optional(OneOf(sameSiteValues)),
      domain: Type.Optional(Str())
    })),
    lifetime: Type.Optional(Duration()),
    idle_timeout: Type.Optional(Duration()),
    refresh_before_expiry: Type.Optional(Duration()),
    login_timeout: Type.Optional(Duration()),
    cache: Type.Optional(Obj({
      enabled: Type.Optional(Type.Boolean()),
      ttl: Type.Optional(Duration()),
      max_entries: Type.Optional(Type.Integer({ minimum: 1 }))
    }))
  })),
  redis: Type.Optional(Obj({
    url: Type.Optional(Str()),
    key_prefix: Type.Optional(Type.String()),
    password: Type.Optional(Str()),
    connect_timeout: Type.Optional(Duration()),
    command_timeout: Type.Optional(Duration()),
    sentinel: Type.Optional(Obj({
      name: Str(),
      nodes: Type.Array(Str(), { minItems: 1 }),
      password: Type.Optional(Str())
    })),
    cluster: Type.Optional(Obj({
      nodes: Type.Array(Str(), { minItems: 1 })
    }))
  })),
  access: Type.Optional(AccessRule()),
  routes: Type.Optional(Type.Array(Obj({
    path: Str(),
    upstream: Str(),
    public: Type.Optional(Type.Boolean()),
    api: Type.Optional(Type.Boolean()),
    allow: Type.Optional(AccessRule()),
    methods: Type.Optional(Type.Array(Str(), { minItems: 1 })),
    refresh_on_upstream_401: Type.Optional(Type.Boolean()),
    // Per-route path mapping (docs/operations.md, "Route paths").
    strip_prefix: Type.Optional(Type.Boolean()),
    bearer: Type.Optional(Type.Boolean())
  }))),
  // Bearer ID tokens for machine callers (issue 13).
  bearer: Type.Optional(Obj({
    enabled: Type.Optional(Type.Boolean()),
    audiences: Type.Optional(StrList()),
    algorithms: Type.Optional(Type.Array(OneOf(bearerAlgorithms), { minItems: 1 })),
    clock_skew: Type.Optional(Duration())
  })),
  identity: Type.Optional(Obj({
    headers: Type.Optional(Obj({
      user: Type.Optional(Str()),
      email: Type.Optional(Str()),
      preferred_username: Type.Optional(Str()),
      groups: Type.Optional(Str())
    })),
    pass_access_token: Type.Optional(Type.Boolean()),
    pass_id_token: Type.Optional(Type.Boolean()),
    assertion: Type.Optional(Obj({
      enabled: Type.Optional(Type.Boolean()),
      header: Type.Optional(Str()),
      key_file: Type.Optional(Str()),
      ttl: Type.Optional(Duration()),
      rotate: Type.Optional(Duration())
    }))
  })),
  // forward-auth: where /oauth2/auth reads the original request
  forward_auth: Type.Optional(Obj({
    uri_header: Type.Optional(Str()),
    method_header: Type.Optional(Str())
  })),
  logging: Type.Optional(Obj({
    level: Type.Optional(OneOf(logLevels)),
    format: Type.Optional(OneOf(logFormats))
  })),
  metrics: Type.Optional(Obj({
    enabled: Type.Optional(Type.Boolean()),
    listen: Type.Optional(Str()),
    public: Type.Optional(Type.Boolean())
  })),
  // The admin listener (session listing and revocation): off unless `listen` is set.
  admin: Type.Optional(Obj({
    listen: Type.Optional(Str()),
    token_file: Type.Optional(Str())
  })),
  // --- the gateway's own pages: sign-in mode and branding ---
  pages: Type.Optional(Obj({
    sign_in: Type.Optional(OneOf(signInModes)),
    brand: Type.Optional(Obj({
      name: Type.Optional(Str()),
      logo_file: Type.Optional(Str()),
      logo_url: Type.Optional(Str()),
      accent: Type.Optional(Str()),
      support: Type.Optional(Str())
    }))
  }))
})

/** The config file as written, once it has passed the schema. */
export type RawConfig = Static<typeof ConfigSchema>
export type RawAccessRule = NonNullable<RawConfig['access']>
export type RawRoute = NonNullable<RawConfig['routes']>[number]
