/**
 * A provider profile: everything that makes one identity provider differ from plain OpenID
 * Connect, in one object, so the flows, the claim checks, the config and bearer verification ask
 * the profile instead of testing `provider.type`. Adding a provider is a new profile file and a
 * line in `profiles`. Profiles are plain data and pure functions (no network, no library state),
 * so the config loader can use them too.
 */
import type { ProviderConfig } from '../types.js'
import { googleProfile } from './google.js'
import { oidcProfile } from './oidc.js'

/** Where the groups of a signed-in user come from. */
export type GroupsSource = 'claim' | 'cloud_identity' | 'admin_directory'

export interface ProviderProfile {
  /** Issuer used when the config gives none; null: `provider.issuer` is required. */
  readonly defaultIssuer: string | null
  /** `prompt` sent at sign-in when the config gives none; null: no prompt. */
  readonly defaultPrompt: string | null
  /** Whether `provider.hosted_domain` (the `hd` parameter and claim) means anything here. */
  readonly hostedDomain: boolean
  /** Whether the provider commonly puts groups in a claim: then the groups claim is always read. */
  readonly groupsClaimCommon: boolean
  /** Group sources this provider offers besides `claim`. */
  readonly groupSources: readonly GroupsSource[]
  /**
   * Adds the provider's way of asking for offline access (and any other authorization request
   * parameter) to `params` and `scopes`. `offlineAccessScope`: the provider lists `offline_access`.
   */
  authorizationRequest (config: ProviderConfig, scopes: Set<string>, params: Record<string, string>, offlineAccessScope: boolean): void
  /** Why the provider's claims are refused for this config (e.g. another hosted domain), or null. */
  refuseClaims (config: ProviderConfig, claims: Readonly<Record<string, unknown>>): string | null
  /**
   * `iss` values a bearer ID token of this provider may carry, besides the configured issuer
   * (Google signs with both `https://accounts.google.com` and `accounts.google.com`).
   */
  issuerAliases (config: ProviderConfig): readonly string[]
}

const profiles = { google: googleProfile, oidc: oidcProfile } as const satisfies Record<string, ProviderProfile>

export type ProfileName = keyof typeof profiles

/** The profile of a provider type. */
export function profileFor (type: ProfileName): ProviderProfile {
  return profiles[type]
}
