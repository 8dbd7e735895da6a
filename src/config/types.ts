/**
 * The resolved, validated and frozen configuration every module receives: the schema's decoded
 * type (`resolved.ts`: camelCase names, durations in milliseconds with an `Ms` suffix, `listen`
 * split into `host` and `port`, `null` for an unset optional key), with what the cross-field
 * rules settle (`validate*.ts`): the issuer and prompt a provider profile supplies, the cookie
 * name, the bearer audiences, each route's bearer flag, the inlined logo. Each key's meaning is
 * its description in `schema.ts`. Nothing below `config/` ever sees the raw file.
 */
import type { Resolved } from './resolved.js'
import type { ConfigSchema } from './schema.js'

type FromSchema = Resolved<typeof ConfigSchema>

/** `T` with the members of `U` replacing its own (what a cross-field rule settles). */
type Settle<T, U> = { readonly [K in keyof (Omit<T, keyof U> & U)]: (Omit<T, keyof U> & U)[K] }

export type ServerConfig = FromSchema['server']
export type ServerTimeouts = ServerConfig['timeouts']
export type RateLimitConfig = ServerConfig['rateLimit']
export type PendingSignInsConfig = ServerConfig['pendingSignIns']

/** The issuer and the client secret are always settled (a profile's default issuer, or a problem). */
export type ProviderConfig = Settle<FromSchema['provider'], { readonly issuer: string, readonly clientSecret: string }>
export type ProviderType = ProviderConfig['type']
export type GroupsConfig = ProviderConfig['groups']
export type GroupsSourceName = GroupsConfig['source']

/** The cookie's name is settled by `secure` and `domain` (`__Host-` prefix); secrets are required. */
export type CookieConfig = Settle<FromSchema['session']['cookie'], { readonly name: string, readonly secrets: readonly string[] }>
export type SameSite = CookieConfig['sameSite']
export type SessionConfig = Settle<FromSchema['session'], { readonly cookie: CookieConfig }>
export type StoreKind = SessionConfig['store']
export type SessionCacheConfig = SessionConfig['cache']

export type RedisConfig = FromSchema['redis']
export type AccessRule = FromSchema['access']

/** A route's bearer flag is settled by `bearer.enabled` and `public`. */
export type RouteConfig = Settle<FromSchema['routes'][number], { readonly bearer: boolean }>

export type IdentityConfig = FromSchema['identity']
export type ForwardAuthConfig = FromSchema['forwardAuth']
export type LoggingConfig = FromSchema['logging']
export type MetricsConfig = FromSchema['metrics']
export type AdminConfig = FromSchema['admin']

/** The audiences default to the client id. */
export type BearerConfig = Settle<FromSchema['bearer'], { readonly audiences: readonly string[] }>

/** The logo is settled into one value: a `data:` URL read from `logo_file`, or the https `logo_url`. */
export type BrandConfig = Settle<Omit<FromSchema['pages']['brand'], 'logoUrl'>, { readonly logo: string | null }>
export type PagesConfig = Settle<FromSchema['pages'], { readonly brand: BrandConfig }>

export type Config = Settle<FromSchema, {
  readonly provider: ProviderConfig
  readonly session: SessionConfig
  readonly routes: readonly RouteConfig[]
  readonly bearer: BearerConfig
  readonly pages: PagesConfig
}>
