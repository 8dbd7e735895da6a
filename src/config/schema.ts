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
    refresh_on_upstream_401: Type.Optional(Type.Boolean())
  }))),
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
  logging: Type.Optional(Obj({
    level: Type.Optional(OneOf(logLevels)),
    format: Type.Optional(OneOf(logFormats))
  })),
  metrics: Type.Optional(Obj({
    enabled: Type.Optional(Type.Boolean()),
    listen: Type.Optional(Str())
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
